"""The order lifecycle (shared.domain.lifecycle): allowed moves and the commands that follow, given what the
store's target declares it can do (shared.ports capability protocols)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.domain import lifecycle
from shared.domain.commands import CancelOrder, IssueInvoice, RecordPayment, SyncStock
from shared.domain.lifecycle import Capabilities, IllegalTransition, capabilities_of
from shared.domain.order import OrderState
from shared.domain.records import DocumentRef, OrderRecord
from shared.targets.tryton.target import TrytonTarget
from shared.targets.ubl.outbox import UblOutboxTarget
from tests.support import FakeErpTarget, FakeTarget
from tests.unit.test_rules_validate import order

ERP = Capabilities(ships=True, records_payments=True)
PAID_AT = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def invoiced(state: OrderState = OrderState.INVOICED, **fields: object) -> OrderRecord:
    invoice = DocumentRef(kind="invoice", number="INV-1", target="fake", total=Decimal("10"), currency="EUR")
    return OrderRecord(store_id="demo-woo", order_id="4711", state=state, order=order(**fields), documents=[invoice])


def test_an_invoiced_order_cannot_go_back_to_validated() -> None:
    record = invoiced()
    with pytest.raises(IllegalTransition):
        lifecycle.move(record, OrderState.VALIDATED)
    assert record.state == OrderState.INVOICED


def test_a_paid_order_is_never_invoiced_again() -> None:
    record = invoiced(OrderState.PAID)
    with pytest.raises(IllegalTransition):
        lifecycle.move(record, OrderState.INVOICED)


def test_any_order_can_be_held_or_failed_and_a_repeat_is_allowed() -> None:
    for state in OrderState:
        for to in (OrderState.HELD, OrderState.FAILED, state):
            record = invoiced(state)
            lifecycle.move(record, to)
            assert record.state == to


def test_a_validated_order_asks_for_its_invoice_without_asking_the_target() -> None:
    record = OrderRecord(store_id="demo-woo", order_id="4711", state=OrderState.VALIDATED, order=order())

    def no_target() -> Capabilities:
        raise AssertionError("the target is not needed before the invoice")

    assert lifecycle.next_commands(record, no_target) == [IssueInvoice(store_id="demo-woo", order_id="4711")]


def test_an_invoiced_order_ships_only_on_a_target_that_ships() -> None:
    record = invoiced()
    assert lifecycle.next_commands(record, lambda: ERP) == [SyncStock(store_id="demo-woo", order_id="4711")]
    assert lifecycle.next_commands(record, lambda: Capabilities()) == []
    assert lifecycle.next_commands(record, lambda: None) == []


def test_a_shipped_and_paid_order_records_its_payment_on_a_target_that_collects() -> None:
    record = invoiced(OrderState.STOCK_SYNCED, paid_at=PAID_AT)
    assert lifecycle.next_commands(record, lambda: ERP) == [RecordPayment(store_id="demo-woo", order_id="4711")]
    assert lifecycle.next_commands(record, lambda: Capabilities(ships=True)) == []


def test_a_cancelled_invoiced_order_is_cancelled_in_the_target_and_not_shipped() -> None:
    record = invoiced(cancelled=True)
    assert lifecycle.next_commands(record, lambda: ERP) == [CancelOrder(store_id="demo-woo", order_id="4711")]


def test_targets_declare_what_they_do() -> None:
    assert capabilities_of(FakeTarget()) == Capabilities()
    assert capabilities_of(FakeErpTarget()) == ERP
    tryton = TrytonTarget.__new__(TrytonTarget)  # the declaration is on the class; no ERP connection needed
    assert capabilities_of(tryton) == Capabilities(
        assigns_numbers=True, ships=True, records_payments=True, cancels_orders=True
    )
    assert capabilities_of(UblOutboxTarget.__new__(UblOutboxTarget)) == Capabilities(preflights=True)
