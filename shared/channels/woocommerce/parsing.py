"""WooCommerce parsing: a REST API v3 order or refund as the canonical Order or Refund.

The webhook, the catch-up poll and the refund fetch use `parse_order` and `parse_refund` on REST API
responses. The buyer's tax id is the first non-empty order meta_data value among these keys,
compared case-insensitively: _billing_vat, billing_vat, _billing_vat_number, billing_vat_number, _billing_nif,
billing_nif, _billing_cif, billing_cif, vat_number, _vat_number, _billing_rfc, billing_rfc, _billing_rut,
billing_rut, _billing_cuit, billing_cuit, _billing_nit, billing_nit, _billing_ruc, billing_ruc, _billing_tax_id,
billing_tax_id. Every scalar meta_data value is also copied to Order.meta as a string.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from shared.channels import PersonalData
from shared.channels.common import (
    ZERO,
    build,
    cents,
    find_tax_id,
    items,
    mapping,
    scalar_meta,
    tidy,
    to_bool,
    to_decimal,
    to_id,
    to_money,
    to_text,
    to_time,
    unit_price,
)
from shared.domain.order import (
    Address,
    Charge,
    Coupon,
    Customer,
    Order,
    OrderLine,
    Refund,
    RefundLine,
    TaxLine,
)
from shared.errors import BadRequest

NAME = "woocommerce"  # the route segment, store setting and event-key prefix

TAX_ID_KEYS: tuple[str, ...] = (
    "_billing_vat",
    "billing_vat",
    "_billing_vat_number",
    "billing_vat_number",
    "_billing_nif",
    "billing_nif",
    "_billing_cif",
    "billing_cif",
    "vat_number",
    "_vat_number",
    "_billing_rfc",
    "billing_rfc",
    "_billing_rut",
    "billing_rut",
    "_billing_cuit",
    "billing_cuit",
    "_billing_nit",
    "billing_nit",
    "_billing_ruc",
    "billing_ruc",
    "_billing_tax_id",
    "billing_tax_id",
)

# Personal data in a REST API v3 order: the billing and shipping addresses (the country and state stay: they
# decided the taxes), the buyer's IP address, browser and note, and the order meta (its keys stay). A legacy API
# body (refused, see below) names the addresses billing_address and shipping_address, with a customer object.
PERSONAL_DATA = PersonalData(
    objects={
        "billing": "",
        "shipping": "",
        "billing_address": "",
        "shipping_address": "",
        "customer": "",
        "payment_details": "payment_details",
    },
    keys={
        "email": "email",
        "phone": "phone",
        "first_name": "name",
        "last_name": "name",
        "customer_ip_address": "ip_address",
        "customer_user_agent": "browser",
        "customer_note": "note",
        "note": "note",
        "meta_data": "attributes",
    },
    keep_inside=frozenset({"id", "customer_id", "country", "state", "currency", "created_at", "updated_at"}),
    labels=frozenset({"key"}),
)


# Fields only the legacy REST API (WooCommerce 2.1-3.x, /wc-api/v1..v3) writes on an order; the WP REST API
# writes date_created_gmt, billing and shipping instead. Legacy webhooks also wrap the order: {"order": {...}}.
_LEGACY_ORDER_FIELDS = ("created_at", "order_number", "billing_address", "total_line_items_quantity")
LEGACY_TITLE = "Legacy API payload"
LEGACY_DETAIL = (
    "This is a WooCommerce legacy REST API payload, which we do not read. In WooCommerce > Settings > Advanced > "
    "Webhooks, set the webhook's API version to WP REST API Integration v3."
)


def refuse_legacy(data: Mapping[str, Any]) -> None:
    """Raise BadRequest(400) telling the store's admin what to change when the body is a legacy API order."""
    wrapped = mapping(data.get("order"))
    body = wrapped if wrapped and "id" not in data else data
    if "date_created_gmt" not in body and any(field in body for field in _LEGACY_ORDER_FIELDS):
        raise BadRequest(400, LEGACY_TITLE, LEGACY_DETAIL)


def parse_order(data: Mapping[str, Any], store_id: str, money: str = "presentment") -> Order:
    """A WooCommerce REST v3 order object as a canonical Order (webhook payload or GET /orders/<id>). A legacy
    API order is refused with what to change (refuse_legacy)."""
    refuse_legacy(data)
    order_id = to_id(data.get("id"))
    created = to_time(data.get("date_created_gmt"), "date_created_gmt")
    modified = to_time(data.get("date_modified_gmt"), "date_modified_gmt") or created
    if not order_id or created is None or modified is None:
        raise BadRequest(400, "Not an order", "A WooCommerce order needs id and date_created_gmt.")
    rates = _tax_rates(data)
    meta = scalar_meta(items(data.get("meta_data")), "key", "value")
    lines = [_line(entry, rates, index) for index, entry in enumerate(items(data.get("line_items")))]
    shipping = [_charge("shipping", entry, rates) for entry in items(data.get("shipping_lines"))]
    fees = [_charge("fee", entry, rates) for entry in items(data.get("fee_lines"))]
    coupons = [
        build(
            Coupon,
            code=to_text(entry.get("code")),
            amount=to_money(entry.get("discount"), "coupon_lines.discount"),
            tax=to_money(entry.get("discount_tax"), "coupon_lines.discount_tax"),
        )
        for entry in items(data.get("coupon_lines"))
    ]
    status = to_text(data.get("status")).lower()
    refunds = [
        build(
            Refund,
            refund_id=to_id(entry.get("id")),
            # The order's refund summary carries no date; the order changed when it was refunded.
            created_at=modified,
            reason=to_text(entry.get("reason")),
            amount=abs(to_money(entry.get("total"), "refunds.total")),
        )
        for entry in items(data.get("refunds"))
    ]
    billing = mapping(data.get("billing"))
    return build(
        Order,
        channel=NAME,
        store_id=store_id,
        order_id=order_id,
        number=to_text(data.get("number")) or order_id,
        status=status,
        currency=to_text(data.get("currency")).upper(),
        created_at=created,
        updated_at=modified,
        prices_include_tax=to_bool(data.get("prices_include_tax")),
        customer=build(
            Customer,
            customer_id="" if to_id(data.get("customer_id")) in ("", "0") else to_id(data.get("customer_id")),
            name=_full_name(billing),
            email=to_text(billing.get("email")),
            tax_id=find_tax_id(meta, TAX_ID_KEYS),
            billing=_address(billing),
            shipping=_address(mapping(data.get("shipping"))),
        ),
        lines=lines,
        shipping=shipping,
        fees=fees,
        coupons=coupons,
        discount_total=to_money(data.get("discount_total"), "discount_total"),
        shipping_total=to_money(data.get("shipping_total"), "shipping_total"),
        tax_total=to_money(data.get("total_tax"), "total_tax"),
        total=to_money(data.get("total"), "total"),
        payment_method=to_text(data.get("payment_method")),
        payment_method_title=to_text(data.get("payment_method_title")),
        paid_at=to_time(data.get("date_paid_gmt"), "date_paid_gmt"),
        cancelled=status == "cancelled",
        refunds=refunds,
        note=to_text(data.get("customer_note")),
        meta=meta,
    )


def parse_refund(order_id: str, refund: Mapping[str, Any]) -> Refund:
    """A REST v3 refund resource (GET /orders/<order_id>/refunds/<id>) as a canonical Refund.

    WooCommerce stores refunds as negative orders: quantities and totals come negative and become positive
    here. Each refunded line points at the original line through its `_refunded_item_id` meta.
    """
    refund_id = to_id(refund.get("id"))
    created = to_time(refund.get("date_created_gmt"), "date_created_gmt")
    if not refund_id or created is None:
        raise BadRequest(400, "Not a refund", f"Refund of order {order_id} needs id and date_created_gmt.")
    lines: list[RefundLine] = []
    for entry in items(refund.get("line_items")):
        item_meta = scalar_meta(items(entry.get("meta_data")), "key", "value")
        lines.append(
            build(
                RefundLine,
                line_id=item_meta.get("_refunded_item_id") or to_id(entry.get("id")),
                sku=to_text(entry.get("sku")),
                quantity=abs(to_decimal(entry.get("quantity"), "line_items.quantity")),
                amount=abs(to_money(entry.get("total"), "line_items.total")),
                tax=abs(to_money(entry.get("total_tax"), "line_items.total_tax")),
                restock=False,
            )
        )
    shipping_lines = items(refund.get("shipping_lines"))
    return build(
        Refund,
        refund_id=refund_id,
        created_at=created,
        reason=to_text(refund.get("reason")),
        lines=lines,
        shipping=sum((abs(to_money(s.get("total"), "shipping_lines.total")) for s in shipping_lines), ZERO),
        shipping_tax=sum((abs(to_money(s.get("total_tax"), "shipping_lines.total_tax")) for s in shipping_lines), ZERO),
        amount=abs(to_money(refund.get("amount"), "amount")),
    )


def _tax_rates(data: Mapping[str, Any]) -> dict[str, tuple[str, Decimal | None]]:
    """Order-level tax_lines: rate_id → (label, percent). rate_percent exists since WooCommerce 3.7."""
    rates: dict[str, tuple[str, Decimal | None]] = {}
    for entry in items(data.get("tax_lines")):
        rate_id = to_id(entry.get("rate_id"))
        raw_percent = entry.get("rate_percent")
        rate = None if raw_percent in (None, "") else tidy(to_decimal(raw_percent, "tax_lines.rate_percent"))
        rates[rate_id] = (to_text(entry.get("label")) or to_text(entry.get("rate_code")), rate)
    return rates


def _taxes(
    entry: Mapping[str, Any], rates: Mapping[str, tuple[str, Decimal | None]], total_tax: Decimal
) -> list[TaxLine]:
    """Per-rate taxes of a line or charge. WooCommerce keeps them unrounded ("4.536") while the item's
    total_tax is rounded, so each is rounded to the cent and the last one absorbs the difference."""
    taxes: list[TaxLine] = []
    for tax in items(entry.get("taxes")):
        name, rate = rates.get(to_id(tax.get("id")), ("", None))
        amount = cents(to_money(tax.get("total"), "taxes.total"))
        taxes.append(build(TaxLine, name=name, rate=rate, amount=amount))
    if taxes:
        taxes[-1].amount += total_tax - sum((t.amount for t in taxes), ZERO)
    return taxes


def _line(entry: Mapping[str, Any], rates: Mapping[str, tuple[str, Decimal | None]], index: int) -> OrderLine:
    # REST line totals are always excluding tax, even when the shop enters prices including tax.
    quantity = to_decimal(entry.get("quantity"), f"line_items[{index}].quantity")
    subtotal = to_money(entry.get("subtotal"), f"line_items[{index}].subtotal")
    total = to_money(entry.get("total"), f"line_items[{index}].total")
    tax = to_money(entry.get("total_tax"), f"line_items[{index}].total_tax")
    variation = to_id(entry.get("variation_id"))
    return build(
        OrderLine,
        line_id=to_id(entry.get("id")) or str(index + 1),
        sku=to_text(entry.get("sku")),
        product_id=to_id(entry.get("product_id")),
        variant_id="" if variation == "0" else variation,
        name=to_text(entry.get("name")),
        quantity=quantity,
        unit_price=unit_price(subtotal, quantity),
        subtotal=subtotal,
        discount=subtotal - total,
        total=total,
        tax=tax,
        taxes=_taxes(entry, rates, tax),
        tax_class=to_text(entry.get("tax_class")),
        taxable=to_text(entry.get("tax_status")) != "none",
    )


def _charge(kind: str, entry: Mapping[str, Any], rates: Mapping[str, tuple[str, Decimal | None]]) -> Charge:
    name = to_text(entry.get("method_title") if kind == "shipping" else entry.get("name"))
    tax = to_money(entry.get("total_tax"), f"{kind}.total_tax")
    return build(
        Charge,
        kind=kind,
        charge_id=to_id(entry.get("id")),
        code=to_text(entry.get("method_id")) if kind == "shipping" else name,
        name=name,
        amount=to_money(entry.get("total"), f"{kind}.total"),
        tax=tax,
        taxes=_taxes(entry, rates, tax),
        tax_class=to_text(entry.get("tax_class")),
        taxable=to_text(entry.get("tax_status")) != "none",
    )


def _full_name(address: Mapping[str, Any]) -> str:
    return " ".join(part for part in (to_text(address.get("first_name")), to_text(address.get("last_name"))) if part)


def _address(address: Mapping[str, Any]) -> Address:
    return build(
        Address,
        name=_full_name(address),
        company=to_text(address.get("company")),
        line1=to_text(address.get("address_1")),
        line2=to_text(address.get("address_2")),
        city=to_text(address.get("city")),
        postal_code=to_text(address.get("postcode")),
        region=to_text(address.get("state")),
        country=to_text(address.get("country")).upper(),
        email=to_text(address.get("email")),
        phone=to_text(address.get("phone")),
    )
