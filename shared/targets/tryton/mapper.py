"""Tryton mapper (pure): canonical Order → sale lines and values, Refund → credit-note lines, expected totals.

No lookups here: the target resolves product codes, taxes and parties and passes their Tryton ids in.
Amounts are Decimal in the order currency; unit prices excluding tax with Tryton's 4 price decimals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from shared.domain.order import Charge, Order, OrderLine, Refund
from shared.domain.rules.mapping import item_code_for, shipping_item_code
from shared.errors import PermanentError

ZERO = Decimal("0")
CENT = Decimal("0.01")
PRICE_DIGITS = Decimal("0.0001")  # trytond's default price_decimal
SHIPPING_CODE = "SHIPPING"
FEE_CODE = "FEE"

# Store tax classes when the store did not send a rate (WooCommerce standard classes, Spanish rates).
TAX_CLASS_RATES = {"": Decimal("21"), "standard": Decimal("21"), "reduced-rate": Decimal("10"), "zero-rate": ZERO}


@dataclass(frozen=True)
class ErpLine:
    """One line we ask Tryton for, with the amounts the store computed for it."""

    key: str  # "line:<line_id>", "shipping:<charge_id>", "fee:<n>": ties a Tryton line back to the store's
    product_code: str
    description: str
    quantity: Decimal  # negative on a credit note
    unit_price: Decimal  # excluding tax
    tax_rate: Decimal  # percent
    amount: Decimal  # excluding tax, as the store has it (negative on a credit note)
    tax: Decimal


@dataclass(frozen=True)
class Totals:
    untaxed: Decimal
    tax: Decimal
    total: Decimal


def external_reference(order: Order) -> str:
    return f"{order.store_id}:{order.order_id}"


def refund_reference(order: Order, refund_id: str) -> str:
    return f"{order.store_id}:{order.order_id}:refund:{refund_id}"


def refund_description(order: Order, refund: Refund) -> str:
    """The credit note's description: it keeps the refund's own date, since the credit note is dated when issued."""
    return f"Refund {refund.refund_id} of {refund.created_at:%Y-%m-%d} for order {order.number}"


def cancel_reference(order: Order) -> str:
    return f"{order.store_id}:{order.order_id}:cancel"


def tax_rate(rate: Decimal | None, amount: Decimal, tax: Decimal, tax_class: str, taxable: bool) -> Decimal:
    """The line's tax rate in percent: the store's, else derived from its amounts, else from its tax class."""
    if not taxable:
        return ZERO
    if rate is not None:
        return rate.normalize() if rate else ZERO
    if amount:
        return (tax / amount * 100).quantize(Decimal("1"), ROUND_HALF_UP)
    return TAX_CLASS_RATES.get(tax_class, TAX_CLASS_RATES[""])


def unit_price(amount: Decimal, tax: Decimal, quantity: Decimal, rate: Decimal, prices_include_tax: bool) -> Decimal:
    """Excluding-tax unit price that makes Tryton's line amount and tax land on the store's.

    A store with prices including tax derives its net from the gross, so the net line total has lost precision
    already: start again from the gross, as the store did, and keep 4 decimals.
    """
    if not quantity:
        return ZERO
    net = (amount + tax) / (1 + rate / 100) if prices_include_tax and rate else amount
    return (net / quantity).quantize(PRICE_DIGITS, ROUND_HALF_UP)


def product_code(line: OrderLine, item_codes: Mapping[str, str] | None) -> str:
    """The Tryton product code: the line's item code (shared.domain.rules.mapping.item_code_for: the SKU map, or the
    SKU itself with products.match: sku), else the SKU itself. Tryton refuses a code it does not know."""
    return (item_code_for(line, item_codes) if item_codes is not None else None) or line.sku


def _product_line(order: Order, line: OrderLine, item_codes: Mapping[str, str] | None) -> ErpLine:
    rate = tax_rate(line.tax_rate, line.total, line.tax, line.tax_class, line.taxable)
    return ErpLine(
        key=f"line:{line.line_id}",
        product_code=product_code(line, item_codes),
        description=line.name or line.sku,
        quantity=line.quantity,
        unit_price=unit_price(line.total, line.tax, line.quantity, rate, order.prices_include_tax),
        tax_rate=rate,
        amount=line.total,
        tax=line.tax,
    )


def charge_code(charge: Charge, rules: Mapping[str, Any] | None) -> str:
    """The Tryton product for shipping or a fee: the store's `rules.transforms` map (shipping method or fee
    name → item code), else the demo SHIPPING / FEE service products."""
    mapped = shipping_item_code(charge, rules) if rules else None
    return mapped or (SHIPPING_CODE if charge.kind == "shipping" else FEE_CODE)


def _charge_line(order: Order, charge: Charge, index: int, rules: Mapping[str, Any] | None) -> ErpLine:
    rate = tax_rate(charge.tax_rate, charge.amount, charge.tax, charge.tax_class, charge.taxable)
    return ErpLine(
        key=f"{charge.kind}:{charge.charge_id or index}",
        product_code=charge_code(charge, rules),
        description=charge.name or charge.kind.capitalize(),
        quantity=Decimal("1"),
        unit_price=unit_price(charge.amount, charge.tax, Decimal("1"), rate, order.prices_include_tax),
        tax_rate=rate,
        amount=charge.amount,
        tax=charge.tax,
    )


def sale_lines(
    order: Order, item_codes: Mapping[str, str] | None = None, rules: Mapping[str, Any] | None = None
) -> list[ErpLine]:
    """Product lines in store order, then shipping, then fees (zero shipping is left out)."""
    lines = [_product_line(order, line, item_codes) for line in order.lines if line.quantity]
    lines += [_charge_line(order, c, i, rules) for i, c in enumerate(order.shipping) if c.amount or c.tax]
    lines += [_charge_line(order, c, i, rules) for i, c in enumerate(order.fees) if c.amount or c.tax]
    return lines


def order_totals(order: Order) -> Totals:
    return Totals(untaxed=order.total - order.tax_total, tax=order.tax_total, total=order.total)


def credit_lines(
    order: Order, refund: Refund, item_codes: Mapping[str, str] | None = None, rules: Mapping[str, Any] | None = None
) -> list[ErpLine]:
    """Exactly the refunded lines and amounts, as negative quantities (Tryton's out credit note convention).

    An amount-only refund of a line (quantity 0) credits one unit at the refunded amount. Money not tied to a
    line or shipping cannot be booked to the right tax and account, so it is refused for a person to decide.
    """
    if refund.unallocated:
        raise PermanentError(
            "refund_unallocated",
            {"refund": refund.refund_id, "amount": str(refund.unallocated), "currency": order.currency},
        )
    by_id = {line.line_id: line for line in order.lines}
    lines: list[ErpLine] = []
    for refunded in refund.lines:
        original = by_id.get(refunded.line_id)
        if original is None:
            raise PermanentError("refund_unknown_line", {"refund": refund.refund_id, "line": refunded.line_id})
        rate = tax_rate(original.tax_rate, original.total, original.tax, original.tax_class, original.taxable)
        quantity = refunded.quantity or Decimal("1")
        lines.append(
            ErpLine(
                key=f"line:{original.line_id}",
                product_code=product_code(original, item_codes),
                description=original.name or original.sku,
                quantity=-quantity,
                unit_price=unit_price(refunded.amount, refunded.tax, quantity, rate, order.prices_include_tax),
                tax_rate=rate,
                amount=-refunded.amount,
                tax=-refunded.tax,
            )
        )
    if refund.shipping or refund.shipping_tax:
        charge = order.shipping[0] if order.shipping else Charge(kind="shipping", amount=refund.shipping)
        rate = tax_rate(charge.tax_rate, refund.shipping, refund.shipping_tax, charge.tax_class, charge.taxable)
        lines.append(
            ErpLine(
                key=f"shipping:{charge.charge_id or 0}",
                product_code=charge_code(charge, rules),
                description=charge.name or "Shipping",
                quantity=Decimal("-1"),
                unit_price=unit_price(refund.shipping, refund.shipping_tax, Decimal(1), rate, order.prices_include_tax),
                tax_rate=rate,
                amount=-refund.shipping,
                tax=-refund.shipping_tax,
            )
        )
    return lines


def refund_totals(refund: Refund) -> Totals:
    untaxed = refund.lines_total + refund.shipping
    return Totals(untaxed=-untaxed, tax=-refund.tax_total, total=-(untaxed + refund.tax_total))


def lines_totals(lines: list[ErpLine]) -> Totals:
    untaxed = sum((line.amount for line in lines), ZERO)
    tax = sum((line.tax for line in lines), ZERO)
    return Totals(untaxed=untaxed, tax=tax, total=untaxed + tax)


def missing_products(lines: list[ErpLine], products: Mapping[str, Any]) -> list[str]:
    return sorted({line.product_code or "(no SKU)" for line in lines if line.product_code not in products})


def missing_taxes(lines: list[ErpLine], taxes: Mapping[Decimal, int]) -> list[Decimal]:
    return sorted({line.tax_rate for line in lines if line.tax_rate not in taxes})


def sale_line_values(
    line: ErpLine, products: Mapping[str, tuple[int, int]], taxes: Mapping[Decimal, int], sequence: int
) -> dict[str, Any]:
    """sale.line values: over RPC no on_change runs, so unit and taxes are set here, not by Tryton."""
    product_id, unit_id = products[line.product_code]
    return {
        "type": "line",
        "sequence": sequence,
        "product": product_id,
        "unit": unit_id,
        # Tryton's quantity is a Float field; store quantities are small whole or 3-decimal numbers.
        "quantity": float(line.quantity),
        "unit_price": line.unit_price,
        "description": line.description,
        "note": line.key,
        "taxes": [("add", [taxes[line.tax_rate]])],
    }


def sale_values(
    order: Order,
    lines: list[ErpLine],
    *,
    party_id: int,
    address_id: int | None,
    products: Mapping[str, tuple[int, int]],
    taxes: Mapping[Decimal, int],
    currency_id: int,
    payment_term_id: int | None,
    warehouse_id: int | None,
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "party": party_id,
        "invoice_party": party_id,
        "shipment_party": party_id,
        "reference": external_reference(order),
        "description": order.number,
        "sale_date": order.created_at.date(),
        "currency": currency_id,
        "invoice_method": "order",
        "shipment_method": "order",
        "lines": [("create", [sale_line_values(line, products, taxes, i + 1) for i, line in enumerate(lines)])],
    }
    if address_id is not None:
        values["invoice_address"] = address_id
        values["shipment_address"] = address_id
    if payment_term_id is not None:
        values["payment_term"] = payment_term_id
    if warehouse_id is not None:
        values["warehouse"] = warehouse_id
    return values
