"""WooCommerce webhooks and REST resources mapped to the canonical order, refund and event."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.channels import woocommerce
from shared.channels.common import TOPIC_MISMATCH
from shared.domain.order import EventKind, OrderEvent
from shared.errors import BadRequest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "woocommerce"
RECEIVED = datetime(2024, 3, 20, 8, 0, 5, tzinfo=UTC)
STORE = "demo-woo"
KEY_SHAPE = re.compile(r"[A-Za-z0-9:._-]{1,128}")


def raw(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def payload(name: str) -> dict[str, Any]:
    return dict(json.loads(raw(name)))


def headers(topic: str, delivery: str = "8d1f6c0a-5c1e-4e8e-9d67-0c2f1b6a9e11") -> dict[str, str]:
    return {
        "x-wc-webhook-topic": topic,
        "x-wc-webhook-resource": topic.split(".")[0],
        "x-wc-webhook-event": topic.split(".")[-1],
        "x-wc-webhook-id": "12",
        "x-wc-webhook-delivery-id": delivery,
        "x-wc-webhook-source": "https://tienda.example.com/",
    }


def parse(body: bytes, topic: str = "order.created", **kwargs: Any) -> OrderEvent:
    return woocommerce.parse_event(body, headers(topic, **kwargs), STORE, RECEIVED)


def test_created_order_maps_lines_taxes_and_totals_exactly() -> None:
    event = parse(raw("order_created"))
    order = event.order
    assert order is not None
    assert event.kind is EventKind.ORDER_UPSERTED
    assert (event.order_id, order.number, order.currency, order.status) == ("5123", "5123", "EUR", "processing")
    mug, tee = order.lines
    assert (mug.line_id, mug.sku, mug.quantity) == ("91", "BLUE-MUG-350ML", Decimal("2"))
    assert (mug.unit_price, mug.subtotal, mug.discount, mug.total, mug.tax) == (
        Decimal("12.00"),
        Decimal("24.00"),
        Decimal("2.40"),
        Decimal("21.60"),
        Decimal("4.54"),
    )
    # WooCommerce keeps per-rate taxes unrounded (4.536); they are rounded to add up to the line's tax.
    assert [(t.name, t.rate, t.amount) for t in mug.taxes] == [("IVA", Decimal("21"), Decimal("4.54"))]
    assert mug.tax_rate == Decimal("21")
    assert (tee.variant_id, tee.product_id, tee.total, tee.tax) == ("815", "812", Decimal("18.00"), Decimal("3.78"))
    assert mug.variant_id == ""
    [shipping] = order.shipping
    assert (shipping.code, shipping.amount, shipping.tax, shipping.tax_rate) == (
        "flat_rate",
        Decimal("5.00"),
        Decimal("1.05"),
        Decimal("21"),
    )
    [coupon] = order.coupons
    assert (coupon.code, coupon.amount, coupon.tax) == ("bienvenida10", Decimal("4.40"), Decimal("0.92"))
    assert (order.discount_total, order.shipping_total, order.tax_total, order.total) == (
        Decimal("4.40"),
        Decimal("5.00"),
        Decimal("9.37"),
        Decimal("53.97"),
    )
    lines_total = sum((line.total for line in order.lines), Decimal("0"))
    assert lines_total + order.shipping_total + order.tax_total == order.total
    assert order.prices_include_tax is False
    assert order.fees == []


def test_html_entities_in_names_are_unescaped() -> None:
    order = parse(raw("order_created")).order
    assert order is not None
    assert order.lines[0].name == "Taza azul 350 ml – cerámica esmaltada"
    assert order.lines[1].name == "Camiseta orgánica & bolsa - M"


def test_buyer_tax_id_comes_from_meta_and_scalar_meta_is_kept_as_strings() -> None:
    order = parse(raw("order_created")).order
    assert order is not None
    assert order.customer.tax_id == "B58378431"
    assert order.customer.billing.company == "Cerámicas del Turia S.L."
    assert order.meta["_billing_nif"] == "B58378431"
    assert order.meta["_stripe_net"] == "53.06"
    assert "_stripe_fee_details" not in order.meta  # an object, not a scalar


def test_buyer_details_and_times_are_normalised() -> None:
    event = parse(raw("order_created"))
    order = event.order
    assert order is not None
    assert order.customer.billing.country == "ES"  # the fixture sends "es"
    assert order.customer.customer_id == "87"
    assert order.customer.name == "Lucía Fernández Ruiz"
    # *_gmt fields are naive and mean UTC.
    assert order.created_at == datetime(2024, 3, 15, 9, 30, 12, tzinfo=UTC)
    assert order.paid_at == datetime(2024, 3, 15, 9, 31, 40, tzinfo=UTC)
    assert event.occurred_at == order.updated_at == datetime(2024, 3, 15, 9, 31, 40, tzinfo=UTC)


def test_tax_id_meta_keys_match_case_insensitively_and_company_is_not_a_tax_id() -> None:
    data = payload("order_created")
    data["meta_data"] = [{"id": 1, "key": "_BILLING_VAT", "value": " ESB58378431 "}]
    order = parse(json.dumps(data).encode()).order
    assert order is not None
    assert order.customer.tax_id == "ESB58378431"
    data["meta_data"] = []
    order = parse(json.dumps(data).encode()).order
    assert order is not None
    assert order.customer.tax_id == ""


def test_tax_inclusive_shop_still_gives_amounts_excluding_tax() -> None:
    order = parse(raw("order_created_tax_inclusive")).order
    assert order is not None
    assert order.prices_include_tax is True
    coffee, oil = order.lines
    assert (coffee.unit_price, coffee.subtotal, coffee.total, coffee.tax) == (
        Decimal("16.49"),
        Decimal("32.98"),
        Decimal("32.98"),
        Decimal("6.92"),
    )
    assert coffee.name == "Café de Colombia en grano 1 kg"
    assert [(t.name, t.rate, t.amount) for t in oil.taxes] == [("IVA reducido", Decimal("10"), Decimal("0.80"))]
    assert oil.tax_class == "reduced-rate"
    assert order.shipping[0].name == "Envío estándar"
    assert order.shipping[0].taxes[0].amount == Decimal("0.87")
    assert (order.tax_total, order.total) == (Decimal("8.59"), Decimal("53.70"))
    assert order.fees == [] and order.coupons == [] and order.discount_total == Decimal("0.00")
    assert order.customer.customer_id == ""  # guest checkout sends customer_id 0
    assert order.customer.tax_id == ""
    assert order.paid_at is None


def test_refund_summary_on_an_updated_order_becomes_positive_refund() -> None:
    event = parse(raw("order_updated_refunded"), "order.updated")
    order = event.order
    assert order is not None
    [refund] = order.refunds
    assert (refund.refund_id, refund.amount, refund.reason) == ("5140", Decimal("19.12"), "Taza rota en el envío")
    assert refund.lines == []
    assert refund.created_at == order.updated_at == datetime(2024, 3, 18, 11, 2, 3, tzinfo=UTC)


def test_refund_resource_maps_negative_lines_to_positive_amounts_linked_to_the_original_line() -> None:
    refund = woocommerce.parse_refund("5123", payload("refund"))
    assert (refund.refund_id, refund.amount, refund.reason) == ("5140", Decimal("19.12"), "Taza rota en el envío")
    assert refund.created_at == datetime(2024, 3, 18, 11, 2, 3, tzinfo=UTC)
    [line] = refund.lines
    assert (line.line_id, line.sku, line.quantity, line.amount, line.tax) == (
        "91",
        "BLUE-MUG-350ML",
        Decimal("1"),
        Decimal("10.80"),
        Decimal("2.27"),
    )
    assert (refund.shipping, refund.shipping_tax) == (Decimal("5.00"), Decimal("1.05"))
    assert refund.unallocated == Decimal("0")


def test_amount_only_refund_resource_leaves_the_amount_unallocated() -> None:
    data = payload("refund")
    data.update(line_items=[], shipping_lines=[], amount="7.50")
    refund = woocommerce.parse_refund("5123", data)
    assert refund.lines == [] and refund.unallocated == Decimal("7.50")


def test_deleted_order_carries_only_its_id() -> None:
    event = parse(raw("order_deleted"), "order.deleted")
    assert (event.kind, event.order_id, event.order) == (EventKind.ORDER_DELETED, "5123", None)
    assert event.occurred_at == RECEIVED
    assert KEY_SHAPE.fullmatch(event.event_key)


def test_restored_order_is_parsed_in_full() -> None:
    event = parse(raw("order_created"), "order.restored")
    assert event.kind is EventKind.ORDER_RESTORED
    assert event.order is not None and event.order.total == Decimal("53.97")


def test_duplicate_delivery_gets_the_same_event_key() -> None:
    first = parse(raw("order_created"), delivery="a1")
    # WooCommerce resends the same snapshot with a new delivery id, seconds later, as order.updated.
    again = woocommerce.parse_event(
        raw("order_created"), headers("order.updated", delivery="b2"), STORE, datetime(2024, 3, 20, 9, tzinfo=UTC)
    )
    assert first.event_key == again.event_key
    assert first.delivery_id == "a1" and again.delivery_id == "b2"


def test_later_modification_gets_a_new_event_key() -> None:
    created = parse(raw("order_created"))
    updated = parse(raw("order_updated_refunded"), "order.updated")
    assert created.event_key != updated.event_key
    assert updated.occurred_at > created.occurred_at


def test_event_key_is_bus_safe_and_names_store_order_time_and_kind() -> None:
    event = parse(raw("order_created"))
    assert event.event_key == "woocommerce:demo-woo:5123:order.upserted:20240315T093140Z"
    odd = woocommerce.parse_event(raw("order_created"), headers("order.created"), "tienda/ñ " * 30, RECEIVED)
    assert KEY_SHAPE.fullmatch(odd.event_key)


def _swap_types(value: Any) -> Any:
    """Numbers become strings and numeric strings become numbers, as different WooCommerce versions send them."""
    numeric_keys = {
        "id",
        "product_id",
        "variation_id",
        "quantity",
        "subtotal",
        "subtotal_tax",
        "total",
        "total_tax",
        "price",
        "discount",
        "discount_tax",
        "discount_total",
        "shipping_total",
        "rate_percent",
        "rate_id",
        "customer_id",
    }
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


@pytest.mark.parametrize("name", ["order_created", "order_created_tax_inclusive", "order_updated_refunded"])
def test_numbers_sent_as_strings_and_strings_as_numbers_give_the_same_order(name: str) -> None:
    original = parse(raw(name)).order
    variant_body = json.dumps(_swap_types(payload(name))).encode()
    assert variant_body != raw(name)
    variant = parse(variant_body).order
    assert variant is not None and original is not None
    assert variant == original
    assert isinstance(variant.lines[0].quantity, Decimal)


def test_nulls_and_missing_optional_fields_are_tolerated() -> None:
    data = payload("order_created")
    for key in ("billing", "shipping", "meta_data", "coupon_lines", "fee_lines", "tax_lines", "refunds"):
        data[key] = None
    del data["shipping_lines"]
    data["line_items"][0].update(sku=None, taxes=None, total_tax="", name=None)
    data["surprise_from_a_plugin"] = {"nested": [1, 2]}
    order = parse(json.dumps(data).encode()).order
    assert order is not None
    assert order.lines[0].sku == "" and order.lines[0].tax == Decimal("0") and order.lines[0].taxes == []
    assert order.customer.billing.country == "" and order.coupons == [] and order.shipping == []


def test_negative_fee_line_stays_negative() -> None:
    data = payload("order_created")
    data["fee_lines"] = [
        {"id": 96, "name": "Descuento fidelidad", "tax_class": "", "tax_status": "taxable", "total": "-2.00",
         "total_tax": "-0.42", "taxes": [{"id": 1, "total": "-0.42", "subtotal": ""}], "meta_data": []}
    ]  # fmt: skip
    [fee] = parse(json.dumps(data).encode()).order.fees  # type: ignore[union-attr]
    assert (fee.kind, fee.code, fee.amount, fee.tax, fee.tax_rate) == (
        "fee",
        "Descuento fidelidad",
        Decimal("-2.00"),
        Decimal("-0.42"),
        Decimal("21"),
    )


@pytest.mark.parametrize("topic", ["coupon.created", "action.woocommerce_payment_complete", ""])
def test_unknown_topic_is_a_bad_request(topic: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse(raw("order_created"), topic)
    assert (refused.value.status, refused.value.title) == (400, "Unknown topic")


@pytest.mark.parametrize(
    ("body", "title"),
    [
        (b'{"id": 5123, "line_items": [', "Malformed JSON"),
        (b"\xff\xfe not utf-8", "Malformed JSON"),
        (b"[1, 2, 3]", "Not an order"),
        (b'"order"', "Not an order"),
        (b'{"status": "processing"}', "Not an order"),
    ],
)
def test_unreadable_body_is_a_bad_request(body: bytes, title: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse(body)
    assert (refused.value.status, refused.value.title) == (400, title)


def test_malformed_amount_is_a_bad_request_not_a_crash() -> None:
    data = payload("order_created")
    data["line_items"][0]["total"] = "21,60 EUR"
    with pytest.raises(BadRequest) as refused:
        parse(json.dumps(data).encode())
    assert refused.value.status == 400
    assert "line_items[0].total" in refused.value.detail


def test_ping_is_the_form_body_without_topic() -> None:
    assert woocommerce.is_ping(b"webhook_id=12", {"content-type": "application/x-www-form-urlencoded"})
    assert not woocommerce.is_ping(b"webhook_id=12", headers("order.created"))
    assert not woocommerce.is_ping(raw("order_created"), {})
    assert not woocommerce.is_ping(b"webhook_id=12&x=1", {})


def test_rest_order_from_the_catch_up_poll_maps_like_the_webhook() -> None:
    polled = woocommerce.parse_order(payload("order_updated_refunded"), STORE)
    assert polled == parse(raw("order_updated_refunded"), "order.updated").order


# -- the topic must fit the body (the signature covers the body, not X-WC-Webhook-Topic) ------------------


def test_full_order_under_order_deleted_is_refused() -> None:
    with pytest.raises(BadRequest) as refused:
        parse(raw("order_created"), "order.deleted")
    assert (refused.value.status, refused.value.title) == (400, TOPIC_MISMATCH)
    assert "only the order id" in refused.value.detail


def test_trashed_order_body_under_order_deleted_is_refused() -> None:
    # WooCommerce never sends the order with a deletion, trashed or not: {"id": N} is the whole payload.
    data = payload("order_created")
    data["status"] = "trash"
    with pytest.raises(BadRequest) as refused:
        parse(json.dumps(data).encode(), "order.deleted")
    assert refused.value.title == TOPIC_MISMATCH


def test_deletion_id_sent_as_text_is_accepted() -> None:
    event = parse(b'{"id": "5123"}', "order.deleted")
    assert (event.kind, event.order_id) == (EventKind.ORDER_DELETED, "5123")


@pytest.mark.parametrize("topic", ["order.created", "order.updated", "order.restored"])
def test_refund_resource_under_an_order_topic_is_refused(topic: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse(raw("refund"), topic)
    assert (refused.value.status, refused.value.title) == (400, TOPIC_MISMATCH)
    assert "full order" in refused.value.detail


@pytest.mark.parametrize("topic", ["order.created", "order.updated", "order.restored"])
def test_deletion_body_under_an_order_topic_is_refused(topic: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse(raw("order_deleted"), topic)
    assert (refused.value.status, refused.value.title) == (400, TOPIC_MISMATCH)


def test_legacy_api_webhook_is_refused_with_the_api_version_to_set() -> None:
    with pytest.raises(BadRequest) as refused:
        parse(raw("legacy_v3_order_created"))
    assert (refused.value.status, refused.value.title) == (400, "Legacy API payload")
    assert "set the webhook's API version to WP REST API Integration v3" in refused.value.detail


def test_unwrapped_legacy_order_is_refused_with_the_api_version_to_set() -> None:
    legacy = payload("legacy_v3_order_created")["order"]
    with pytest.raises(BadRequest) as refused:
        woocommerce.parse_order(legacy, STORE)
    assert "WP REST API Integration v3" in refused.value.detail
