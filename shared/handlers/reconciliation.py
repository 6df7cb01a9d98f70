"""Three-way reconciliation: the store's orders (its API), ours (state) and the target's invoices, plus the store's
stock against the target's, for one store and a date range. Lists every difference by kind; on request it
re-drives what a machine can (a missing order back through intake, a held one retried) and says what needs a person.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Protocol

from shared import texts
from shared.bootstrap import Services
from shared.channels import channel_of
from shared.channels.store_api import can_poll, changed_orders, store_api
from shared.domain.order import Order, OrderState
from shared.domain.records import OrderRecord
from shared.errors import BadRequest, NothingToRetry, UnknownStore, Unreadable
from shared.handlers.common import log
from shared.handlers.intake import accept
from shared.handlers.operations import retry_order
from shared.handlers.orders import follow_up
from shared.handlers.stock import store_skus
from shared.ports import ListsInvoices, ReportsStock
from shared.stores import StoreSettings

KINDS = (
    "missing_in_service",
    "missing_in_target",
    "duplicated_in_target",
    "amount_differs",
    "state_differs",
    "stock_differs",
)
MAX_DAYS = 366
_GONE_STATES = (OrderState.CANCELLED,)
_WORKING = (OrderState.RECEIVED, OrderState.VALIDATED)


@dataclass(frozen=True)
class StoreReading:
    """One order as the store's API answered it: the canonical reading and the raw JSON (for re-drive)."""

    order: Order
    raw: bytes
    event_key: str = ""  # the key intake gives this reading: known here when recorded, even before it is processed


class StoreReader(Protocol):
    """What reconciliation and backfill read from a store. Raises RetryableError / PermanentError."""

    def orders(self, settings: StoreSettings, start: datetime, end: datetime) -> list[StoreReading]:
        """Orders created in [start, end), oldest first."""

    def stock(self, settings: StoreSettings, skus: Sequence[str]) -> dict[str, Decimal] | None:
        """The store's quantity of each of these SKUs it manages stock for; None when stock cannot be read."""


class PollingStoreReader:
    """StoreReader over the catch-up poll's order list: every order changed since `start` (an order is never changed
    before it is created), kept when created in the range; store stock through the store API's stock read."""

    def __init__(self, clock: Any = None, max_pages: int = 200) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.max_pages = max_pages

    def orders(self, settings: StoreSettings, start: datetime, end: datetime) -> list[StoreReading]:
        inbound = channel_of(settings.channel)
        headers = {inbound.TOPIC_HEADER: inbound.POLL_TOPIC}
        found: dict[str, StoreReading] = {}
        # "modified after" is strict in the store APIs: a second earlier keeps an order made at midnight sharp.
        for raw in changed_orders(settings, start - timedelta(seconds=1), self.max_pages):
            try:
                event = inbound.parse_event(raw, headers, settings.store_id, self.clock())
            except BadRequest as error:
                log.warning("reconciliation store=%s skipped an unreadable order: %s", settings.store_id, error.detail)
                continue
            if event.order is not None and start <= event.order.created_at < end:
                found[event.order.order_id] = StoreReading(event.order, raw, event.event_key)
        return sorted(found.values(), key=lambda s: (s.order.created_at, s.order.order_id))

    def stock(self, settings: StoreSettings, skus: Sequence[str]) -> dict[str, Decimal] | None:
        """The store's available quantity of each SKU it manages stock for (an SKU the store does not know, or keeps
        no stock for, is not compared); None without store API credentials."""
        api = store_api(settings)
        if not api.can_read_orders():
            return None
        items = api.read_stock(skus).items()
        return {sku: Decimal(item.quantity) for sku, item in items if item.managed and item.quantity is not None}


@dataclass
class Difference:
    kind: str
    order_id: str = ""
    number: str = ""
    sku: str = ""
    item_code: str = ""
    store: str | None = None
    service: str | None = None
    target: str | None = None
    documents: list[str] = field(default_factory=list)
    remedy: str = "person"  # reintake | retry | nudge | person; what --redrive does
    outcome: str = ""  # after a re-drive: redriven | needs_person | failed

    def as_dict(self, lang: str = texts.DEFAULT_LANGUAGE) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind}
        for name in ("order_id", "number", "sku", "item_code"):
            if getattr(self, name):
                data[name] = getattr(self, name)
        data |= {"store": self.store, "service": self.service, "target": self.target}
        if self.documents:
            data["documents"] = self.documents
        data["remedy"] = self.remedy
        if self.outcome:
            data["outcome"] = self.outcome
        data["explanation"] = texts.render(f"ui.recon_{self.kind}", data, lang)
        return data


@dataclass
class Report:
    store_id: str
    start: date
    end: date  # inclusive
    differences: list[Difference]
    compared: dict[str, int]
    stock_compared: bool

    @property
    def counts(self) -> dict[str, int]:
        return {kind: sum(1 for d in self.differences if d.kind == kind) for kind in KINDS}

    def as_dict(self, lang: str = texts.DEFAULT_LANGUAGE) -> dict[str, Any]:
        return {
            "store_id": self.store_id,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "differences": [d.as_dict(lang) for d in self.differences],
            "counts": self.counts,
            "compared": self.compared,
            "stock_compared": self.stock_compared,
        }


def parse_range(start: str | None, end: str | None) -> tuple[date, date]:
    """`from` and `to` as YYYY-MM-DD, both days included; Unreadable for anything else or a range over a year."""
    try:
        first, last = date.fromisoformat(start or ""), date.fromisoformat(end or "")
    except ValueError:
        raise Unreadable(
            "Bad date range", "from and to must be dates written YYYY-MM-DD, e.g. from=2026-11-01&to=2026-11-30."
        ) from None
    if last < first:
        raise Unreadable("Bad date range", f"to ({last}) is before from ({first}).")
    if (last - first).days >= MAX_DAYS:
        raise Unreadable("Bad date range", f"The range covers more than {MAX_DAYS} days; split it.")
    return first, last


def day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """[first 00:00 UTC, the day after last 00:00 UTC)."""
    return datetime.combine(first, time.min, UTC), datetime.combine(last + timedelta(days=1), time.min, UTC)


def store_for(services: Services, store_id: str) -> StoreSettings:
    settings = services.loaded_store(store_id)
    if settings is None:
        raise UnknownStore("Unknown store", f"No store '{store_id}' is configured here.")
    if not can_poll(settings):
        raise Unreadable("No store API", f"Store '{store_id}' has no store API credentials (api:) to read orders.")
    return settings


def reconcile(
    services: Services,
    store_id: str,
    first: date,
    last: date,
    reader: StoreReader | None = None,
    *,
    redrive: bool = False,
    actor: str = "reconciliation",
) -> Report:
    """Compare store, service and target for orders created from `first` to `last` (UTC days, both included).

    Reads only, unless `redrive`: then missing orders go back through intake (idempotent: the event key makes a
    repeat a duplicate), held or failed ones are retried and stalled ones nudged; the rest is marked for a person.
    Raises UnknownStore, Unreadable (no store API), RetryableError / PermanentError from the store or target.
    """
    settings = store_for(services, store_id)
    reader = reader or PollingStoreReader(services.clock)
    start, end = day_bounds(first, last)
    in_store = reader.orders(settings, start, end)
    ours = [r for r in services.state.scan_orders(store_id) if start <= _created(r) < end]
    target = services.target(settings)
    orders = _orders_to_look_up(in_store, ours)
    invoices = target.invoices_by_order(orders, start) if isinstance(target, ListsInvoices) else {}
    currency = {order.order_id: order.currency for order in orders}
    # An invoice in another currency (invoice.currency: shop) has other amounts by design: its total is not compared.
    held = {
        k: [(d.number, d.total if d.currency in ("", currency[k]) else None) for d in v] for k, v in invoices.items()
    }
    differences = compare(in_store, ours, held)
    # Stock of the mapped SKUs, when the target reports any (the UBL target before its first stock table does not).
    stock_compared = False
    if isinstance(target, ReportsStock):
        mapped = store_skus(services.sku_map(store_id))
        held_stock = target.sellable_stock(sorted(set(mapped.values())))
        store_stock = reader.stock(settings, sorted(mapped)) if held_stock else None
        if store_stock is not None:
            stock_compared = True
            compared = {sku: mapped[sku] for sku in store_stock if sku in mapped}
            differences += compare_stock(store_stock, held_stock, compared)
    report = Report(
        store_id,
        first,
        last,
        differences,
        {"store_orders": len(in_store), "service_orders": len(ours), "target_invoices": sum(map(len, held.values()))},
        stock_compared,
    )
    log.info("reconciliation store=%s from=%s to=%s differences=%s", store_id, first, last, report.counts)
    if redrive:
        _redrive(services, settings, report, {s.order.order_id: s for s in in_store}, actor)
    return report


def _created(record: OrderRecord) -> datetime:
    return record.order.created_at if record.order is not None else record.created_at


def _orders_to_look_up(in_store: Sequence[StoreReading], ours: Sequence[OrderRecord]) -> list[Order]:
    orders = {s.order.order_id: s.order for s in in_store}
    for record in ours:
        if record.order is not None:
            orders.setdefault(record.order_id, record.order)
    return list(orders.values())


def compare(
    in_store: Sequence[StoreReading],
    ours: Sequence[OrderRecord],
    invoices: Mapping[str, Sequence[tuple[str, Decimal | None]]],
) -> list[Difference]:
    """The order differences, pure: `invoices` is order id → (number, total or None when not comparable) of each
    invoice the target holds."""
    found: list[Difference] = []
    store_by_id = {s.order.order_id: s.order for s in in_store}
    ours_by_id = {r.order_id: r for r in ours}
    for order_id in sorted(store_by_id.keys() | ours_by_id.keys(), key=_id_order):
        store, record = store_by_id.get(order_id), ours_by_id.get(order_id)
        held = list(invoices.get(order_id, ()))
        number = (store.number if store else "") or (record.order.number if record and record.order else "")
        one = Difference("", order_id, number, documents=[n for n, _ in held])
        if record is None:
            if store is not None:
                found.append(_with(one, "missing_in_service", store=store.status, remedy="reintake"))
            continue
        ours_cancelled = record.state in (OrderState.CANCELLED, OrderState.CREDITED)
        # A credited order may be a partial refund of an order the store still counts: only a cancellation here says
        # the order is gone.
        if (
            store is not None
            and store.cancelled != ours_cancelled
            and (store.cancelled or record.state in _GONE_STATES)
        ):
            found.append(_with(one, "state_differs", store=store.status, service=record.state.value))
        if len(held) > 1:
            found.append(_with(one, "duplicated_in_target", target=str(len(held))))
        elif not held and record.state not in _GONE_STATES:
            found.append(_with(one, "missing_in_target", service=record.state.value, remedy=_remedy(record)))
        ours_total = record.order.total if record.order is not None else None
        if store is not None and ours_total is not None and store.total != ours_total:
            found.append(_with(one, "amount_differs", store=str(store.total), service=str(ours_total)))
        # The invoice is checked against what this service invoiced (when the store changed the order since, that
        # is the difference above, reported once); against the store's total when we have no snapshot.
        expected = ours_total if ours_total is not None else (store.total if store is not None else None)
        if len(held) == 1 and expected is not None and held[0][1] not in (None, expected):
            values = {"store": str(store.total) if store else None, "service": str(ours_total)}
            found.append(_with(one, "amount_differs", target=str(held[0][1]), **values))
    return found


def compare_stock(
    store: Mapping[str, Decimal], target: Mapping[str, Decimal], sku_to_item: Mapping[str, str]
) -> list[Difference]:
    """Stock differences of mapped SKUs, pure. An item the target does not know counts as 0 there."""
    found = []
    for sku in sorted(sku_to_item):
        item = sku_to_item[sku]
        ours = target.get(item, Decimal("0"))
        if store[sku] != ours:
            found.append(Difference("stock_differs", sku=sku, item_code=item, store=str(store[sku]), target=str(ours)))
    return found


def _id_order(order_id: str) -> tuple[int, str]:
    return (len(order_id), order_id)  # numeric ids in number order without parsing them


def _with(base: Difference, kind: str, **values: Any) -> Difference:
    return Difference(**{**base.__dict__, "documents": list(base.documents), "kind": kind, **values})


def _remedy(record: OrderRecord) -> str:
    if record.state in (OrderState.HELD, OrderState.FAILED):
        return "retry"
    if record.state in _WORKING:
        return "nudge"
    return "person"  # our record says it was invoiced, the target has no invoice: someone must look


def _redrive(
    services: Services, settings: StoreSettings, report: Report, in_store: Mapping[str, StoreReading], actor: str
) -> None:
    inbound = channel_of(settings.channel)
    headers = {inbound.TOPIC_HEADER: inbound.POLL_TOPIC}
    for difference in report.differences:
        try:
            if difference.remedy == "reintake":
                accept(services, settings.channel, settings.store_id, in_store[difference.order_id].raw, headers, actor)
            elif difference.remedy == "retry":
                retry_order(services, settings.store_id, difference.order_id, actor)
            elif difference.remedy == "nudge":
                record = services.state.get_order(settings.store_id, difference.order_id)
                if record is not None:
                    follow_up(services, record)
            else:
                difference.outcome = "needs_person"
                continue
        except (BadRequest, NothingToRetry) as error:
            log.warning("re-drive store=%s order=%s refused: %s", settings.store_id, difference.order_id, error)
            difference.outcome = "failed"
            continue
        difference.outcome = "redriven"


def report_csv(report: Report, lang: str = texts.DEFAULT_LANGUAGE) -> str:
    """One row per difference; the columns are the JSON fields (documents joined by spaces)."""
    columns = ("kind", "order_id", "number", "sku", "item_code", "store", "service", "target", "documents")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow((*columns, "remedy", "outcome", "explanation"))
    for row in _rows(report, lang):
        writer.writerow([*(row.get(c, "") for c in columns), row["remedy"], row.get("outcome", ""), row["explanation"]])
    return out.getvalue()


def _rows(report: Report, lang: str) -> Iterable[dict[str, Any]]:
    for difference in report.differences:
        row = difference.as_dict(lang)
        row["documents"] = " ".join(row.get("documents", []))
        yield {k: ("" if v is None else v) for k, v in row.items()}
