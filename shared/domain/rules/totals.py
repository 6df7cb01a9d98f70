"""Money arithmetic and the reconciliation of an order's figures: lines, discounts, shipping, fees, tax, total.

We recompute what the store should have sent and compare within the store's tolerances, so a discount
counted twice or a total that does not add up is held before it becomes an invoice.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from shared.domain.order import ZERO, Order
from shared.domain.records import Problem
from shared.domain.rules.messages import problem
from shared.domain.rules.settings import RulesSettings

# ISO 4217 minor units that are not 2 (the currencies our stores are likely to meet).
_MINOR_UNITS = {
    "CLP": 0, "ISK": 0, "JPY": 0, "KRW": 0, "PYG": 0, "UGX": 0, "VND": 0, "XAF": 0, "XOF": 0,
    "BHD": 3, "JOD": 3, "KWD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip


def minor_unit(currency: str) -> int:
    return _MINOR_UNITS.get(currency.upper(), 2)


def round_money(value: Decimal, currency: str) -> Decimal:
    """Half-up to the currency's minor unit, as tax authorities and shop systems round."""
    return value.quantize(Decimal(1).scaleb(-minor_unit(currency)), rounding=ROUND_HALF_UP)


def half_minor(currency: str) -> Decimal:
    return Decimal(5).scaleb(-minor_unit(currency) - 1)


def money(value: Decimal, currency: str) -> str:
    return f"{round_money(value, currency)} {currency}"


def document_tolerance(order: Order, rules: RulesSettings) -> Decimal:
    """Per document, plus the per-line allowance for stores that round each line (documented in RULES.md)."""
    items = len(order.lines) + len(order.shipping) + len(order.fees)
    return rules.totals_tolerance + rules.totals_tolerance_per_line * items


def line_words(order: Order, index: int, name: str = "line") -> dict[str, str]:
    """A line named in a problem, "line 3 (BLUE-MUG-350ML)": `<name>_text` holds the catalog key `word.line`, the
    other values fill it."""
    line = order.lines[index]
    return {f"{name}_text": "word.line", "line": str(index + 1), "label": line.sku or line.name or line.line_id}


def line_problems(order: Order, rules: RulesSettings) -> list[Problem]:
    """Each line's own arithmetic: quantity x unit price = subtotal, subtotal - discount = total."""
    problems: list[Problem] = []
    cur = order.currency
    line_tolerance = rules.totals_tolerance + rules.totals_tolerance_per_line
    for index, line in enumerate(order.lines):
        named = line_words(order, index)
        # A unit price the store rounded to the cent may be off by half a cent per unit
        # (WooCommerce derives it from the line subtotal when prices include tax).
        subtotal_tolerance = line_tolerance + abs(line.quantity) * half_minor(cur)
        expected_subtotal = line.quantity * line.unit_price
        if abs(expected_subtotal - line.subtotal) > subtotal_tolerance:
            problems.append(
                problem(
                    "totals_mismatch",
                    field=f"lines[{index}].subtotal",
                    expected=round_money(expected_subtotal, cur),
                    found=line.subtotal,
                    what_text="word.total_line_subtotal",
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    **named,
                )
            )
        expected_total = line.subtotal - line.discount
        if abs(expected_total - line.total) > line_tolerance:
            problems.append(
                problem(
                    "totals_mismatch",
                    field=f"lines[{index}].total",
                    expected=round_money(expected_total, cur),
                    found=line.total,
                    what_text="word.total_line_total",
                    **named,
                )
            )
    return problems


def discount_problems(order: Order, rules: RulesSettings) -> list[Problem]:
    """Line discounts must add up to the order discount; coupons cannot give more than that."""
    problems: list[Problem] = []
    cur = order.currency
    tolerance = document_tolerance(order, rules)
    for index, line in enumerate(order.lines):
        if line.quantity > 0 and line.discount > line.subtotal + rules.totals_tolerance:
            problems.append(
                problem(
                    "discount_mismatch",
                    field=f"lines[{index}].discount",
                    expected=f"at most {line.subtotal}",
                    found=line.discount,
                    detail_text="word.discount_line_exceeds",
                    **line_words(order, index),
                )
            )
    line_discounts = sum((line.discount for line in order.lines), ZERO)
    if abs(line_discounts - order.discount_total) > tolerance:
        problems.append(
            problem(
                "discount_mismatch",
                field="discount_total",
                expected=round_money(line_discounts, cur),
                found=order.discount_total,
                detail_text="word.discount_lines_differ",
            )
        )
    coupons = sum((coupon.amount for coupon in order.coupons), ZERO)
    if coupons > order.discount_total + tolerance:
        problems.append(
            problem(
                "discount_mismatch",
                field="coupons",
                expected=f"at most {order.discount_total}",
                found=round_money(coupons, cur),
                detail_text="word.discount_coupons_exceed",
            )
        )
    return problems


def totals_problems(order: Order, rules: RulesSettings) -> list[Problem]:
    """Order-level sums: shipping total, tax total, and lines + shipping + fees + tax = total."""
    problems: list[Problem] = []
    cur = order.currency
    tolerance = document_tolerance(order, rules)
    shipping = sum((charge.amount for charge in order.shipping), ZERO)
    if abs(shipping - order.shipping_total) > tolerance:
        problems.append(
            problem(
                "totals_mismatch",
                field="shipping_total",
                expected=round_money(shipping, cur),
                found=order.shipping_total,
                what_text="word.total_shipping",
            )
        )
    item_tax = sum((line.tax for line in order.lines), ZERO)
    item_tax += sum((charge.tax for charge in (*order.shipping, *order.fees)), ZERO)
    if abs(item_tax - order.tax_total) > tolerance:
        problems.append(
            problem(
                "totals_mismatch",
                field="tax_total",
                expected=round_money(item_tax, cur),
                found=order.tax_total,
                what_text="word.total_tax",
            )
        )
    lines = sum((line.total for line in order.lines), ZERO)
    fees = sum((charge.amount for charge in order.fees), ZERO)
    expected = lines + shipping + fees + order.tax_total
    if abs(expected - order.total) <= tolerance:
        return problems
    discount = order.discount_total
    if discount > 0 and abs(expected - discount - order.total) <= tolerance:
        # The line totals already carry the discount; a total lower by exactly that much took it off again.
        problems.append(
            problem(
                "discount_mismatch",
                field="total",
                expected=round_money(expected, cur),
                found=order.total,
                detail_text="word.discount_twice",
                discount=money(discount, cur),
            )
        )
    else:
        problems.append(
            problem(
                "totals_mismatch",
                field="total",
                expected=round_money(expected, cur),
                found=order.total,
                what_text="word.total_order",
            )
        )
    return problems
