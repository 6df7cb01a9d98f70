"""Stock back to the store: the target's sellable quantity of every mapped product, minus the store's safety buffer,
set in the store after each shipment and on a timer.

An older reading never overwrites a newer one: each store keeps the time of the last reading it applied, and a
reading taken before it is dropped. Products the store does not manage stock for are skipped and listed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from shared import telemetry
from shared.bootstrap import Services
from shared.channels.store_api import store_api
from shared.domain.rules.mapping import PRODUCT_PREFIX
from shared.errors import PermanentError, RetryableError
from shared.handlers.common import log
from shared.ports import ReportsStock, StockChange, StockItem, StoreApi
from shared.stores import StoreSettings


@dataclass(frozen=True)
class StockReading:
    """What the target said, and when: item code → sellable quantity."""

    read_at: datetime
    quantities: Mapping[str, Decimal]


@dataclass
class StockSyncReport:
    store_id: str
    read_at: str = ""
    # why nothing was done: "no_api", "target_keeps_no_stock", "no_stock_reported", "older_reading", "disabled"
    skipped: str = ""
    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    not_managed: list[str] = field(default_factory=list)  # the store does not keep stock for these SKUs
    not_in_store: list[str] = field(default_factory=list)
    not_in_target: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # changed in the store twice while we wrote; next run
    refused: dict[str, str] = field(default_factory=dict)
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def reading_mark(store_id: str) -> str:
    return f"stock-reading:{store_id}"


def report_mark(store_id: str) -> str:
    return f"stock-sync:{store_id}"


def store_skus(sku_map: Mapping[str, str], only: Iterable[str] | None = None) -> dict[str, str]:
    """Store SKU → item code. A map key is "SKU" or "SKU:variant id"; both name the same store SKU. A
    "product:<id>" key names a product without an SKU, whose stock cannot be read or set by SKU."""
    wanted = set(only) if only is not None else None
    found: dict[str, str] = {}
    for key, code in sorted(sku_map.items()):
        if key.startswith(PRODUCT_PREFIX):
            continue
        sku = key.partition(":")[0].strip()
        if sku and code and (wanted is None or sku in wanted):
            found.setdefault(sku, code)
    return found


def sellable_for_store(quantity: Decimal, buffer: int) -> int:
    """Whole units the store may sell: the target's quantity rounded down, less the buffer, never below zero."""
    return max(int(quantity.to_integral_value(rounding=ROUND_FLOOR)) - buffer, 0)


def sync_store_stock(
    services: Services, settings: StoreSettings, skus: Iterable[str] | None = None, api: StoreApi | None = None
) -> StockSyncReport:
    """Read the target's stock of the store's mapped products (or only `skus`) and set it in the store."""
    report = StockSyncReport(settings.store_id)
    api = api or store_api(settings)
    if not settings.stock_sync.enabled or not settings.outgoing_writes:
        report.skipped = "disabled"
        return report
    if not api.can_read_orders():
        report.skipped = "no_api"
        return report
    target = services.target(settings)
    if not isinstance(target, ReportsStock):
        report.skipped = "target_keeps_no_stock"
        return report
    mapped = store_skus(services.sku_map(settings.store_id), skus)
    read_at = services.clock()
    reading = StockReading(read_at, target.sellable_stock(sorted(set(mapped.values()))))
    if not reading.quantities:  # e.g. the UBL target before its first stock table upload: nothing to say
        report.skipped = "no_stock_reported"
        return report
    return apply_reading(services, settings, api, mapped, reading)


def apply_reading(
    services: Services, settings: StoreSettings, api: StoreApi, mapped: Mapping[str, str], reading: StockReading
) -> StockSyncReport:
    """Set the store's stock to the reading, unless a newer reading was applied already."""
    report = StockSyncReport(settings.store_id, read_at=reading.read_at.isoformat())
    if _older_than_applied(services, settings.store_id, reading.read_at):
        report.skipped = "older_reading"
        log.info("stock store=%s dropped a reading older than the one applied", settings.store_id)
        return report
    report.not_in_target = sorted(sku for sku, code in mapped.items() if code not in reading.quantities)
    desired = {
        sku: sellable_for_store(reading.quantities[code], settings.stock_sync.safety_buffer)
        for sku, code in mapped.items()
        if code in reading.quantities
    }

    def still_newest() -> bool:
        # Checked again just before each write: another run may have applied a newer reading while this one read.
        return not _older_than_applied(services, settings.store_id, reading.read_at)

    try:
        _write(api, desired, report, still_newest)
        if report.conflicts:  # a sale in between (Shopify compareQuantity): read again and write once more
            again = {sku: desired[sku] for sku in report.conflicts}
            report.conflicts = []
            _write(api, again, report, still_newest)
    except (RetryableError, PermanentError) as error:
        permanent = isinstance(error, PermanentError)
        report.error = error.code if isinstance(error, PermanentError) else "store_api_unavailable"
        log.warning("stock store=%s store API failed: %s", settings.store_id, report.error)
        telemetry.record_target_call("store_api", "permanent" if permanent else "retryable", settings.store_id)
    else:
        if not report.skipped:
            services.state.set_watermark(reading_mark(settings.store_id), reading.read_at.isoformat())
    services.state.set_watermark(report_mark(settings.store_id), json.dumps(report.as_dict()))
    log.info(
        "stock store=%s written=%d unchanged=%d not_managed=%d",
        settings.store_id,
        len(report.written),
        report.unchanged,
        len(report.not_managed),
    )
    return report


def _older_than_applied(services: Services, store_id: str, read_at: datetime) -> bool:
    last = services.state.get_watermark(reading_mark(store_id))
    return bool(last) and datetime.fromisoformat(str(last)) > read_at


def _write(
    api: StoreApi, desired: Mapping[str, int], report: StockSyncReport, still_newest: Callable[[], bool]
) -> None:
    items = api.read_stock(sorted(desired))
    changes: list[StockChange] = []
    for sku in sorted(desired):
        item: StockItem | None = items.get(sku)
        if item is None:
            report.not_in_store.append(sku)
        elif not item.managed:
            report.not_managed.append(sku)
        elif item.quantity == desired[sku]:
            report.unchanged += 1
        else:
            changes.append(StockChange(item, desired[sku]))
    if not changes:
        return
    if not still_newest():
        report.skipped = "older_reading"
        return
    result = api.set_stock(changes)
    report.written.extend(result.written)
    report.conflicts.extend(result.conflicts)
    report.refused.update(result.refused)


def last_report(services: Services, store_id: str) -> dict[str, Any] | None:
    """The last stock sync's report of a store (for the dashboard and the CLI), None before the first."""
    raw = services.state.get_watermark(report_mark(store_id))
    return json.loads(raw) if raw else None


def after_shipment(services: Services, settings: StoreSettings, skus: Iterable[str]) -> None:
    """Push the shipped products' stock now. A failure is logged, not raised: the order is shipped either way and
    the stock timer brings the store up to date."""
    try:
        sync_store_stock(services, settings, skus)
    except (RetryableError, PermanentError) as error:
        log.warning("stock store=%s push after shipment failed: %s", settings.store_id, type(error).__name__)


def sync_all(services: Services) -> list[dict[str, Any]]:
    """The stock timer: every store whose target reports stock and whose API is configured."""
    reports = []
    for settings in services.stores.values():
        report = sync_store_stock(services, settings)
        if report.skipped in ("no_api", "target_keeps_no_stock", "disabled", "no_stock_reported"):
            continue
        reports.append(report.as_dict())
    return reports
