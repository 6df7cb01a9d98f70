"""The pure comparison of reconciliation: which differences a given store, service and target give."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from shared.channels import channel_of
from shared.domain.order import OrderState
from shared.domain.records import OrderRecord
from shared.handlers.reconciliation import StoreReading, compare, compare_stock
from tests.support import fixture_bytes

D = Decimal


def _store_order(**changes: object) -> StoreReading:
    raw = fixture_bytes("woocommerce", "order_created")
    inbound = channel_of("woocommerce")
    event = inbound.parse_event(raw, {inbound.TOPIC_HEADER: inbound.POLL_TOPIC}, "demo-woo", datetime.now(UTC))
    assert event.order is not None
    return StoreReading(event.order.model_copy(update=changes), raw)


def _record(store: StoreReading, state: OrderState) -> OrderRecord:
    return OrderRecord(store_id="demo-woo", order_id=store.order.order_id, state=state, order=store.order)


def _kinds(found) -> list[str]:
    return [d.kind for d in found]


def test_an_order_that_agrees_everywhere_gives_nothing():
    store = _store_order()
    assert compare([store], [_record(store, OrderState.INVOICED)], {"5123": [("INV-1", D("53.97"))]}) == []


def test_a_partly_credited_order_the_store_still_counts_is_no_state_difference():
    store = _store_order()
    assert compare([store], [_record(store, OrderState.CREDITED)], {"5123": [("INV-1", D("53.97"))]}) == []


def test_a_cancelled_order_here_that_the_store_still_sells_is_a_state_difference():
    store = _store_order()
    found = compare([store], [_record(store, OrderState.CANCELLED)], {})
    assert [(d.kind, d.store, d.service) for d in found] == [("state_differs", "processing", "cancelled")]


def test_an_invoice_in_another_currency_is_not_compared_by_amount():
    store = _store_order()
    assert compare([store], [_record(store, OrderState.INVOICED)], {"5123": [("INV-1", None)]}) == []


def test_a_held_order_without_invoice_is_missing_in_target_and_can_be_retried():
    store = _store_order()
    (found,) = compare([store], [_record(store, OrderState.HELD)], {})
    assert (found.kind, found.service, found.remedy) == ("missing_in_target", "held", "retry")


def test_the_store_and_this_service_disagreeing_on_the_total_is_an_amount_difference():
    store = _store_order(total=D("60.00"))
    ours = _record(_store_order(), OrderState.INVOICED)
    found = compare([store], [ours], {"5123": [("INV-1", D("53.97"))]})
    # Once: the invoice matches what this service invoiced, so only the store changed.
    assert [(d.kind, d.store, d.service, d.target) for d in found] == [("amount_differs", "60.00", "53.97", None)]


def test_an_invoice_that_differs_from_what_was_invoiced_is_an_amount_difference():
    store = _store_order()
    found = compare([store], [_record(store, OrderState.INVOICED)], {"5123": [("INV-1", D("63.97"))]})
    assert [(d.kind, d.store, d.service, d.target) for d in found] == [("amount_differs", "53.97", "53.97", "63.97")]


def test_stock_of_an_item_the_target_does_not_know_counts_as_zero():
    found = compare_stock(
        {"BLUE-MUG-350ML": D("3"), "TEE-ORG-M": D("0")}, {}, {"BLUE-MUG-350ML": "MUG", "TEE-ORG-M": "TEE"}
    )
    assert [(d.sku, d.store, d.target) for d in found] == [("BLUE-MUG-350ML", "3", "0")]
