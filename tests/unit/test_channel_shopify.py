"""Shopify webhooks (orders and refunds) mapped to the canonical order, refund and event."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.channels import shopify
from shared.channels.common import TOPIC_MISMATCH
from shared.domain.order import EventKind, Order, OrderEvent
from shared.errors import BadRequest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "shopify"
RECEIVED = datetime(2024, 3, 20, 8, 0, 5, tzinfo=UTC)
STORE = "demo-shop"
EVENT_ID = "98880550-7158-44d4-b7cd-2c97c8a091b5"
WEBHOOK_ID = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
KEY_SHAPE = re.compile(r"[A-Za-z0-9:._-]{1,128}")


def raw(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def payload(name: str) -> dict[str, Any]:
    return dict(json.loads(raw(name)))


def headers(topic: str, event_id: str | None = EVENT_ID, webhook_id: str | None = WEBHOOK_ID) -> dict[str, str]:
    result = {
        "x-shopify-topic": topic,
        "x-shopify-api-version": "2024-01",
        "x-shopify-shop-domain": "tienda-turia.myshopify.com",
        "x-shopify-triggered-at": "2024-03-15T09:30:14.123456Z",
    }
    if event_id is not None:
        result["x-shopify-event-id"] = event_id
    if webhook_id is not None:
        result["x-shopify-webhook-id"] = webhook_id
    return result


def parse(body: bytes, topic: str = "orders/create", **kwargs: Any) -> OrderEvent:
    return shopify.parse_event(body, headers(topic, **kwargs), STORE, RECEIVED)


def order_of(body: bytes, topic: str = "orders/create") -> Order:
    order = parse(body, topic).order
    assert order is not None
    return order


def test_order_ids_above_2_to_the_53_stay_exact() -> None:
    event = parse(raw("orders_create"))
    assert event.order_id == "9007199254740993"  # 2^53 + 1: a float would give ...992
    order = event.order
    assert order is not None
    assert [line.line_id for line in order.lines] == ["14187192238357", "14187192271125"]
    assert order.lines[1].variant_id == "48021558706453"
    assert order.customer.customer_id == "7412589633813"
    assert order_of(raw("orders_paid"), "orders/paid").order_id == "5731274178837"


def test_tax_exclusive_order_maps_lines_discounts_and_totals_exactly() -> None:
    order = order_of(raw("orders_create"))
    assert (order.number, order.currency, order.prices_include_tax) == ("#1001", "EUR", False)
    mug, tee = order.lines
    assert (mug.sku, mug.quantity, mug.unit_price, mug.subtotal, mug.discount, mug.total, mug.tax) == (
        "BLUE-MUG-350ML",
        Decimal("2"),
        Decimal("12.00"),
        Decimal("24.00"),
        Decimal("2.40"),
        Decimal("21.60"),
        Decimal("4.54"),
    )
    # Shopify sends the rate as a fraction (0.21); the model wants percent.
    assert [(t.name, t.rate, t.amount) for t in mug.taxes] == [("IVA", Decimal("21"), Decimal("4.54"))]
    assert (tee.name, tee.total, tee.tax) == ("Camiseta orgánica & bolsa - M", Decimal("18.00"), Decimal("3.78"))
    [shipping] = order.shipping
    assert (shipping.code, shipping.name, shipping.amount, shipping.tax) == (
        "Standard",
        "Envío estándar",
        Decimal("5.00"),
        Decimal("1.05"),
    )
    [coupon] = order.coupons
    assert (coupon.code, coupon.amount, coupon.tax) == ("BIENVENIDA10", Decimal("4.40"), Decimal("0.92"))
    assert (order.discount_total, order.shipping_total, order.tax_total, order.total) == (
        Decimal("4.40"),
        Decimal("5.00"),
        Decimal("9.37"),
        Decimal("53.97"),
    )
    assert order.fees == []


def test_taxes_included_prices_are_converted_to_net_with_the_stores_own_tax() -> None:
    order = order_of(raw("orders_create_taxes_included"))
    assert order.prices_include_tax is True
    mug, coffee = order.lines
    # 2 x 14.52 gross - 2.90 discount = 26.14, of which Shopify says 4.54 is tax.
    assert (mug.unit_price, mug.subtotal, mug.discount, mug.total, mug.tax) == (
        Decimal("12.00"),
        Decimal("24.00"),
        Decimal("2.40"),
        Decimal("21.60"),
        Decimal("4.54"),
    )
    # 19.95 gross is 16.49 net; 17.95 after discount holds 3.12 tax, leaving 14.83: the discount is 1.66 net.
    assert (coffee.unit_price, coffee.subtotal, coffee.discount, coffee.total, coffee.tax) == (
        Decimal("16.49"),
        Decimal("16.49"),
        Decimal("1.66"),
        Decimal("14.83"),
        Decimal("3.12"),
    )
    [shipping] = order.shipping
    assert (shipping.amount, shipping.tax) == (Decimal("4.09"), Decimal("0.86"))
    [coupon] = order.coupons
    assert (coupon.amount, coupon.tax) == (Decimal("4.06"), Decimal("0.84"))  # 4.90 gross
    assert (order.discount_total, order.shipping_total, order.tax_total, order.total) == (
        Decimal("4.06"),
        Decimal("4.09"),
        Decimal("8.52"),
        Decimal("49.04"),
    )
    lines_total = sum((line.total for line in order.lines), Decimal("0"))
    assert lines_total + order.shipping_total + order.tax_total == order.total
    assert order.note == "Dejar en conserjería"


def test_buyer_and_times_are_normalised_to_utc_and_upper_case_countries() -> None:
    event = parse(raw("orders_paid"), "orders/paid")
    order = event.order
    assert order is not None
    assert event.kind is EventKind.ORDER_PAID
    assert order.created_at == datetime(2024, 3, 17, 15, 15, tzinfo=UTC)  # 09:15 at -06:00
    assert event.occurred_at == order.updated_at == datetime(2024, 3, 17, 15, 16, 30, tzinfo=UTC)
    assert order.paid_at == datetime(2024, 3, 17, 15, 14, 58, tzinfo=UTC)
    billing = order.customer.billing
    assert (billing.country, billing.region, billing.postal_code) == ("MX", "CMX", "03940")
    assert order.customer.name == "Diego González Domínguez"
    assert order.payment_method == "paypal"


def test_export_order_without_tax_lines_has_zero_tax_and_no_rate() -> None:
    order = order_of(raw("orders_paid"), "orders/paid")
    [line] = order.lines
    assert (line.quantity, line.unit_price, line.total, line.tax, line.tax_rate, line.taxable) == (
        Decimal("2"),
        Decimal("45.00"),
        Decimal("90.00"),
        Decimal("0"),
        None,
        False,
    )
    assert order.coupons == [] and order.shipping == [] and order.total == Decimal("90.00")


def test_tax_id_comes_from_note_attributes_case_insensitively_never_from_company() -> None:
    assert order_of(raw("orders_create")).customer.tax_id == "ESB58378431"  # name "VAT_Number"
    paid = order_of(raw("orders_paid"), "orders/paid")
    assert paid.customer.tax_id == "GODE561231GR8"  # name "RFC"
    assert paid.meta == {"RFC": "GODE561231GR8", "Uso CFDI": "G01", "gift": "true"}
    data = payload("orders_paid")
    data["note_attributes"] = []
    order = order_of(json.dumps(data).encode())
    assert order.customer.billing.company == "Importadora Azteca S.A. de C.V."
    assert order.customer.tax_id == ""


def test_cancelled_order_is_flagged() -> None:
    event = parse(raw("orders_cancelled"), "orders/cancelled")
    assert event.kind is EventKind.ORDER_CANCELLED
    assert event.order is not None and event.order.cancelled and event.order.status == "cancelled"
    assert event.occurred_at == datetime(2024, 3, 15, 17, 5, 1, tzinfo=UTC)
    assert not order_of(raw("orders_create")).cancelled


def test_partial_refund_of_one_line_and_shipping_has_positive_amounts() -> None:
    event = parse(raw("refunds_create"), "refunds/create")
    assert (event.kind, event.order_id, event.order) == (EventKind.REFUND_CREATED, "9007199254740993", None)
    refund = event.refund
    assert refund is not None
    assert (refund.refund_id, refund.reason, refund.amount) == (
        "1003942314261",
        "Taza rota en el envío",
        Decimal("19.12"),
    )
    [line] = refund.lines
    assert (line.line_id, line.sku, line.quantity, line.amount, line.tax, line.restock) == (
        "14187192238357",
        "BLUE-MUG-350ML",
        Decimal("1"),
        Decimal("10.80"),
        Decimal("2.27"),
        True,
    )
    assert str(line.amount) == "10.80"  # Shopify sends the subtotal as the number 10.8
    assert (refund.shipping, refund.shipping_tax) == (Decimal("5.00"), Decimal("1.05"))
    assert refund.unallocated == Decimal("0")
    assert event.occurred_at == refund.created_at == datetime(2024, 3, 18, 11, 2, 3, tzinfo=UTC)


def test_refund_in_a_taxes_included_shop_is_recognised_from_its_transaction() -> None:
    data = payload("refunds_create")
    line = data["refund_line_items"][0]
    line.update(subtotal=13.07, total_tax=2.27, restock_type="no_restock")  # one mug at 26.14 gross for two
    data["order_adjustments"] = []
    data["transactions"][0]["amount"] = "13.07"
    refund = shopify.parse_event(json.dumps(data).encode(), headers("refunds/create"), STORE, RECEIVED).refund
    assert refund is not None
    [refunded] = refund.lines
    assert (refunded.amount, refunded.tax, refunded.restock) == (Decimal("10.80"), Decimal("2.27"), False)
    assert refund.amount == Decimal("13.07") and refund.unallocated == Decimal("0")


def test_failed_refund_transactions_are_not_counted() -> None:
    data = payload("refunds_create")
    failed = dict(data["transactions"][0], id=7812345678902, status="failure", amount="19.12")
    data["transactions"].append(failed)
    refund = shopify.parse_event(json.dumps(data).encode(), headers("refunds/create"), STORE, RECEIVED).refund
    assert refund is not None and refund.amount == Decimal("19.12")


def test_event_key_uses_the_event_id_header() -> None:
    event = parse(raw("orders_create"))
    assert event.event_key == f"shopify:demo-shop:order.upserted:{EVENT_ID}"
    assert event.delivery_id == WEBHOOK_ID
    assert KEY_SHAPE.fullmatch(event.event_key)


def test_retried_delivery_gets_the_same_event_key() -> None:
    first = parse(raw("orders_create"))
    retry = shopify.parse_event(
        raw("orders_create"), headers("orders/create"), STORE, datetime(2024, 3, 20, 9, 30, tzinfo=UTC)
    )
    assert first.event_key == retry.event_key


def test_other_event_gets_another_key() -> None:
    first = parse(raw("orders_create"))
    other = parse(raw("orders_create"), event_id="0b5c6f5e-1f64-4c16-9a3e-7a3b2f9d1c22")
    assert first.event_key != other.event_key


def test_event_key_falls_back_to_webhook_id_then_order_and_update_time() -> None:
    by_webhook = parse(raw("orders_create"), event_id=None)
    assert by_webhook.event_key == f"shopify:demo-shop:order.upserted:{WEBHOOK_ID}"
    by_order = parse(raw("orders_create"), event_id=None, webhook_id=None)
    assert by_order.event_key == "shopify:demo-shop:order.upserted:9007199254740993:20240315T093014Z"
    later = parse(raw("orders_cancelled"), "orders/updated", event_id=None, webhook_id=None)
    assert later.event_key != by_order.event_key


def _swap_types(value: Any) -> Any:
    """Numeric strings become numbers and numbers become strings, as the different API versions send them."""
    numeric_keys = {"id", "price", "quantity", "amount", "total_price", "total_tax", "subtotal_price", "rate",
                    "discounted_price", "variant_id", "product_id", "order_number", "total_discount"}  # fmt: skip
    if isinstance(value, list):
        return [_swap_types(item) for item in value]
    if not isinstance(value, dict):
        return value
    swapped: dict[str, Any] = {}
    for key, item in value.items():
        if key in numeric_keys and isinstance(item, int | float) and not isinstance(item, bool):
            swapped[key] = str(item)
        elif key in numeric_keys and isinstance(item, str) and re.fullmatch(r"-?\d+(\.\d+)?", item):
            swapped[key] = float(item) if "." in item else int(item)
        else:
            swapped[key] = _swap_types(item)
    return swapped


@pytest.mark.parametrize("name", ["orders_create", "orders_create_taxes_included", "orders_paid"])
def test_numbers_sent_as_strings_and_strings_as_numbers_give_the_same_order(name: str) -> None:
    variant_body = json.dumps(_swap_types(payload(name))).encode()
    assert variant_body != raw(name)
    assert order_of(variant_body) == order_of(raw(name))


def test_nulls_and_missing_optional_fields_are_tolerated() -> None:
    data = payload("orders_create")
    for key in ("customer", "billing_address", "shipping_address", "note_attributes", "discount_codes"):
        data[key] = None
    del data["shipping_lines"]
    del data["discount_applications"]
    data["line_items"][0].update(sku=None, tax_lines=None, discount_allocations=None, total_discount=None)
    data["brand_new_field"] = {"from": "a newer API version"}
    order = order_of(json.dumps(data).encode())
    mug = order.lines[0]
    assert (mug.sku, mug.tax, mug.discount, mug.total) == ("", Decimal("0"), Decimal("0"), Decimal("24.00"))
    assert order.customer.email == "lucia.fernandez@example.com" and order.customer.customer_id == ""
    assert order.shipping == [] and order.coupons == []


@pytest.mark.parametrize("topic", ["orders/fulfilled", "products/update", ""])
def test_unknown_topic_is_a_bad_request(topic: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse(raw("orders_create"), topic)
    assert (refused.value.status, refused.value.title) == (400, "Unknown topic")


@pytest.mark.parametrize(
    ("body", "topic", "title"),
    [
        (b'{"id": 9007199254740993, "line_items": [}', "orders/create", "Malformed JSON"),
        (b"[]", "orders/create", "Not an order"),
        (b"null", "refunds/create", "Not an order"),
        (b'{"email": "lucia.fernandez@example.com"}', "orders/paid", "Not an order"),
        (b'{"id": 1003942314261, "created_at": "2024-03-18T12:02:03+01:00"}', "refunds/create", "Not a refund"),
    ],
)
def test_unreadable_body_is_a_bad_request(body: bytes, topic: str, title: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse(body, topic)
    assert (refused.value.status, refused.value.title) == (400, title)


def test_deeply_nested_body_is_a_bad_request_not_a_crash() -> None:
    with pytest.raises(BadRequest) as refused:
        parse(b"[" * 200_000 + b"]" * 200_000)
    assert refused.value.status == 400


def test_bad_date_is_a_bad_request_not_a_crash() -> None:
    data = payload("orders_create")
    data["updated_at"] = "yesterday"
    with pytest.raises(BadRequest) as refused:
        parse(json.dumps(data).encode())
    assert refused.value.status == 400 and "updated_at" in refused.value.detail


def test_shopify_never_pings() -> None:
    assert not shopify.is_ping(b"webhook_id=12", {})


def test_refund_parsed_with_the_orders_tax_mode_overrides_the_guess() -> None:
    data = payload("refunds_create")
    data["transactions"] = []  # nothing to infer from: a restock-only refund
    guessed = shopify.parse_refund(data)
    told = shopify.parse_refund(data, taxes_included=True)
    assert guessed.lines[0].amount == Decimal("10.80")
    assert told.lines[0].amount == Decimal("8.53")  # 10.80 gross minus 2.27 tax
    assert told.amount == Decimal("16.85")  # 8.53 + 2.27 + 5.00 + 1.05, from its parts


# -- the topic must fit the body (the HMAC covers the body, not X-Shopify-Topic) ----------------------------


def test_order_without_cancelled_at_under_orders_cancelled_is_refused() -> None:
    with pytest.raises(BadRequest) as refused:
        parse(raw("orders_create"), "orders/cancelled")
    assert (refused.value.status, refused.value.title) == (400, TOPIC_MISMATCH)
    assert "cancelled_at" in refused.value.detail


@pytest.mark.parametrize("status", ["pending", "authorized", "voided", ""])
def test_unpaid_order_under_orders_paid_is_refused(status: str) -> None:
    data = payload("orders_paid")
    data["financial_status"] = status
    with pytest.raises(BadRequest) as refused:
        parse(json.dumps(data).encode(), "orders/paid")
    assert (refused.value.status, refused.value.title) == (400, TOPIC_MISMATCH)


def test_paid_order_delivered_after_a_partial_refund_is_still_paid() -> None:
    data = payload("orders_paid")
    data["financial_status"] = "partially_refunded"
    event = parse(json.dumps(data).encode(), "orders/paid")
    assert event.kind is EventKind.ORDER_PAID and event.order is not None and event.order.paid_at is not None


@pytest.mark.parametrize("topic", ["orders/create", "orders/updated", "orders/paid", "orders/cancelled"])
def test_refund_body_under_an_order_topic_is_refused(topic: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse(raw("refunds_create"), topic)
    assert (refused.value.status, refused.value.title) == (400, TOPIC_MISMATCH)
    assert "full order" in refused.value.detail


def test_order_body_under_refunds_create_is_refused_even_with_an_order_id() -> None:
    data = payload("orders_create")
    data["order_id"] = data["id"]
    with pytest.raises(BadRequest) as refused:
        parse(json.dumps(data).encode(), "refunds/create")
    assert (refused.value.status, refused.value.title) == (400, TOPIC_MISMATCH)


def test_amount_only_refund_with_no_refund_lines_is_a_refund() -> None:
    data = payload("refunds_create")
    data["refund_line_items"] = []
    event = parse(json.dumps(data).encode(), "refunds/create")
    assert event.kind is EventKind.REFUND_CREATED and event.refund is not None and event.refund.lines == []
