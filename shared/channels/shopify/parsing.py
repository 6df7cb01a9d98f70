"""Shopify parsing: an Admin REST order or refund as the canonical Order or Refund.

The webhook and the catch-up poll use `parse_order` on Admin API responses. Shopify prices include tax when
the shop says `taxes_included`; the canonical model excludes it, so net = gross - the tax Shopify computed
for that line. The buyer's tax id is the first non-empty note_attributes value whose name is, case-
insensitively, one of: vat_number, vat_id, vat, tax_id, tax_number, taxid, nif, cif, nie, rfc, rut, cuit, nit,
ruc. billing_address.company is a company name, never a tax id. Every scalar note attribute goes to Order.meta.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
    percent,
    scalar_meta,
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
from shared.domain.taxlines import applied_rate
from shared.errors import BadRequest

NAME = "shopify"  # the route segment, store setting and event-key prefix

TAX_ID_KEYS: tuple[str, ...] = (
    "vat_number",
    "vat_id",
    "vat",
    "tax_id",
    "tax_number",
    "taxid",
    "nif",
    "cif",
    "nie",
    "rfc",
    "rut",
    "cuit",
    "nit",
    "ruc",
)

# Personal data in an Admin API order: the addresses and the customer (ids, country, province and timestamps
# stay), the browser details, payment details, the buyer's e-mail, phone and note, and the note attributes
# (their names stay).
PERSONAL_DATA = PersonalData(
    objects={
        "billing_address": "",
        "shipping_address": "",
        "customer": "",
        "default_address": "",
        "addresses": "",
        "client_details": "browser",
        "payment_details": "payment_details",
        "destination_location": "",
    },
    keys={
        "email": "email",
        "contact_email": "email",
        "phone": "phone",
        "first_name": "name",
        "last_name": "name",
        "browser_ip": "ip_address",
        "user_agent": "browser",
        "note": "note",
        "note_attributes": "attributes",
    },
    keep_inside=frozenset(
        {
            "id",
            "customer_id",
            "admin_graphql_api_id",
            "country",
            "country_code",
            "country_name",
            "province",
            "province_code",
            "state",
            "currency",
            "created_at",
            "updated_at",
            "tax_exempt",
            "verified_email",
            "default",
        }
    ),
    labels=frozenset({"name"}),
)

# Financial states in which the buyer has paid (at some point) at processed_at.
PAID_STATES = {"paid", "partially_refunded", "refunded"}
# restock_type values that put the goods back in stock ("legacy_restock" is pre-2019 API).
_RESTOCK_TYPES = {"return", "cancel", "legacy_restock"}


@dataclass
class _Allocation:
    """One discount application's share of a line, split into net and tax."""

    index: int
    net: Decimal
    tax: Decimal


def in_presentment(value: Any) -> Any:
    """The payload with every amount in the currency the customer paid: each `<field>_set`'s presentment_money
    amount replaces `<field>` (price, total_price, tax_lines[].price, discount_allocations[].amount, refund
    subtotal and adjustments alike); transactions are already in that currency."""
    if isinstance(value, list):
        return [in_presentment(entry) for entry in value]
    if not isinstance(value, Mapping):
        return value
    result = {key: in_presentment(entry) for key, entry in value.items()}
    for key, entry in value.items():
        amount = mapping(mapping(entry).get("presentment_money")).get("amount") if key.endswith("_set") else None
        if amount not in (None, ""):
            result[key.removesuffix("_set")] = amount
    return result


def parse_order(data: Mapping[str, Any], store_id: str, money: str = "presentment") -> Order:
    """A Shopify Admin REST order (webhook payload or GET /orders/<id>.json) as a canonical Order.

    `money` is the store's invoice.currency: "presentment" (default) reads every amount in the currency the
    customer paid (presentment_currency, from the `*_set` presentment_money amounts) and keeps the shop's own
    total and tax in Order.shop_currency / shop_total / shop_tax_total, whose ratio is the rate the shop used;
    "shop" reads the shop's amounts."""
    shop_currency = to_text(data.get("currency")).upper()
    paid_in = to_text(data.get("presentment_currency")).upper()
    # Payloads older than the *_set fields (API 2019-10) carry shop money only: they stay whole in it.
    has_sets = bool(mapping(mapping(data.get("total_price_set")).get("presentment_money")).get("amount"))
    converted = money == "presentment" and bool(paid_in) and paid_in != shop_currency and has_sets
    shop_total = to_money(data.get("total_price"), "total_price") if converted else None
    shop_tax = to_money(data.get("total_tax"), "total_tax") if converted else None
    if converted:
        data = {**in_presentment(data), "currency": paid_in}
    order = _parse_order(data, store_id)
    if converted:
        order.shop_currency, order.shop_total, order.shop_tax_total = shop_currency, shop_total, shop_tax
    return order


def _parse_order(data: Mapping[str, Any], store_id: str) -> Order:
    order_id = to_id(data.get("id"))
    created = to_time(data.get("created_at"), "created_at")
    updated = to_time(data.get("updated_at"), "updated_at") or created
    if not order_id or created is None or updated is None:
        raise BadRequest(400, "Not an order", "A Shopify order needs id and created_at.")
    included = to_bool(data.get("taxes_included"))
    allocations: list[_Allocation] = []
    lines = [_line(entry, included, index, allocations) for index, entry in enumerate(items(data.get("line_items")))]
    shipping = [_shipping(entry, included) for entry in items(data.get("shipping_lines"))]
    meta = scalar_meta(items(data.get("note_attributes")), "name", "value")
    customer = mapping(data.get("customer"))
    billing = mapping(data.get("billing_address"))
    cancelled_at = to_time(data.get("cancelled_at"), "cancelled_at")
    financial_status = to_text(data.get("financial_status")).lower()
    processed_at = to_time(data.get("processed_at"), "processed_at") or created
    names = data.get("payment_gateway_names")
    gateways = [to_text(name) for name in names if isinstance(name, str)] if isinstance(names, list) else []
    name = " ".join(p for p in (to_text(customer.get("first_name")), to_text(customer.get("last_name"))) if p)
    return build(
        Order,
        channel=NAME,
        store_id=store_id,
        order_id=order_id,
        number=to_text(data.get("name")) or to_id(data.get("order_number")) or order_id,
        status="cancelled" if cancelled_at else financial_status,
        currency=to_text(data.get("currency")).upper(),
        created_at=created,
        updated_at=updated,
        prices_include_tax=included,
        customer=build(
            Customer,
            customer_id=to_id(customer.get("id")),
            name=name or to_text(billing.get("name")),
            email=to_text(data.get("email")) or to_text(data.get("contact_email")) or to_text(customer.get("email")),
            tax_id=find_tax_id(meta, TAX_ID_KEYS),
            billing=_address(billing),
            shipping=_address(mapping(data.get("shipping_address"))),
        ),
        lines=lines,
        shipping=shipping,
        coupons=_coupons(data, allocations, included),
        # Line discounts only: a shipping discount is already inside the shipping charge, as in WooCommerce.
        discount_total=sum((line.discount for line in lines), ZERO),
        shipping_total=sum((charge.amount for charge in shipping), ZERO),
        tax_total=to_money(data.get("total_tax"), "total_tax"),
        total=to_money(data.get("total_price"), "total_price"),
        payment_method=gateways[0] if gateways else to_text(data.get("gateway")),
        payment_method_title=", ".join(gateways),
        paid_at=processed_at if financial_status in PAID_STATES else None,
        cancelled=cancelled_at is not None,
        # The order's amounts are already in the money chosen (parse_order), the refunds' with them.
        refunds=[parse_refund(entry, taxes_included=included, money="shop") for entry in items(data.get("refunds"))],
        note=to_text(data.get("note")),
        meta=meta,
    )


def parse_refund(refund: Mapping[str, Any], taxes_included: bool | None = None, money: str = "presentment") -> Refund:
    """A Shopify refund (refunds/create payload, or an entry of order.refunds) as a canonical Refund, in the money
    the store invoices in (see parse_order).

    Refund line `subtotal` is in the shop's price mode: including tax when the order had taxes_included.
    The refunds/create payload does not say which, so when `taxes_included` is None it is inferred from
    the refund transactions (they match subtotal + shipping when tax is included, subtotal + tax +
    shipping when not); a refund of a custom amount that matches neither is read as excluding tax.
    Shipping refunds are order_adjustments of kind shipping_refund, with negative amount and tax_amount.
    """
    if money == "presentment":
        refund = in_presentment(refund)
    refund_id = to_id(refund.get("id"))
    created = to_time(refund.get("created_at"), "created_at") or to_time(refund.get("processed_at"), "processed_at")
    if not refund_id or created is None:
        raise BadRequest(400, "Not a refund", "A Shopify refund needs id and created_at.")
    raw_lines = items(refund.get("refund_line_items"))
    subtotals = [to_money(entry.get("subtotal"), "refund_line_items.subtotal") for entry in raw_lines]
    line_taxes = [to_money(entry.get("total_tax"), "refund_line_items.total_tax") for entry in raw_lines]
    shipping = ZERO
    shipping_tax = ZERO
    for adjustment in items(refund.get("order_adjustments")):
        if to_text(adjustment.get("kind")) == "shipping_refund":
            shipping += abs(to_money(adjustment.get("amount"), "order_adjustments.amount"))
            shipping_tax += abs(to_money(adjustment.get("tax_amount"), "order_adjustments.tax_amount"))
    transactions = [
        abs(to_money(t.get("amount"), "transactions.amount"))
        for t in items(refund.get("transactions"))
        if to_text(t.get("kind")).lower() == "refund" and to_text(t.get("status")).lower() in ("", "success")
    ]
    paid_back = sum(transactions, ZERO)
    if taxes_included is None:
        gross_if_included = sum(subtotals, ZERO) + shipping + shipping_tax
        taxes_included = bool(transactions) and paid_back == gross_if_included and sum(line_taxes, ZERO) != 0
    lines = [
        build(
            RefundLine,
            line_id=to_id(entry.get("line_item_id")) or to_id(mapping(entry.get("line_item")).get("id")),
            sku=to_text(mapping(entry.get("line_item")).get("sku")),
            quantity=abs(to_decimal(entry.get("quantity"), "refund_line_items.quantity")),
            amount=abs(subtotal - tax if taxes_included else subtotal),
            tax=abs(tax),
            restock=to_text(entry.get("restock_type")).lower() in _RESTOCK_TYPES,
        )
        for entry, subtotal, tax in zip(raw_lines, subtotals, line_taxes, strict=True)
    ]
    if transactions:
        amount = paid_back
    else:
        # No money moved yet (e.g. a restock-only refund): the refund is worth what its parts say.
        amount = sum((line.amount + line.tax for line in lines), ZERO) + shipping + shipping_tax
    return build(
        Refund,
        refund_id=refund_id,
        created_at=created,
        reason=to_text(refund.get("note")),
        lines=lines,
        shipping=shipping,
        shipping_tax=shipping_tax,
        amount=amount,
    )


def _tax_lines(entry: Mapping[str, Any]) -> list[TaxLine]:
    taxes: list[TaxLine] = []
    for tax in items(entry.get("tax_lines")):
        raw_rate = tax.get("rate")
        taxes.append(
            build(
                TaxLine,
                name=to_text(tax.get("title")),
                rate=None if raw_rate in (None, "") else percent(to_decimal(raw_rate, "tax_lines.rate")),
                amount=to_money(tax.get("price"), "tax_lines.price"),
            )
        )
    return taxes


def _rate_fraction(taxes: list[TaxLine], net: Decimal, tax: Decimal) -> Decimal:
    """The line's tax rate as a fraction, one rate per distinct tax (two "GST 5%" lines are 5%, not 10%)."""
    return (applied_rate(taxes, net, tax) or ZERO) / 100


def _line(entry: Mapping[str, Any], included: bool, index: int, allocations: list[_Allocation]) -> OrderLine:
    where = f"line_items[{index}]"
    quantity = to_decimal(entry.get("quantity"), f"{where}.quantity")
    price = to_money(entry.get("price"), f"{where}.price")
    taxes = _tax_lines(entry)
    tax = sum((t.amount for t in taxes), ZERO)
    shares = items(entry.get("discount_allocations"))
    if shares:
        discount_shares = [
            (
                int(to_decimal(s.get("discount_application_index"), f"{where}.discount_application_index")),
                to_money(s.get("amount"), f"{where}.discount_allocations.amount"),
            )
            for s in shares
        ]
    else:
        # Older payloads only carry total_discount.
        discount_shares = [(-1, to_money(entry.get("total_discount"), f"{where}.total_discount"))]
    discount_gross = sum((amount for _, amount in discount_shares), ZERO)
    gross_subtotal = quantity * price
    net_total = gross_subtotal - discount_gross - (tax if included else ZERO)
    rate = _rate_fraction(taxes, net_total, tax)
    if included and tax:
        # Shopify taxes the discounted gross total: net total = that total - the line's tax. The undiscounted
        # net subtotal uses the same rate, so the unit price is the catalogue price without tax, to the cent;
        # the discount takes the rounding remainder.
        total = gross_subtotal - discount_gross - tax
        if rate:
            subtotal_tax = cents(gross_subtotal * rate / (1 + rate))
        else:
            gross_total = gross_subtotal - discount_gross
            subtotal_tax = cents(tax * gross_subtotal / gross_total) if gross_total else ZERO
        subtotal = gross_subtotal - subtotal_tax
        discount = subtotal - total
    else:
        subtotal = gross_subtotal
        discount = discount_gross
        total = subtotal - discount
    _allocate(discount_shares, discount_gross, discount, rate if tax else ZERO, included, allocations)
    return build(
        OrderLine,
        line_id=to_id(entry.get("id")) or str(index + 1),
        sku=to_text(entry.get("sku")),
        product_id=to_id(entry.get("product_id")),
        variant_id=to_id(entry.get("variant_id")),
        name=to_text(entry.get("name")) or to_text(entry.get("title")),
        quantity=quantity,
        unit_price=unit_price(subtotal, quantity),
        subtotal=subtotal,
        discount=discount,
        total=total,
        tax=tax,
        taxes=taxes,
        taxable=to_bool(entry.get("taxable"), default=True),
    )


def _allocate(
    shares: list[tuple[int, Decimal]],
    gross: Decimal,
    net: Decimal,
    rate: Decimal,
    included: bool,
    allocations: list[_Allocation],
) -> None:
    """Split a line's net discount over its discount applications, in proportion to their gross amounts."""
    remaining = net
    live = [(index, amount) for index, amount in shares if amount]
    for position, (index, amount) in enumerate(live):
        share_net = remaining if position == len(live) - 1 else cents(net * amount / gross)
        remaining -= share_net
        share_tax = amount - share_net if included else cents(share_net * rate)
        allocations.append(_Allocation(index, share_net, share_tax))


def _shipping(entry: Mapping[str, Any], included: bool) -> Charge:
    taxes = _tax_lines(entry)
    tax = sum((t.amount for t in taxes), ZERO)
    price = entry.get("discounted_price")
    gross = to_money(entry.get("price") if price in (None, "") else price, "shipping_lines.discounted_price")
    return build(
        Charge,
        kind="shipping",
        charge_id=to_id(entry.get("id")),
        code=to_text(entry.get("code")) or to_text(entry.get("title")),
        name=to_text(entry.get("title")),
        amount=gross - tax if included else gross,
        tax=tax,
        taxes=taxes,
        taxable=bool(taxes) or tax != 0,
    )


def _coupons(data: Mapping[str, Any], allocations: list[_Allocation], included: bool) -> list[Coupon]:
    """discount_codes with their discount excluding tax, from the line allocations of each code.

    discount_applications[i] names the code behind allocation index i; an order with a single code and
    no applications (older API versions) gets every allocation.
    """
    codes = items(data.get("discount_codes"))
    applications = items(data.get("discount_applications"))
    coupons: list[Coupon] = []
    for code_entry in codes:
        code = to_text(code_entry.get("code"))
        gross = abs(to_money(code_entry.get("amount"), "discount_codes.amount"))
        indexes = {
            index
            for index, application in enumerate(applications)
            if to_text(application.get("code")) == code
            or (to_text(application.get("type")) == "discount_code" and to_text(application.get("title")) == code)
        }
        traced = not applications and len(codes) == 1
        mine = allocations if traced else [a for a in allocations if a.index in indexes]
        if mine:
            net = sum((a.net for a in mine), ZERO)
            tax = sum((a.tax for a in mine), ZERO)
            if included:
                # The code's amount includes tax; what is left after the net is its tax.
                tax = gross - net
        else:
            # A shipping code or a code we cannot trace to lines: keep its amount as Shopify reports it.
            net, tax = gross, ZERO
        coupons.append(build(Coupon, code=code, amount=net, tax=tax))
    return coupons


def _address(address: Mapping[str, Any]) -> Address:
    name = to_text(address.get("name")) or " ".join(
        p for p in (to_text(address.get("first_name")), to_text(address.get("last_name"))) if p
    )
    return build(
        Address,
        name=name,
        company=to_text(address.get("company")),
        line1=to_text(address.get("address1")),
        line2=to_text(address.get("address2")),
        city=to_text(address.get("city")),
        postal_code=to_text(address.get("zip")),
        region=to_text(address.get("province_code")) or to_text(address.get("province")),
        country=to_text(address.get("country_code")).upper(),
        phone=to_text(address.get("phone")),
    )
