"""Backfill: import a store's past orders (created in a date range) through the normal intake and pipeline.

A dry run (the default) says what would happen to each order; an applied run feeds each one to intake, oldest
first, and keeps a watermark after each, so a run that stops resumes where it stopped. Intake's event key makes a
second feed of the same order a duplicate: nothing is issued twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from shared.bootstrap import Services
from shared.channels import channel_of
from shared.domain.rules import validate_order
from shared.handlers.common import log
from shared.handlers.intake import Accepted, accept
from shared.handlers.reconciliation import PollingStoreReader, StoreReader, StoreReading, day_bounds, store_for

Progress = Callable[[int, int], None]  # (done, total) after each order


@dataclass
class BackfillResult:
    store_id: str
    start: date
    end: date
    applied: bool
    orders: list[dict[str, Any]] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for entry in self.orders:
            counts[entry["outcome"]] = counts.get(entry["outcome"], 0) + 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {
            "store_id": self.store_id,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "applied": self.applied,
            "counts": self.counts,
            "orders": self.orders,
        }


def watermark_name(store_id: str, first: date, last: date) -> str:
    return f"backfill:{store_id}:{first.isoformat()}:{last.isoformat()}"


def _position(item: StoreReading) -> str:
    # Sortable as text: the UTC creation time then the id, fixed width so "10" sorts after "9".
    return f"{item.order.created_at.isoformat()}|{item.order.order_id:>24}"


def backfill(
    services: Services,
    store_id: str,
    first: date,
    last: date,
    *,
    apply: bool = False,
    reader: StoreReader | None = None,
    progress: Progress | None = None,
) -> BackfillResult:
    """Orders created from `first` to `last` (UTC days, both included), oldest first.

    Dry run: each order's outcome would be `known` (already here), `would_hold` (with its problem codes) or
    `would_invoice` (with the total); nothing is written. Applied: each order goes through intake as the catch-up
    poll's would (`accepted`, or `duplicate` when intake had it), then the watermark moves past it; orders behind
    the watermark are `done_before`. Idempotent. Raises UnknownStore, Unreadable (no store API), and the store
    API's RetryableError / PermanentError (the watermark keeps what was done).
    """
    settings = store_for(services, store_id)
    reader = reader or PollingStoreReader(services.clock)
    start, end = day_bounds(first, last)
    found = reader.orders(settings, start, end)
    result = BackfillResult(store_id, first, last, apply)
    mark = watermark_name(store_id, first, last)
    done_through = services.state.get_watermark(mark) or ""
    inbound = channel_of(settings.channel)
    headers = {inbound.TOPIC_HEADER: inbound.POLL_TOPIC}
    sku_map = services.sku_map(store_id)
    for index, item in enumerate(sorted(found, key=_position), start=1):
        order = item.order
        entry: dict[str, Any] = {"order_id": order.order_id, "number": order.number, "total": str(order.total)}
        if _position(item) <= done_through:
            entry["outcome"] = "done_before"
        elif apply:
            answer = accept(services, settings.channel, store_id, item.raw, headers, "backfill")
            entry["outcome"] = "accepted" if isinstance(answer, Accepted) else "duplicate"
            services.state.set_watermark(mark, _position(item))
        elif _known(services, store_id, item):
            entry["outcome"] = "known"
        else:
            problems = validate_order(order, settings, sku_map)
            entry["outcome"] = "would_hold" if problems else "would_invoice"
            if problems:
                entry["problems"] = [p.code for p in problems]
        result.orders.append(entry)
        if progress is not None:
            progress(index, len(found))
    log.info("backfill store=%s from=%s to=%s applied=%s %s", store_id, first, last, apply, result.counts)
    return result


def _known(services: Services, store_id: str, item: StoreReading) -> bool:
    """Here already: an order record, or intake's record of this very reading (still on its way through the queue)."""
    if services.state.get_order(store_id, item.order.order_id) is not None:
        return True
    return bool(item.event_key) and services.state.get_event(store_id, item.event_key) is not None
