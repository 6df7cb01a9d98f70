"""Timers: the catch-up poll (orders whose webhook never came) and the stuck-order sweep.

WooCommerce never retries a failed webhook, and any store can lose one: the poll lists orders changed
since the last poll (with an overlap) and feeds them through the same intake path, where the event
key makes a repeat a no-op. The sweep re-sends the next command of orders that sat too long in a
working state (idempotent thanks to deterministic message ids) and reports them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared.bootstrap import Services
from shared.channels import channel_of
from shared.channels.store_api import can_poll, changed_orders
from shared.domain.commands import RevalidateOrder
from shared.domain.order import OrderState
from shared.errors import BadRequest, PermanentError
from shared.handlers.common import log
from shared.handlers.intake import Accepted, accept
from shared.handlers.messages import send
from shared.handlers.orders import follow_up

POLL_OVERLAP = timedelta(minutes=5)
FIRST_POLL_LOOKBACK = timedelta(hours=24)
WORKING_STATES = (OrderState.RECEIVED, OrderState.VALIDATED, OrderState.INVOICED, OrderState.STOCK_SYNCED)


def catch_up(services: Services) -> list[dict[str, Any]]:
    """Poll every store that has API credentials. Returns one summary per store polled."""
    summaries = []
    for settings in services.stores.values():
        if not can_poll(settings):
            continue
        mark = f"catch-up:{settings.store_id}"
        started = services.clock()
        last = services.state.get_watermark(mark)
        since = datetime.fromisoformat(last) - POLL_OVERLAP if last else started - FIRST_POLL_LOOKBACK
        inbound = channel_of(settings.channel)
        name, topic = inbound.TOPIC_HEADER, inbound.POLL_TOPIC
        seen = new = unreadable = 0
        error_code = ""
        try:
            for raw in changed_orders(settings, since):
                seen += 1
                try:
                    result = accept(services, settings.channel, settings.store_id, raw, {name: topic}, "catch-up")
                except BadRequest as error:
                    unreadable += 1
                    log.warning("catch-up store=%s skipped an unreadable order: %s", settings.store_id, error.detail)
                    continue
                new += isinstance(result, Accepted)
        except PermanentError as error:
            log.error("catch-up store=%s refused: %s", settings.store_id, error.code)
            error_code = error.code
        else:
            services.state.set_watermark(mark, started.isoformat())
        log.info("catch-up store=%s seen=%d new=%d", settings.store_id, seen, new)
        summary: dict[str, Any] = {"store_id": settings.store_id, "seen": seen, "new": new, "unreadable": unreadable}
        if error_code:
            summary["error"] = error_code
        summaries.append(summary)
    return summaries


def sweep_stuck_orders(services: Services, older_than: timedelta = timedelta(minutes=15)) -> list[dict[str, str]]:
    """Orders unchanged for `older_than` in a working state: nudge them along and list them."""
    cutoff = services.clock() - older_than
    stuck = []
    for state in WORKING_STATES:
        for record in services.state.list_orders(None, state.value, 1000):
            if record.changed_at > cutoff:
                continue
            if state == OrderState.RECEIVED and record.order is not None:
                send(
                    services,
                    RevalidateOrder(store_id=record.store_id, order_id=record.order_id, attempt=record.attempt),
                )
            elif not follow_up(services, record):
                continue  # e.g. invoiced in the UBL outbox: finished, not stuck
            stuck.append({"store_id": record.store_id, "order_id": record.order_id, "state": state.value})
    if stuck:
        log.warning("sweep: %d orders without progress for %s", len(stuck), older_than)
    return stuck
