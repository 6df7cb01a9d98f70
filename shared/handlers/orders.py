"""Order events: apply a store notification to the order, check it, and hand it to the next stage.

Runs once per message of the order-events queue (one at a time per order, thanks to sessions).
Re-running it with the same message changes nothing and sends only commands the bus drops as duplicates.
"""

from __future__ import annotations

from typing import Literal

from shared.bootstrap import Services
from shared.channels.store_api import can_confirm_cancellations, cancelled_in_store
from shared.domain import lifecycle
from shared.domain.commands import (
    ApplyOrderEvent,
    RevalidateOrder,
)
from shared.domain.lifecycle import INVOICED_STATES, OPEN_STATES, Capabilities, Command, capabilities_of
from shared.domain.order import EventKind, Order, OrderEvent, OrderState, Refund
from shared.domain.records import OrderRecord, Problem, TimelineEntry
from shared.domain.rules import simplified_invoice, validate_order
from shared.domain.rules.messages import problem
from shared.errors import NothingToDo, PermanentError, RetryableError
from shared.handlers.common import entry, hold, log, update_order
from shared.handlers.messages import send
from shared.stores import StoreSettings
from shared.telemetry import count_order

ACTOR = "validation"
# Notices that cancel an order by their topic; a snapshot that says cancelled is asked about as well.
CONFIRMED_KINDS = {EventKind.ORDER_DELETED, EventKind.ORDER_CANCELLED}
StoreAnswer = Literal["not_asked", "cancelled", "not_cancelled", "refused"]


def _settings(services: Services, store_id: str) -> StoreSettings:
    settings = services.loaded_store(store_id)
    if settings is None:
        # The store was removed after intake accepted the event: nothing sensible to do but say so.
        raise NothingToDo(f"store {store_id} is no longer configured")
    return settings


def check(record: OrderRecord, settings: StoreSettings, sku_map: dict[str, str]) -> list[TimelineEntry]:
    """Validate the order snapshot: `validated` when nothing is wrong, else `held` with the problems."""
    assert record.order is not None
    problems = validate_order(record.order, settings, sku_map)
    if problems:
        count_order("held", record.store_id, record.order.channel)
        return hold(record, problems, ACTOR)
    count_order("validated", record.store_id, record.order.channel)
    lifecycle.move(record, OrderState.VALIDATED)
    record.problems = []
    record.simplified_invoice = simplified_invoice(record.order, settings)
    return [
        entry(
            ACTOR,
            OrderState.VALIDATED.value,
            "timeline.validated",
        )
    ]


def _recheck(record: OrderRecord, settings: StoreSettings, sku_map: dict[str, str]) -> list[TimelineEntry]:
    """A validated order not invoiced yet: the invoice will be built from the new snapshot, so check it too."""
    assert record.order is not None
    problems = validate_order(record.order, settings, sku_map)
    if not problems:
        record.simplified_invoice = simplified_invoice(record.order, settings)
        return []
    count_order("held", record.store_id, record.order.channel)
    return hold(record, problems, ACTOR)


def invoiced_content(order: Order) -> tuple[object, ...]:
    """What an invoice states about the order. Refunds are not in it: they are credited on their own."""
    lines = tuple((line.line_id, line.sku, line.quantity, line.total) for line in order.lines)
    return (order.currency, order.total, lines)


def changed_after_invoicing(invoiced: Order, current: Order) -> Problem:
    """The store changed what the invoice states. An issued invoice is never changed or issued again on its own:
    a person credits it and invoices again by hand, or accepts the difference (retry)."""
    before, after = invoiced.total, current.total
    return Problem(
        code="changed_after_invoicing",
        field="total",
        expected=str(before),
        found=str(after),
        data={"currency": current.currency},
    )


def _restored_after_credit() -> Problem:
    return Problem(
        code="restored_after_cancellation",
        field="status",
    )


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
            "timeline.store_sent",
            topic=event.topic,
            number=order.number,
            event_key=event.event_key,
        )
    ]
    entries += [_refund_entry(r) for r in new_refunds]
    return entries


def _refund_ids(order: Order) -> set[str]:
    return {r.refund_id for r in order.refunds}


def _refund_entry(refund: Refund) -> TimelineEntry:
    return entry(
        "intake",
        "refund.received",
        "timeline.refund_received",
        amount=str(refund.amount),
        refund=refund.refund_id,
    )


def _cancel(record: OrderRecord, reason_text: str) -> list[TimelineEntry]:
    if record.document("invoice") is None and record.state in OPEN_STATES:
        lifecycle.move(record, OrderState.CANCELLED)
        record.problems = []
        return [
            entry(
                ACTOR,
                OrderState.CANCELLED.value,
                "timeline.cancelled_before_invoice",
                reason_text=reason_text,
            )
        ]
    if record.state in INVOICED_STATES or record.document("invoice") is not None:
        if record.order is not None:
            record.order.cancelled = True
        return [
            entry(
                ACTOR,
                "cancel.requested",
                "timeline.cancelled_after_invoice",
                reason_text=reason_text,
            )
        ]
    return []


def _reopen(
    record: OrderRecord,
    event: OrderEvent,
    restored: bool,
    was_cancelled_in_store: bool,
    settings: StoreSettings,
    sku_map: dict[str, str],
) -> list[TimelineEntry]:
    """A cancelled order the store restored (WooCommerce order.restored) or un-cancelled (status changed back).

    Any other snapshot of a deleted order is one the store sent before the deletion (WooCommerce sends webhooks
    from a background queue, so order is not guaranteed): the deletion stands.
    """
    if not restored and not was_cancelled_in_store:
        return []
    if record.document("invoice") is not None:
        return hold(record, [_restored_after_credit()], ACTOR)
    lifecycle.move(record, OrderState.RECEIVED)
    record.attempt += 1  # a new generation: the invoice request of the first one was used up (and deduplicated)
    reopened = entry(
        ACTOR,
        "order.reopened",
        "timeline.reopened",
        topic=event.topic,
    )
    return [reopened, *check(record, settings, sku_map)]


def _same_snapshot(record: OrderRecord, event: OrderEvent) -> bool:
    """This snapshot is already applied: a redelivery after a crash, or one more topic for the same change."""
    if record.order is None or event.order is None or record.source_updated_at != event.occurred_at:
        return False
    # `cancelled` may be our own mark (a deletion notice, which carries no snapshot): the store's snapshot of the
    # same moment is still the one we hold.
    incoming = event.order.model_copy(
        update={
            "refunds": _merge_refunds(record.order.refunds, event.order.refunds),
            "cancelled": event.order.cancelled or record.order.cancelled,
        }
    )
    return incoming == record.order


def _only_unreadable(record: OrderRecord) -> bool:
    """Held only because an earlier copy could not be read: a readable one is checked at once."""
    return record.state == OrderState.HELD and all(p.code == "unreadable_order" for p in record.problems)


def _unreadable(record: OrderRecord, event: OrderEvent) -> list[TimelineEntry]:
    field, _, found = event.unreadable.partition(": ")
    if record.state not in OPEN_STATES or record.document("invoice") is not None:
        return [
            entry(
                "intake",
                "event.unreadable",
                "timeline.event_unreadable",
                topic=event.topic,
                field=field,
            )
        ]
    return hold(record, [problem("unreadable_order", field=field, found=found or event.unreadable)], ACTOR)


def _needs_confirmation(record: OrderRecord | None, event: OrderEvent) -> bool:
    """A deletion or cancellation (by its topic or by a snapshot that says cancelled) of an order we hold and have
    not cancelled yet; a snapshot older than ours is ignored as stale anyway, so the store is not asked about it."""
    return (
        (event.kind in CONFIRMED_KINDS or (event.order is not None and event.order.cancelled))
        and not event.unreadable
        and record is not None
        and bool(record.version)
        and record.state != OrderState.CANCELLED
        and not (record.order is not None and record.order.cancelled)
        and not (
            event.order is not None
            and record.source_updated_at is not None
            and event.occurred_at < record.source_updated_at
        )
    )


def _ask_store(
    settings: StoreSettings, record: OrderRecord | None, event: OrderEvent
) -> tuple[StoreAnswer, PermanentError | None]:
    """Ask the store API whether the order really is deleted or cancelled, before the notice is acted on.

    The topic header is not signed, so a deletion or cancellation notice is believed only when the store says
    the same. Raises RetryableError when the store API is unreachable (the bus redelivers the notice later).
    """
    if not can_confirm_cancellations(settings) or not _needs_confirmation(record, event):
        return "not_asked", None
    try:
        return ("cancelled" if cancelled_in_store(settings, event.order_id) else "not_cancelled"), None
    except PermanentError as refusal:
        return "refused", refusal


def _cancellation_unconfirmed(refusal: PermanentError, topic: str) -> Problem:
    # The refusal's own sentence leads: its key and data travel with the problem, rendered when read. A refusal
    # still written as two sentences (the legacy PermanentError form) has nothing else to store: its English
    # `refusal` and Spanish `refusal_es` stand in for `refusal_text` (shared.texts), as in rows stored before.
    data: dict[str, object] = {**refusal.data, "topic": topic, "refusal_text": refusal.key}
    if not refusal.keyed:
        data = {"topic": topic, "refusal": refusal.message, "refusal_es": refusal.message_es}
    return Problem(code="cancellation_unconfirmed", field="status", found=refusal.message[:300], data=data)


def _unconfirmed(
    settings: StoreSettings,
    record: OrderRecord,
    event: OrderEvent,
    answer: StoreAnswer,
    refusal: PermanentError | None,
) -> list[TimelineEntry] | None:
    """What to record instead of the cancellation when the store does not confirm it; None to go ahead."""
    if not _needs_confirmation(record, event) or not can_confirm_cancellations(settings):
        return None
    if answer == "not_asked":
        # The order changed between the question and this step (a lost race): ask again on the next delivery.
        raise RetryableError(f"order {record.store_id}/{record.order_id} changed before its cancellation was confirmed")
    if answer == "refused" and refusal is not None:
        return hold(record, [_cancellation_unconfirmed(refusal, event.topic)], ACTOR)
    if answer == "not_cancelled":
        number = record.order.number if record.order is not None else record.order_id
        return [
            entry(
                ACTOR,
                "cancel.ignored",
                "timeline.cancel_ignored",
                number=number,
                topic=event.topic,
                event_key=event.event_key,
            )
        ]
    return None


def apply_order_event(services: Services, message: ApplyOrderEvent) -> OrderRecord:
    """Apply one store notification. Raises RetryableError for a refund whose order is not known yet, and while
    the store API cannot be reached to confirm a deletion or cancellation."""
    settings = _settings(services, message.store_id)
    event = message.event
    existing = services.state.get_order(message.store_id, message.order_id)
    if event.kind == EventKind.ORDER_DELETED and existing is None:
        raise NothingToDo("deletion of an order we never saw")
    answer, refusal = _ask_store(settings, existing, event)
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
            if not record.version:
                return []
            unconfirmed = _unconfirmed(settings, record, event, answer, refusal)
            if unconfirmed is not None:
                return unconfirmed
            return _cancel(record, "word.deleted_in_store")
        if event.order is None:
            return entries
        if stale:
            if not record.version:
                return entries
            return [
                entry(
                    "intake",
                    "event.stale",
                    "timeline.event_stale",
                    topic=event.topic,
                )
            ]
        unconfirmed = _unconfirmed(settings, record, event, answer, refusal)
        if unconfirmed is not None:
            return unconfirmed
        # A genuine restore is a change in the store (untrashing modifies the order): a snapshot we already hold,
        # sent again under order.restored, restores nothing.
        restored = event.kind == EventKind.ORDER_RESTORED and (
            record.source_updated_at is None or event.occurred_at > record.source_updated_at
        )
        reopening = record.state == OrderState.CANCELLED and restored
        if record.state != OrderState.RECEIVED and not reopening and _same_snapshot(record, event):
            return []  # nothing new: no second timeline entry, and follow_up below re-sends what is due
        previous = record.order
        entries += _apply_snapshot(record, event, event.order)
        if event.kind == EventKind.ORDER_CANCELLED or event.order.cancelled:
            return entries + _cancel(record, "word.cancelled_in_store")
        if record.state == OrderState.CANCELLED:
            was_cancelled = previous is not None and previous.cancelled
            return entries + _reopen(record, event, restored, was_cancelled, settings, sku_map)
        if record.state == OrderState.RECEIVED or _only_unreadable(record):
            entries += check(record, settings, sku_map)
        elif record.state == OrderState.VALIDATED:
            entries += _recheck(record, settings, sku_map)
        elif (
            previous is not None
            and record.document("invoice") is not None
            and record.state != OrderState.CREDITED
            and invoiced_content(previous) != invoiced_content(event.order)
        ):
            entries += hold(record, [changed_after_invoicing(previous, event.order)], ACTOR)
        elif record.state == OrderState.HELD:
            entries.append(
                entry(
                    ACTOR,
                    "held.updated",
                    "timeline.held_updated",
                )
            )
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


def next_commands(services: Services, record: OrderRecord) -> list[Command]:
    """The commands the order's state calls for, given what the store's target declares it can do."""

    def capabilities() -> Capabilities | None:
        settings = services.store(record.store_id)
        return None if settings is None else capabilities_of(services.target(settings))

    return lifecycle.next_commands(record, capabilities)


def follow_up(services: Services, record: OrderRecord) -> list[Command]:
    """Send the commands the order's state calls for. Safe to repeat: message ids are deterministic."""
    commands = next_commands(services, record)
    for command in commands:
        send(services, command)
    log.debug("follow-up sent store=%s order=%s state=%s", record.store_id, record.order_id, record.state)
    return commands
