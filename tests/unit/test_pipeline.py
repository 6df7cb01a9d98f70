"""The pipeline at handler level: intake → order events → invoicing → credit notes, on real SQLite state,
an in-memory bus drained through the real dispatch, and a recording target."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from shared.channels import channel_of
from shared.domain.order import OrderState
from shared.errors import BadRequest, PermanentError, RetryableError, UnreadableOrder
from shared.handlers.intake import Duplicate, receive_webhook
from shared.handlers.operations import order_detail, retry_order
from tests.support import FakeTarget, fixture_bytes, http_status, make_services, store_settings, webhook_headers


def deliver(services, channel: str, store_id: str, topic: str, body: bytes, **headers: str):
    return receive_webhook(services, channel, store_id, body, webhook_headers(channel, topic, body, **headers))


@pytest.fixture
def target() -> FakeTarget:
    return FakeTarget()


@pytest.fixture
def services(tmp_path: Path, target: FakeTarget):
    return make_services(tmp_path, target)


def order_id_of(body: bytes) -> str:
    return str(json.loads(body)["id"])


def test_woocommerce_order_is_invoiced(services, target):
    body = fixture_bytes("woocommerce", "order_created")
    result = deliver(services, "woocommerce", "demo-woo", "order.created", body)
    assert http_status(result) == 202
    services.bus.drain(services)
    record = services.state.get_order("demo-woo", order_id_of(body))
    assert record.state == OrderState.INVOICED
    assert [d.kind for d in record.documents] == ["invoice"]
    assert record.documents[0].number == "INV-000001"
    actions = [t.action for t in services.state.get_timeline("demo-woo", order_id_of(body))]
    assert actions == ["order.received", "validated", "invoiced"]


def test_duplicate_delivery_issues_one_invoice(services, target):
    body = fixture_bytes("shopify", "orders_create")
    first = deliver(services, "shopify", "demo-shopify", "orders/create", body, x_shopify_event_id="evt-1")
    again = deliver(services, "shopify", "demo-shopify", "orders/create", body, x_shopify_event_id="evt-1")
    assert (http_status(first), http_status(again)) == (202, 200)
    assert isinstance(again, Duplicate)
    services.bus.drain(services)
    # A second copy after processing, with a new event id (Shopify may send orders/updated the same second).
    deliver(services, "shopify", "demo-shopify", "orders/updated", body, x_shopify_event_id="evt-2")
    services.bus.drain(services)
    assert target.calls == 1
    record = services.state.get_order("demo-shopify", order_id_of(body))
    assert record.state == OrderState.INVOICED and len(record.documents) == 1


def test_reordered_deliveries_keep_the_newest_snapshot_and_one_invoice(services, target):
    created = json.loads(fixture_bytes("woocommerce", "order_created"))
    updated = dict(created, date_modified_gmt="2030-01-01T00:00:00", customer_note="Leave at the door")
    updated_body = json.dumps(updated).encode()
    deliver(services, "woocommerce", "demo-woo", "order.updated", updated_body)
    deliver(services, "woocommerce", "demo-woo", "order.created", json.dumps(created).encode())
    services.bus.drain(services)
    record = services.state.get_order("demo-woo", str(created["id"]))
    assert record.order.updated_at.year == 2030
    assert target.calls == 1
    actions = [t.action for t in services.state.get_timeline("demo-woo", str(created["id"]))]
    assert "event.stale" in actions


def test_shopify_refund_gives_exactly_one_credit_note(services, target):
    order = fixture_bytes("shopify", "orders_create")
    refund = fixture_bytes("shopify", "refunds_create")
    deliver(services, "shopify", "demo-shopify", "orders/create", order)
    services.bus.drain(services)
    deliver(services, "shopify", "demo-shopify", "refunds/create", refund, x_shopify_event_id="r-1")
    deliver(services, "shopify", "demo-shopify", "refunds/create", refund, x_shopify_event_id="r-1")
    services.bus.drain(services)
    record = services.state.get_order("demo-shopify", order_id_of(order))
    credit_notes = [d for d in record.documents if d.kind == "credit_note"]
    assert len(credit_notes) == 1
    assert credit_notes[0].number == "CN-000001"
    assert credit_notes[0].refund_id == str(json.loads(refund)["id"])


def test_refund_before_the_order_waits_for_it(services, target):
    order = fixture_bytes("shopify", "orders_create")
    refund = fixture_bytes("shopify", "refunds_create")
    deliver(services, "shopify", "demo-shopify", "refunds/create", refund)
    services.bus.drain(services, limit=1)  # refund first: retried, not lost
    deliver(services, "shopify", "demo-shopify", "orders/create", order)
    services.bus.drain(services)
    record = services.state.get_order("demo-shopify", order_id_of(order))
    assert sorted(d.kind for d in record.documents) == ["credit_note", "invoice"]


def test_held_order_is_invoiced_once_after_the_cause_is_fixed_and_retried(services, target):
    services.stores["demo-woo"] = store_settings("demo-woo", "woocommerce", currency="USD")
    body = fixture_bytes("woocommerce", "order_created")
    deliver(services, "woocommerce", "demo-woo", "order.created", body)
    services.bus.drain(services)
    record = services.state.get_order("demo-woo", order_id_of(body))
    assert record.state == OrderState.HELD
    assert record.problems[0].code == "currency_not_allowed"
    assert record.problems[0].message("es")
    assert target.calls == 0
    services.stores["demo-woo"] = store_settings("demo-woo", "woocommerce")
    retry_order(services, "demo-woo", order_id_of(body))
    retry_order_twice = pytest.raises(BadRequest)
    services.bus.drain(services)
    with retry_order_twice:
        retry_order(services, "demo-woo", order_id_of(body))  # invoiced now: nothing to retry
    record = services.state.get_order("demo-woo", order_id_of(body))
    assert record.state == OrderState.INVOICED and target.calls == 1


def test_target_refusal_holds_the_order_with_the_reason(services, target):
    target.fail_with = lambda: PermanentError("erp_refused", "The fiscal period is closed.")
    body = fixture_bytes("woocommerce", "order_created")
    deliver(services, "woocommerce", "demo-woo", "order.created", body)
    services.bus.drain(services)
    detail = order_detail(services, "demo-woo", order_id_of(body))
    assert detail["state"] == "held"
    assert detail["problems"][0]["code"] == "erp_refused"
    # Fixed: the retry uses the same claim and so the same number (no gap).
    target.fail_with = None
    retry_order(services, "demo-woo", order_id_of(body))
    services.bus.drain(services)
    record = services.state.get_order("demo-woo", order_id_of(body))
    assert record.state == OrderState.INVOICED
    assert record.documents[0].number == "INV-000001"


def test_passing_faults_are_retried_then_the_order_fails_and_is_dead_lettered(services, target):
    target.fail_with = lambda: RetryableError("ERP timed out")
    body = fixture_bytes("woocommerce", "order_created")
    deliver(services, "woocommerce", "demo-woo", "order.created", body)
    services.bus.drain(services, max_delivery=10)
    record = services.state.get_order("demo-woo", order_id_of(body))
    assert record.state == OrderState.FAILED
    assert target.calls == 10
    assert len(services.bus.dead_letters) == 1
    assert record.problems[0].code == "processing_failed"


@pytest.mark.parametrize(
    ("channel", "store_id", "headers", "body", "status"),
    [
        ("woocommerce", "demo-woo", {"secret": "wrong"}, None, 401),
        ("woocommerce", "nowhere", {}, None, 404),
        ("shopify", "demo-woo", {}, None, 404),  # store exists, but for another channel
        ("woocommerce", "demo-woo", {}, b"{not json", 400),
        ("woocommerce", "demo-woo", {}, b"[1, 2]", 400),
        ("woocommerce", "demo-woo", {}, fixture_bytes("woocommerce", "legacy_v3_order_created"), 400),
        ("woocommerce", "demo-woo", {"topic": "product.created"}, None, 400),
        ("woocommerce", "demo-woo", {}, b"{" + b" " * (1024 * 1024) + b"}", 413),
    ],
)
def test_refused_requests_change_no_state(services, channel, store_id, headers, body, status):
    raw = body if body is not None else fixture_bytes("woocommerce", "order_created")
    before = services.state.dump()
    signed = webhook_headers(channel, headers.get("topic", "order.created"), raw, secret=headers.get("secret"))
    with pytest.raises(BadRequest) as refused:
        receive_webhook(services, channel, store_id, raw, signed)
    assert http_status(refused.value) == status
    assert services.state.dump() == before
    assert services.bus.messages == []


def test_woocommerce_ping_is_answered_200_without_signature(services):
    result = receive_webhook(services, "woocommerce", "demo-woo", b"webhook_id=12", {})
    assert http_status(result) == 200
    assert services.state.dump()["events"] == []


def test_woocommerce_refund_without_store_api_credits_the_amount_at_the_order_rate(tmp_path):
    services = make_services(tmp_path)  # the real UBL outbox
    created = fixture_bytes("woocommerce", "order_created")
    refunded = fixture_bytes("woocommerce", "order_updated_refunded")
    deliver(services, "woocommerce", "demo-woo", "order.created", created)
    deliver(services, "woocommerce", "demo-woo", "order.updated", refunded)
    services.bus.drain(services)
    record = services.state.get_order("demo-woo", order_id_of(created))
    credit = record.document("credit_note", "5140")
    assert credit is not None, record.problems
    assert credit.total == Decimal("19.12")
    assert record.state == OrderState.INVOICED  # partly refunded: still invoiced, not credited


def test_text_where_a_number_belongs_is_held_with_the_field_and_a_corrected_copy_is_invoiced(services, target):
    order = json.loads(fixture_bytes("woocommerce", "order_created"))
    broken = json.loads(json.dumps(order))
    broken["line_items"][0]["total"] = "diez euros"
    body = json.dumps(broken).encode()
    assert http_status(deliver(services, "woocommerce", "demo-woo", "order.created", body)) == 202
    assert http_status(deliver(services, "woocommerce", "demo-woo", "order.created", body)) == 200  # resend: duplicate
    services.bus.drain(services)
    record = services.state.get_order("demo-woo", str(order["id"]))
    assert record.state == OrderState.HELD
    assert [(p.code, p.field) for p in record.problems] == [("unreadable_order", "line_items[0].total")]
    assert "diez euros" in record.problems[0].found and record.problems[0].message("es")
    assert target.calls == 0
    # The merchant fixes the order in the store; its update is readable and goes through.
    order["date_modified_gmt"] = "2030-01-01T00:00:00"
    deliver(services, "woocommerce", "demo-woo", "order.updated", json.dumps(order).encode())
    services.bus.drain(services)
    assert services.state.get_order("demo-woo", str(order["id"])).state == OrderState.INVOICED
    assert target.calls == 1


def test_deleting_an_order_we_never_saw_leaves_no_record(services):
    body = b'{"id": 777}'
    assert http_status(deliver(services, "woocommerce", "demo-woo", "order.deleted", body)) == 202
    services.bus.drain(services)
    assert services.state.get_order("demo-woo", "777") is None


def test_only_an_unreadable_order_is_held_a_refusal_titled_like_one_is_still_refused(services, monkeypatch):
    """Intake holds by the refusal's kind (UnreadableOrder), not by its title: a reworded or reused title must not
    turn a refusal into an accepted, held order."""
    channel = channel_of("woocommerce")
    body = fixture_bytes("woocommerce", "order_created")
    before = services.state.dump()

    def refuse(*args: object) -> None:
        raise BadRequest(400, UnreadableOrder.TITLE, "total: 'abc' is not a number.")

    monkeypatch.setattr(channel, "parse_event", refuse)
    with pytest.raises(BadRequest) as refused:
        deliver(services, "woocommerce", "demo-woo", "order.created", body)
    assert http_status(refused.value) == 400
    assert services.state.dump() == before

    def unreadable(*args: object) -> None:
        raise UnreadableOrder("total: 'abc' is not a number.")

    monkeypatch.setattr(channel, "parse_event", unreadable)
    assert http_status(deliver(services, "woocommerce", "demo-woo", "order.created", body)) == 202
    services.bus.drain(services)
    record = services.state.get_order("demo-woo", order_id_of(body))
    assert record.state == OrderState.HELD and record.problems[0].code == "unreadable_order"
