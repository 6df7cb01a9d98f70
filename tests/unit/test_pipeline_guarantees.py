"""Exactly once and nothing lost, attacked: crashes between two side effects, stages racing on one order,
retries and cancellations at awkward moments. Each test either proves a guarantee or pins a fixed defect.

A crash is a BaseException raised right after a chosen step (tests.support.crash_after); the restart is the
next delivery of the same message, as after a lock expiry. Queues are drained one at a time where the test
needs a race, because sessions only order the messages of one queue.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.sqlite_state import SqliteStateStore
from shared.domain.order import OrderState
from shared.errors import BadRequest, PermanentError, RetryableError
from shared.handlers import orders
from shared.handlers.housekeeping import sweep_stuck_orders
from shared.handlers.intake import receive_webhook
from shared.handlers.operations import retry_order
from tests.support import (
    Crash,
    FakeErpTarget,
    FakeTarget,
    crash_after,
    fixture_json,
    http_status,
    make_services,
    store_settings,
    webhook_headers,
)

WOO = "demo-woo"
SHOP = "demo-shopify"
WOO_ORDER = "5123"
SHOP_ORDER = "9007199254740993"


@pytest.fixture
def target() -> FakeTarget:
    return FakeTarget()


@pytest.fixture
def services(tmp_path: Path, target: FakeTarget) -> Any:
    return make_services(tmp_path, target)


def deliver(services: Any, channel: str, topic: str, payload: dict[str, Any], **headers: str) -> int:
    store_id = WOO if channel == "woocommerce" else SHOP
    body = json.dumps(payload).encode()
    return http_status(
        receive_webhook(services, channel, store_id, body, webhook_headers(channel, topic, body, **headers))
    )


def woo_order(modified: str = "2024-03-15T09:31:40", **changes: Any) -> dict[str, Any]:
    order = fixture_json("woocommerce", "order_created")
    order["date_modified_gmt"] = modified
    order.update(changes)
    return order


def woo_with_three_mugs(modified: str) -> dict[str, Any]:
    """The same order after the merchant changed 2 mugs into 3 (12.00 each, 10% off, 21% VAT): a new total."""
    order = woo_order(modified)
    mug = order["line_items"][0]
    mug.update(quantity=3, subtotal="36.00", subtotal_tax="7.56", total="32.40", total_tax="6.80")
    mug["taxes"][0].update(total="6.804", subtotal="7.56")
    order["coupon_lines"][0].update(discount="5.60", discount_tax="1.18")
    order["tax_lines"][0]["tax_total"] = "10.58"
    order.update(discount_total="5.60", discount_tax="1.18", cart_tax="10.58", total_tax="11.63", total="67.03")
    return order


def record(services: Any, store_id: str = WOO, order_id: str = WOO_ORDER) -> Any:
    return services.state.get_order(store_id, order_id)


def actions(services: Any, store_id: str = WOO, order_id: str = WOO_ORDER) -> list[str]:
    return [t.action for t in services.state.get_timeline(store_id, order_id)]


def documents(services: Any, store_id: str = WOO, order_id: str = WOO_ORDER) -> list[tuple[str, str, Decimal]]:
    return [(d.kind, d.number, d.total) for d in record(services, store_id, order_id).documents]


def restart(services: Any) -> None:
    """After a crash: the message whose lock expired comes back, and everything else runs on."""
    services.bus.drain(services)


# -- crashes between two side effects ------------------------------------------------------------------


def test_crash_after_recording_the_event_is_sent_on_by_the_next_delivery(services, target, monkeypatch):
    crashed = crash_after(services.state, "record_event", monkeypatch)
    with pytest.raises(Crash):
        deliver(services, "woocommerce", "order.created", woo_order())
    assert crashed and services.bus.messages == []
    # WooCommerce never retries, but the catch-up poll (or a resend) goes through the same intake path.
    assert deliver(services, "woocommerce", "order.created", woo_order()) == 200
    services.bus.drain(services)
    assert record(services).state == OrderState.INVOICED
    assert target.calls == 1


def test_crash_after_saving_a_new_order_still_sends_the_invoice_request_once(services, target, monkeypatch):
    deliver(services, "woocommerce", "order.created", woo_order())
    crash_after(orders, "update_order", monkeypatch)
    with pytest.raises(Crash):
        services.bus.drain(services)
    assert record(services).state == OrderState.VALIDATED
    assert services.bus.queued("invoice-requests") == []  # the follow-up was never sent
    restart(services)
    assert record(services).state == OrderState.INVOICED and target.calls == 1
    # The redelivered event changed nothing, so it wrote nothing to the timeline either.
    assert actions(services) == ["order.received", "validated", "invoiced"]


INVOICE_CRASH_POINTS = [
    # (object path, method): the step after which the process dies while issuing the invoice
    ("state", "claim"),  # number taken, nothing written
    ("target", "issue_invoice"),  # document written, claim still pending
    ("state", "complete_claim"),  # claim done, order record not saved
]


@pytest.mark.parametrize(("owner", "method"), INVOICE_CRASH_POINTS)
def test_crash_while_invoicing_then_restart_issues_one_invoice_with_the_claimed_number(
    services, target, monkeypatch, owner, method
):
    deliver(services, "woocommerce", "order.created", woo_order())
    services.bus.drain(services, queue="order-events")
    crash_after(target if owner == "target" else services.state, method, monkeypatch)
    with pytest.raises(Crash):
        services.bus.drain(services)
    restart(services)
    assert record(services).state == OrderState.INVOICED
    assert documents(services) == [("invoice", "INV-000001", Decimal("53.97"))]
    assert target.calls == 1
    assert actions(services).count("invoiced") == 1
    # The next order gets the next number: the crash cost no number.
    deliver(services, "woocommerce", "order.created", woo_order(id=5124))
    services.bus.drain(services)
    assert documents(services, order_id="5124") == [("invoice", "INV-000002", Decimal("53.97"))]


def test_crash_between_saving_the_invoiced_order_and_its_timeline_keeps_the_timeline(services, target, monkeypatch):
    deliver(services, "woocommerce", "order.created", woo_order())
    services.bus.drain(services, queue="order-events")
    crash_after(services.state, "save_order", monkeypatch, when=lambda r, *_: r.state == OrderState.INVOICED)
    with pytest.raises(Crash):
        services.bus.drain(services)
    restart(services)
    assert record(services).state == OrderState.INVOICED and target.calls == 1
    assert "invoiced" in actions(services)


@pytest.mark.parametrize(("owner", "method"), [("target", "issue_credit_note"), ("state", "complete_claim")])
def test_crash_while_crediting_a_refund_then_restart_issues_one_credit_note(
    services, target, monkeypatch, owner, method
):
    deliver(services, "shopify", "orders/create", fixture_json("shopify", "orders_create"))
    services.bus.drain(services)
    deliver(services, "shopify", "refunds/create", fixture_json("shopify", "refunds_create"))
    services.bus.drain(services, queue="order-events")
    crash_after(target if owner == "target" else services.state, method, monkeypatch)
    with pytest.raises(Crash):
        services.bus.drain(services)
    restart(services)
    assert documents(services, SHOP, SHOP_ORDER) == [
        ("invoice", "INV-000001", Decimal("53.97")),
        ("credit_note", "CN-000001", Decimal("19.12")),
    ]
    assert target.calls == 2
    assert actions(services, SHOP, SHOP_ORDER).count("credit_note.issued") == 1


# -- stages racing on one order ------------------------------------------------------------------------


def test_update_that_breaks_a_validated_order_holds_it_before_the_invoice(services, target):
    deliver(services, "woocommerce", "order.created", woo_order())
    services.bus.drain(services, queue="order-events")
    assert record(services).state == OrderState.VALIDATED  # the invoice request is waiting
    changed = woo_order("2024-03-15T10:00:00")
    changed["line_items"][0]["sku"] = "RED-MUG-350ML"  # not in the SKU map
    deliver(services, "woocommerce", "order.updated", changed)
    services.bus.drain(services, queue="order-events")
    services.bus.drain(services)
    assert record(services).state == OrderState.HELD
    assert [p.code for p in record(services).problems] == ["unmapped_sku"]
    assert target.calls == 0


def test_harmless_update_of_a_validated_order_is_invoiced_once(services, target):
    deliver(services, "woocommerce", "order.created", woo_order())
    services.bus.drain(services, queue="order-events")
    deliver(services, "woocommerce", "order.updated", woo_order("2024-03-15T10:00:00", customer_note="Ring twice"))
    services.bus.drain(services)
    assert record(services).state == OrderState.INVOICED
    assert target.calls == 1
    assert record(services).order.note == "Ring twice"


def test_order_changed_after_invoicing_is_held_and_the_invoice_stands(services, target):
    deliver(services, "woocommerce", "order.created", woo_order())
    services.bus.drain(services)
    deliver(services, "woocommerce", "order.updated", woo_with_three_mugs("2024-03-16T08:00:00"))
    services.bus.drain(services)
    held = record(services)
    assert held.state == OrderState.HELD
    assert [(p.code, p.expected, p.found) for p in held.problems] == [("changed_after_invoicing", "53.97", "67.03")]
    assert held.problems[0].message("es")
    assert documents(services) == [("invoice", "INV-000001", Decimal("53.97"))]
    # A person looked at it (credited and re-issued by hand, or accepted it): the retry resumes, nothing is re-issued.
    retry_order(services, WOO, WOO_ORDER)
    services.bus.drain(services)
    assert record(services).state == OrderState.INVOICED
    assert target.calls == 1
    # The same snapshot again is not a new change.
    deliver(services, "woocommerce", "order.updated", woo_with_three_mugs("2024-03-16T08:00:00"))
    services.bus.drain(services)
    assert record(services).state == OrderState.INVOICED


def test_order_changed_while_its_invoice_is_being_issued_is_held(services, target, monkeypatch):
    deliver(services, "woocommerce", "order.created", woo_order())
    services.bus.drain(services, queue="order-events")
    issue = target.issue_invoice

    def issue_while_the_store_changes_the_order(order, number):  # type: ignore[no-untyped-def]
        deliver(services, "woocommerce", "order.updated", woo_with_three_mugs("2024-03-15T10:00:00"))
        services.bus.drain(services, queue="order-events")  # the order-events stage runs meanwhile
        return issue(order, number)

    monkeypatch.setattr(target, "issue_invoice", issue_while_the_store_changes_the_order)
    services.bus.drain(services)
    assert documents(services) == [("invoice", "INV-000001", Decimal("53.97"))]
    assert record(services).state == OrderState.HELD
    assert [p.code for p in record(services).problems] == ["changed_after_invoicing"]


def test_order_deleted_while_its_invoice_is_being_issued_is_credited(services, target, monkeypatch):
    deliver(services, "woocommerce", "order.created", woo_order())
    services.bus.drain(services, queue="order-events")
    issue = target.issue_invoice

    def issue_while_the_order_is_deleted(order, number):  # type: ignore[no-untyped-def]
        deliver(services, "woocommerce", "order.deleted", {"id": int(WOO_ORDER)})
        services.bus.drain(services, queue="order-events")
        assert record(services).state == OrderState.CANCELLED
        return issue(order, number)

    monkeypatch.setattr(target, "issue_invoice", issue_while_the_order_is_deleted)
    services.bus.drain(services)
    assert record(services).state == OrderState.CANCELLED
    assert documents(services) == [
        ("invoice", "INV-000001", Decimal("53.97")),
        ("credit_note", "CN-000001", Decimal("53.97")),
    ]


def test_refund_applied_while_the_invoice_is_being_issued_is_credited(services, target, monkeypatch):
    deliver(services, "shopify", "orders/create", fixture_json("shopify", "orders_create"))
    services.bus.drain(services, queue="order-events")
    issue = target.issue_invoice

    def issue_while_a_refund_arrives(order, number):  # type: ignore[no-untyped-def]
        deliver(services, "shopify", "refunds/create", fixture_json("shopify", "refunds_create"))
        services.bus.drain(services, queue="order-events")
        return issue(order, number)

    monkeypatch.setattr(target, "issue_invoice", issue_while_a_refund_arrives)
    services.bus.drain(services)
    assert [kind for kind, _, _ in documents(services, SHOP, SHOP_ORDER)] == ["invoice", "credit_note"]


def test_concurrent_claims_number_gap_free_and_each_document_once(tmp_path):
    state = SqliteStateStore(tmp_path / "state.db")
    numbers: list[tuple[str, str]] = []
    lock = threading.Lock()

    def claim_all() -> None:
        # Every worker claims every order's invoice: only one claim per order may allocate a number.
        for order in range(25):
            claim, _ = state.claim(WOO, f"invoice:{order}", "invoice")
            with lock:
                numbers.append((f"invoice:{order}", claim.number))

    threads = [threading.Thread(target=claim_all) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    per_key = {key: {n for k, n in numbers if k == key} for key, _ in numbers}
    assert all(len(found) == 1 for found in per_key.values())
    assert sorted(int(next(iter(found))) for found in per_key.values()) == list(range(1, 26))


def test_refused_order_cancelled_in_the_store_leaves_no_gap_in_the_invoice_series(tmp_path):
    # The real UBL outbox: it refuses before a number is taken (credit transfer without the seller's IBAN).
    refusing = store_settings("demo-woo", "woocommerce", invoice={"payment_means_code": "30"})
    services = make_services(tmp_path, None, woo=refusing)
    deliver(services, "woocommerce", "order.created", woo_order())
    services.bus.drain(services)
    assert record(services).state == OrderState.HELD
    assert record(services).problems[0].code == "seller_iban_missing"
    deliver(services, "woocommerce", "order.updated", woo_order("2024-03-16T08:00:00", status="cancelled"))
    services.bus.drain(services)
    assert record(services).state == OrderState.CANCELLED
    services.stores["demo-woo"] = store_settings("demo-woo", "woocommerce")
    deliver(services, "woocommerce", "order.created", woo_order(id=5124))
    services.bus.drain(services)
    assert documents(services, order_id="5124") == [("invoice", "INV-000001", Decimal("53.97"))]


# -- cancellations, restores and refunds ---------------------------------------------------------------


def test_restored_woocommerce_order_is_invoiced(services, target):
    deliver(services, "woocommerce", "order.created", woo_order())
    services.bus.drain(services, queue="order-events")
    deliver(services, "woocommerce", "order.deleted", {"id": int(WOO_ORDER)})
    services.bus.drain(services, queue="order-events")
    services.bus.drain(services)  # the invoice request finds the order cancelled
    assert record(services).state == OrderState.CANCELLED and target.calls == 0
    deliver(services, "woocommerce", "order.restored", woo_order("2024-03-15T12:00:00"))
    services.bus.drain(services)
    assert record(services).state == OrderState.INVOICED
    assert documents(services) == [("invoice", "INV-000001", Decimal("53.97"))]
    assert "order.reopened" in actions(services)


def test_uncancelled_woocommerce_order_is_checked_and_invoiced(services, target):
    deliver(services, "woocommerce", "order.created", woo_order(status="cancelled"))
    services.bus.drain(services)
    assert record(services).state == OrderState.CANCELLED
    deliver(services, "woocommerce", "order.updated", woo_order("2024-03-16T08:00:00", status="processing"))
    services.bus.drain(services)
    assert record(services).state == OrderState.INVOICED and target.calls == 1


def test_late_update_sent_before_a_deletion_does_not_revive_the_order(services, target):
    deliver(services, "woocommerce", "order.created", woo_order(status="on-hold"))
    services.bus.drain(services, queue="order-events")
    deliver(services, "woocommerce", "order.deleted", {"id": int(WOO_ORDER)})
    services.bus.drain(services, queue="order-events")
    # WooCommerce sends webhooks from a background queue: the edit made before the deletion can come after it.
    deliver(services, "woocommerce", "order.updated", woo_order("2024-03-15T09:45:00", status="on-hold"))
    services.bus.drain(services)
    assert record(services).state == OrderState.CANCELLED
    assert target.calls == 0


def test_shopify_refund_arriving_after_the_cancellation_does_not_credit_twice(services, target):
    deliver(services, "shopify", "orders/create", fixture_json("shopify", "orders_create"))
    services.bus.drain(services)
    deliver(services, "shopify", "orders/cancelled", fixture_json("shopify", "orders_cancelled"))
    services.bus.drain(services)
    assert record(services, SHOP, SHOP_ORDER).state == OrderState.CANCELLED
    # Shopify sends the cancellation's refund as its own refunds/create, possibly after orders/cancelled.
    deliver(services, "shopify", "refunds/create", fixture_json("shopify", "refunds_create"))
    services.bus.drain(services)
    credited = [(d.refund_id, d.total) for d in record(services, SHOP, SHOP_ORDER).documents if d.kind == "credit_note"]
    assert credited == [("cancel", Decimal("53.97"))]
    assert record(services, SHOP, SHOP_ORDER).state == OrderState.CANCELLED
    assert actions(services, SHOP, SHOP_ORDER).count("refund.covered") == 1


def test_shopify_cancellation_that_carries_its_refund_credits_the_invoice_exactly_once(services, target):
    deliver(services, "shopify", "orders/create", fixture_json("shopify", "orders_create"))
    services.bus.drain(services)
    cancelled = fixture_json("shopify", "orders_cancelled")
    cancelled["refunds"] = [fixture_json("shopify", "refunds_create")]
    deliver(services, "shopify", "orders/cancelled", cancelled)
    services.bus.drain(services)
    final = record(services, SHOP, SHOP_ORDER)
    assert final.state == OrderState.CANCELLED
    notes = {d.refund_id: d.total for d in final.documents if d.kind == "credit_note"}
    assert set(notes) == {"cancel", "1003942314261"}
    assert sum(notes.values()) == Decimal("53.97")


def test_amount_only_refunds_beyond_the_order_total_are_held_not_credited(services, target):
    deliver(services, "woocommerce", "order.created", woo_order())
    refunded = woo_order(
        "2024-03-18T11:02:03",
        refunds=[{"id": 5140, "reason": "", "total": "-40.00"}, {"id": 5141, "reason": "", "total": "-20.00"}],
    )
    deliver(services, "woocommerce", "order.updated", refunded)
    services.bus.drain(services)
    held = record(services)
    assert [d.kind for d in held.documents] == ["invoice"]
    assert held.state == OrderState.HELD
    assert [p.code for p in held.problems] == ["refund_amount_exceeded"]


def test_refund_of_a_total_raised_after_invoicing_never_credits_more_than_the_invoice(services, target):
    deliver(services, "woocommerce", "order.created", woo_order())
    services.bus.drain(services)
    deliver(services, "woocommerce", "order.updated", woo_with_three_mugs("2024-03-16T08:00:00"))
    services.bus.drain(services)
    retry_order(services, WOO, WOO_ORDER)  # a person accepted the changed order as invoiced
    services.bus.drain(services)
    refunded = woo_with_three_mugs("2024-03-18T11:02:03") | {"refunds": [{"id": 5140, "reason": "", "total": "-60.00"}]}
    deliver(services, "woocommerce", "order.updated", refunded)
    services.bus.drain(services)
    held = record(services)
    assert [d.kind for d in held.documents] == ["invoice"]  # 60.00 fits the new total, not the 53.97 invoice
    assert held.state == OrderState.HELD
    assert [(p.code, p.expected, p.found) for p in held.problems] == [("credit_exceeds_invoice", "53.97", "60.00")]
    assert held.problems[0].message("es")


def test_shopify_cancellation_of_a_partly_refunded_order_credits_the_rest(services, target):
    deliver(services, "shopify", "orders/create", fixture_json("shopify", "orders_create"))
    deliver(services, "shopify", "refunds/create", fixture_json("shopify", "refunds_create"))
    services.bus.drain(services)
    deliver(services, "shopify", "orders/cancelled", fixture_json("shopify", "orders_cancelled"))
    services.bus.drain(services)
    final = record(services, SHOP, SHOP_ORDER)
    assert final.state == OrderState.CANCELLED
    notes = [d for d in final.documents if d.kind == "credit_note"]
    assert [n.refund_id for n in notes] == ["1003942314261", "cancel"]
    assert sum((n.total for n in notes), Decimal("0")) == Decimal("53.97")


def test_cancellation_after_an_amount_only_refund_credits_only_what_is_left(services, target):
    deliver(services, "woocommerce", "order.created", woo_order())
    refunded = fixture_json("woocommerce", "order_updated_refunded")
    deliver(services, "woocommerce", "order.updated", refunded)
    services.bus.drain(services)
    assert [(k, t) for k, _, t in documents(services)] == [
        ("invoice", Decimal("53.97")),
        ("credit_note", Decimal("19.12")),
    ]
    cancelled = dict(refunded, status="cancelled", date_modified_gmt="2024-03-19T08:00:00")
    deliver(services, "woocommerce", "order.updated", cancelled)
    services.bus.drain(services)
    final = record(services)
    assert final.state == OrderState.CANCELLED
    assert [(d.refund_id, d.total) for d in final.documents if d.kind == "credit_note"] == [
        ("5140", Decimal("19.12")),
        ("cancel", Decimal("34.85")),
    ]


# -- retries -------------------------------------------------------------------------------------------


def test_retry_of_an_order_failed_at_invoicing_reuses_the_claimed_number(services, target):
    target.fail_with = lambda: RetryableError("ERP timed out")
    deliver(services, "woocommerce", "order.created", woo_order())
    services.bus.drain(services)
    assert record(services).state == OrderState.FAILED
    target.fail_with = None
    retry_order(services, WOO, WOO_ORDER)
    with pytest.raises(BadRequest):  # a second click while the first retry is in flight is refused
        retry_order(services, WOO, WOO_ORDER)
    services.bus.drain(services)
    assert record(services).state == OrderState.INVOICED
    assert documents(services) == [("invoice", "INV-000001", Decimal("53.97"))]


def test_permanent_refusal_then_retry_while_the_old_request_is_queued_issues_one_invoice(services, target):
    target.fail_with = lambda: PermanentError("erp_refused", "The fiscal period is closed.")
    deliver(services, "woocommerce", "order.created", woo_order())
    services.bus.drain(services)
    target.fail_with = None
    retry_order(services, WOO, WOO_ORDER)
    services.bus.drain(services, queue="order-events")
    # The sweeper nudges the same order while attempt 1's invoice request is still queued.
    orders.follow_up(services, record(services))
    services.bus.drain(services)
    assert documents(services) == [("invoice", "INV-000001", Decimal("53.97"))]
    assert target.calls == 2  # the refused call and the one that worked


@pytest.fixture
def erp(tmp_path: Path) -> tuple[Any, FakeErpTarget]:
    target = FakeErpTarget()
    return make_services(tmp_path, target), target


def test_payment_arriving_after_invoicing_is_recorded_in_the_erp(erp):
    services, target = erp
    unpaid = fixture_json("shopify", "orders_create") | {"financial_status": "pending"}
    deliver(services, "shopify", "orders/create", unpaid)
    services.bus.drain(services)
    assert record(services, SHOP, SHOP_ORDER).state == OrderState.STOCK_SYNCED
    paid = fixture_json("shopify", "orders_create") | {"updated_at": "2024-03-16T09:00:00+01:00"}
    deliver(services, "shopify", "orders/paid", paid)
    services.bus.drain(services)
    assert record(services, SHOP, SHOP_ORDER).state == OrderState.PAID
    assert target.payments == [("INV-000001", Decimal("53.97"))]
    assert target.shipped == [SHOP_ORDER]


def test_retry_after_a_refused_payment_records_it_without_shipping_again(erp):
    services, target = erp
    target.fail_payment_with = lambda: PermanentError("erp_refused", "No payment journal for the store.")
    deliver(services, "shopify", "orders/create", fixture_json("shopify", "orders_create"))
    services.bus.drain(services)
    assert record(services, SHOP, SHOP_ORDER).state == OrderState.HELD
    target.fail_payment_with = None
    retry_order(services, SHOP, SHOP_ORDER)
    assert record(services, SHOP, SHOP_ORDER).state == OrderState.STOCK_SYNCED  # where it stopped
    services.bus.drain(services)
    assert record(services, SHOP, SHOP_ORDER).state == OrderState.PAID
    assert target.payments == [("INV-000001", Decimal("53.97"))]
    assert target.shipped == [SHOP_ORDER]


def test_retry_of_a_failed_credit_note_keeps_a_paid_order_paid(erp):
    services, target = erp
    deliver(services, "shopify", "orders/create", fixture_json("shopify", "orders_create"))
    services.bus.drain(services)
    assert record(services, SHOP, SHOP_ORDER).state == OrderState.PAID
    target.fail_with = lambda: RetryableError("ERP timed out")
    deliver(services, "shopify", "refunds/create", fixture_json("shopify", "refunds_create"))
    services.bus.drain(services)
    assert record(services, SHOP, SHOP_ORDER).state == OrderState.FAILED
    target.fail_with = None
    retry_order(services, SHOP, SHOP_ORDER)
    services.bus.drain(services)
    final = record(services, SHOP, SHOP_ORDER)
    assert final.state == OrderState.PAID
    assert [d.kind for d in final.documents] == ["invoice", "credit_note"]
    assert target.payments == [("INV-000001", Decimal("53.97"))]


# -- the stuck-order sweep -----------------------------------------------------------------------------


def test_sweep_leaves_finished_outbox_orders_alone_and_nudges_a_lost_credit_note(services, target):
    deliver(services, "shopify", "orders/create", fixture_json("shopify", "orders_create"))
    services.bus.drain(services)
    later = datetime.now(UTC) + timedelta(days=1)  # records carry real change times
    services.clock = lambda: later
    # Invoiced in the UBL-like outbox with nothing left to do: finished, not stuck.
    assert sweep_stuck_orders(services) == []
    deliver(services, "shopify", "refunds/create", fixture_json("shopify", "refunds_create"))
    services.bus.drain(services, queue="order-events")
    services.bus.messages.clear()  # the credit note command is lost
    services.bus.seen.clear()  # and the duplicate-detection window has passed
    stuck = sweep_stuck_orders(services, older_than=timedelta(0))
    assert stuck == [{"store_id": SHOP, "order_id": SHOP_ORDER, "state": "invoiced"}]
    services.bus.drain(services)
    assert [kind for kind, _, _ in documents(services, SHOP, SHOP_ORDER)] == ["invoice", "credit_note"]
