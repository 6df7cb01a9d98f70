"""The order's lifecycle: which state may follow which, where a released order resumes, and which commands
come next given what the store's target declares it can do (shared.ports capability protocols).

Handlers decide *when* (an event, a document issued); this module alone changes `record.state`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from shared.domain.commands import CancelOrder, IssueCreditNote, IssueInvoice, RecordPayment, SyncStock
from shared.domain.order import OrderState
from shared.domain.records import OrderRecord
from shared.ports import AssignsNumbers, CancelsOrders, Preflights, RecordsPayments, Ships

S = OrderState
INVOICED_STATES = frozenset({S.INVOICED, S.STOCK_SYNCED, S.PAID, S.CREDITED})
OPEN_STATES = frozenset({S.RECEIVED, S.VALIDATED, S.HELD, S.FAILED})
RETRYABLE_STATES = frozenset({S.HELD, S.FAILED})
CANCEL_REFUND_ID = "cancel"  # the credit note of a whole cancelled order is keyed as this refund
ANY = frozenset(OrderState)

# state -> the states it may be entered from. Moving to the same state is always allowed (a repeat).
# A person's retry resumes a held or failed order where it stopped (resumed_state), so those two lead anywhere.
ENTERED_FROM: dict[OrderState, frozenset[OrderState]] = {
    S.RECEIVED: RETRYABLE_STATES | {S.CANCELLED},  # retried before its invoice, or restored by the store
    S.VALIDATED: frozenset({S.RECEIVED, S.HELD}),
    # The invoice lands while order-events may have cancelled, held or failed the order meanwhile.
    S.INVOICED: ANY - {S.STOCK_SYNCED, S.PAID, S.CREDITED},
    S.STOCK_SYNCED: RETRYABLE_STATES | {S.INVOICED},
    S.PAID: RETRYABLE_STATES | {S.INVOICED, S.STOCK_SYNCED},
    S.CREDITED: ANY,
    S.CANCELLED: ANY,
    S.HELD: ANY,
    S.FAILED: ANY,
}


class IllegalTransition(Exception):
    """A move the lifecycle does not allow: a bug in a stage, never bad input."""


def move(record: OrderRecord, to: OrderState) -> None:
    """Put the order in state `to`. Raises IllegalTransition when `to` may not follow the current state."""
    if record.state != to and record.state not in ENTERED_FROM[to]:
        raise IllegalTransition(f"order {record.store_id}/{record.order_id}: {record.state} -> {to} is not allowed")
    record.state = to


def credited_total(record: OrderRecord) -> Decimal:
    return sum((d.total for d in record.documents if d.kind == "credit_note"), Decimal("0"))


def resumed_state(record: OrderRecord, done: set[str]) -> OrderState:
    """Where a released order starts again: checked anew before its invoice, else where it stopped, so that a
    retry after a refused payment neither ships again nor forgets that stock already moved.

    `done` is the set of timeline actions; the documents decide where they can.
    """
    invoice = record.document("invoice")
    if invoice is None:
        return S.RECEIVED
    if record.document("credit_note", CANCEL_REFUND_ID) is not None:
        return S.CANCELLED
    if credited_total(record) >= invoice.total:
        return S.CREDITED
    for state in (S.PAID, S.STOCK_SYNCED):
        if state.value in done:
            return state
    return S.INVOICED


@dataclass(frozen=True)
class Capabilities:
    """What a target declares beyond invoices and credit notes (see shared.ports)."""

    preflights: bool = False
    assigns_numbers: bool = False
    ships: bool = False
    records_payments: bool = False
    cancels_orders: bool = False


def capabilities_of(target: object) -> Capabilities:
    return Capabilities(
        preflights=isinstance(target, Preflights),
        assigns_numbers=isinstance(target, AssignsNumbers),
        ships=isinstance(target, Ships),
        records_payments=isinstance(target, RecordsPayments),
        cancels_orders=isinstance(target, CancelsOrders),
    )


Command = IssueInvoice | CancelOrder | IssueCreditNote | SyncStock | RecordPayment


def next_commands(record: OrderRecord, capabilities: Callable[[], Capabilities | None]) -> list[Command]:
    """The commands the order's state calls for; empty when nothing is left to do (or a person must act).

    `capabilities` is asked only for an invoiced order that is not cancelled (None: the store is gone), so a
    target is not built for orders that cannot need it.
    """
    key = {"store_id": record.store_id, "order_id": record.order_id, "attempt": record.attempt}
    if record.state == S.VALIDATED:
        return [IssueInvoice(**key)]
    if record.order is None or record.document("invoice") is None:
        return []
    commands: list[Command] = []
    cancelled = record.order.cancelled or record.state == S.CANCELLED
    if cancelled and record.document("credit_note", CANCEL_REFUND_ID) is None:
        commands.append(CancelOrder(**key))
    for refund in record.order.refunds:
        if record.document("credit_note", refund.refund_id) is None:
            commands.append(IssueCreditNote(**key, refund_id=refund.refund_id))
    if cancelled or record.state not in (S.INVOICED, S.STOCK_SYNCED):
        return commands
    # A target that ships and collects goes on after the invoice: a payment that comes later (orders/paid, a bank
    # transfer) and a retry after a refused shipment or payment both resume here.
    can = capabilities()
    if can is None:
        return commands
    if record.state == S.INVOICED and can.ships:
        commands.append(SyncStock(**key))
    elif can.records_payments and record.order.paid_at is not None:
        commands.append(RecordPayment(**key))
    return commands
