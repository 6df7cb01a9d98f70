"""Order events: apply a store notification to the order, check it, and hand it to the next stage.

Runs once per message of the order-events queue (one at a time per order, thanks to sessions).
Re-running it with the same message changes nothing and sends only commands the bus drops as duplicates.
"""

from __future__ import annotations

from shared.bootstrap import Services
from shared.domain.order import EventKind, Order, OrderEvent, OrderState, Refund
from shared.domain.records import OrderRecord, TimelineEntry
from shared.domain.rules import validate_order
from shared.domain.rules.messages import problem
from shared.errors import NothingToDo, RetryableError
from shared.handlers.common import entry, hold, log, update_order
from shared.handlers.messages import (
    ApplyOrderEvent,
    CancelOrder,
    IssueCreditNote,
    IssueInvoice,
    RevalidateOrder,
    send,
)
from shared.stores import StoreSettings
from shared.telemetry import count_order

ACTOR = "validation"
INVOICED_STATES = {OrderState.INVOICED, OrderState.STOCK_SYNCED, OrderState.PAID, OrderState.CREDITED}
OPEN_STATES = {OrderState.RECEIVED, OrderState.VALIDATED, OrderState.HELD, OrderState.FAILED}


def _settings(services: Services, store_id: str) -> StoreSettings:
    settings = services.store(store_id)
    if settings is None:
        # The store was removed after intake accepted the event: nothing sensible to do but say so.
        raise NothingToDo(f"store {store_id} is no longer configured")
    return settings


def check(record: OrderRecord, settings: StoreSettings, sku_map: dict[str, str]) -> list[TimelineEntry]:
    """Validate the order snapshot: `validated` when nothing is wrong, else `held` with the problems."""
    assert record.order is not None
    problems = validate_order(record.order, settings, sku_map)
    if problems:
        count_order("held", record.store_id, record.order.channel.value)
        return hold(record, problems, ACTOR)
    count_order("validated", record.store_id, record.order.channel.value)
    record.state = OrderState.VALIDATED
    record.problems = []
    return [entry(ACTOR, OrderState.VALIDATED.value, "All checks passed; the invoice is next.")]


def _merge_refunds(known: list[Refund], incoming: list[Refund]) -> list[Refund]:
    """Keep every refund once, preferring the version that carries line detail."""
    merged = {r.refund_id: r for r in known}
    for refund in incoming:
        current = merged.get(refund.refund_id)
        if current is None or (not current.lines and refund.lines):
            merged[refund.refund_id] = refund
    return sorted(merged.values(), key=lambda r: (r.created_at, r.refund_id))


def _apply_snapshot(record: OrderRecord, event: OrderEvent, order: Order) -> list[TimelineEntry]:
    first = record.order is None
    if record.order is not None:
        order.refunds = _merge_refunds(record.order.refunds, order.refunds)
    new_refunds = [r for r in order.refunds if not record.order or r.refund_id not in _refund_ids(record.order)]
    record.order = order
    record.source_updated_at = event.occurred_at
    entries = [
        entry(
            "intake",
            "order.received" if first else "order.updated",
            f"Store sent {event.topic} (order {order.number}).",
            event_key=event.event_key,
        )
    ]
    entries += [_refund_entry(r) for r in new_refunds]
    return entries


def _refund_ids(order: Order) -> set[str]:
    return {r.refund_id for r in order.refunds}


def _refund_entry(refund: Refund) -> TimelineEntry:
    return entry("intake", "refund.received", f"Refund {refund.refund_id} of {refund.amount}.", refund=refund.refund_id)


def _cancel(record: OrderRecord, reason: str) -> list[TimelineEntry]:
    if record.document("invoice") is None and record.state in OPEN_STATES:
        record.state = OrderState.CANCELLED
        record.problems = []
        return [entry(ACTOR, OrderState.CANCELLED.value, f"{reason}; no invoice had been issued.")]
    if record.state in INVOICED_STATES or record.document("invoice") is not None:
        if record.order is not None:
            record.order.cancelled = True
        return [entry(ACTOR, "cancel.requested", f"{reason} after invoicing; the invoice will be credited.")]
    return []


def _only_unreadable(record: OrderRecord) -> bool:
    """Held only because an earlier copy could not be read: a readable one is checked at once."""
    return record.state == OrderState.HELD and all(p.code == "unreadable_order" for p in record.problems)


def _unreadable(record: OrderRecord, event: OrderEvent) -> list[TimelineEntry]:
    field, _, found = event.unreadable.partition(": ")
    if record.state not in OPEN_STATES or record.document("invoice") is not None:
        return [entry("intake", "event.unreadable", f"Ignored an unreadable {event.topic}: {field}.")]
    return hold(record, [problem("unreadable_order", field=field, found=found or event.unreadable)], ACTOR)


def apply_order_event(services: Services, message: ApplyOrderEvent) -> OrderRecord:
    """Apply one store notification. Raises RetryableError for a refund whose order is not known yet."""
    settings = _settings(services, message.store_id)
    event = message.event
    if event.kind == EventKind.ORDER_DELETED and services.state.get_order(message.store_id, message.order_id) is None:
        raise NothingToDo("deletion of an order we never saw")
    sku_map = services.sku_map(message.store_id)

    def mutate(record: OrderRecord) -> list[TimelineEntry]:
        stale = record.source_updated_at is not None and event.occurred_at < record.source_updated_at
        entries: list[TimelineEntry] = []
        if event.unreadable:
            return _unreadable(record, event)
        if event.kind == EventKind.REFUND_CREATED:
            if record.order is None or event.refund is None:
                raise RetryableError(f"refund for unknown order {record.store_id}/{record.order_id}; waiting")
            if event.refund.refund_id not in _refund_ids(record.order):
                record.order.refunds = _merge_refunds(record.order.refunds, [event.refund])
                entries.append(_refund_entry(event.refund))
            return entries
        if event.kind == EventKind.ORDER_DELETED:
            return _cancel(record, "The order was deleted in the store") if record.version else []
        if event.order is None:
            return entries
        if stale:
            if not record.version:
                return entries
            return [entry("intake", "event.stale", f"Ignored {event.topic}: older than what we have.")]
        entries += _apply_snapshot(record, event, event.order)
        if event.kind == EventKind.ORDER_CANCELLED or event.order.cancelled:
            return entries + _cancel(record, "The order was cancelled in the store")
        if record.state == OrderState.RECEIVED or _only_unreadable(record):
            entries += check(record, settings, sku_map)
        elif record.state == OrderState.HELD:
            entries.append(entry(ACTOR, "held.updated", "The store changed the order; retry to check it again."))
        return entries

    record = update_order(services, message.store_id, message.order_id, mutate, create=True)
    follow_up(services, record)
    return record


def revalidate_order(services: Services, message: RevalidateOrder) -> OrderRecord:
    """Check a released order again (after a retry request) and move it on."""
    settings = _settings(services, message.store_id)
    sku_map = services.sku_map(message.store_id)

    def mutate(record: OrderRecord) -> list[TimelineEntry]:
        if record.state != OrderState.RECEIVED or record.order is None:
            return []
        return check(record, settings, sku_map)

    record = update_order(services, message.store_id, message.order_id, mutate)
    follow_up(services, record)
    return record


def follow_up(services: Services, record: OrderRecord) -> None:
    """Send the commands the order's state calls for. Safe to repeat: message ids are deterministic."""
    key = {"store_id": record.store_id, "order_id": record.order_id, "attempt": record.attempt}
    if record.state == OrderState.VALIDATED:
        send(services, IssueInvoice(**key))
        return
    if record.order is None or record.document("invoice") is None:
        return
    cancelled = record.order.cancelled or record.state == OrderState.CANCELLED
    if cancelled and record.document("credit_note", "cancel") is None:
        send(services, CancelOrder(**key))
    for refund in record.order.refunds:
        if record.document("credit_note", refund.refund_id) is None:
            send(services, IssueCreditNote(**key, refund_id=refund.refund_id))
    log.debug("follow-up sent store=%s order=%s state=%s", record.store_id, record.order_id, record.state)
