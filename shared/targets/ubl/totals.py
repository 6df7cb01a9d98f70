"""Totals of a UBL document: the lines and document charges it books, and the EN 16931 totals they add up to.

Pure functions. The VAT per category follows BR-CO-17; the difference to what the buyer paid (a cent per line or
charge at most) becomes PayableRoundingAmount (BT-114), a larger one is a refusal (totals_mismatch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from shared.errors import PermanentError
from shared.targets.ubl.amounts import CENT, ZERO, money
from shared.targets.ubl.taxes import TaxCategory, vat_amount


@dataclass
class DocumentLine:
    name: str
    item_code: str
    quantity: Decimal
    unit_code: str
    price: Decimal
    net: Decimal
    category: TaxCategory
    allowance: Decimal = ZERO


@dataclass
class DocumentCharge:
    is_charge: bool
    reason_code: str
    reason: str
    amount: Decimal  # positive
    category: TaxCategory


@dataclass
class Totals:
    lines: Decimal
    allowances: Decimal
    charges: Decimal
    tax_exclusive: Decimal
    tax: Decimal
    tax_inclusive: Decimal
    prepaid: Decimal
    rounding: Decimal
    payable: Decimal
    breakdown: list[tuple[TaxCategory, Decimal, Decimal]] = field(default_factory=list)  # (category, base, tax)


def net_price(quantity: Decimal, price: Decimal, allowance: Decimal, net: Decimal) -> Decimal:
    """The store's unit price if it explains the line net amount within PEPPOL-EN16931-R120's 2 cents; otherwise
    the price that does (stores round line totals their own way)."""
    if quantity and abs(quantity * price - allowance - net) > CENT:
        price = ((net + allowance) / quantity).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
    return price


def totals(lines: list[DocumentLine], charges: list[DocumentCharge], expected: Decimal, prepaid: Decimal) -> Totals:
    """The document totals and VAT breakdown; `expected` is what the buyer paid (or was refunded)."""
    if not lines:
        raise PermanentError("no_lines")
    categories = {line.category for line in lines} | {c.category for c in charges}
    if any(c.code == "O" for c in categories) and len(categories) > 1:
        raise PermanentError("tax_category_conflict", text="error.tax_category_mixed")
    bases: dict[TaxCategory, Decimal] = {}
    for line in lines:
        bases[line.category] = bases.get(line.category, ZERO) + line.net
    for c in charges:
        bases[c.category] = bases.get(c.category, ZERO) + (c.amount if c.is_charge else -c.amount)
    breakdown = [
        (category, base, vat_amount(base, category.rate) if category.rate else ZERO)
        for category, base in sorted(bases.items(), key=lambda item: item[0].sort_key)
    ]
    line_total = sum((line.net for line in lines), ZERO)
    allowances = sum((c.amount for c in charges if not c.is_charge), ZERO)
    charge_total = sum((c.amount for c in charges if c.is_charge), ZERO)
    tax_exclusive = line_total - allowances + charge_total
    tax = sum((t for _, _, t in breakdown), ZERO)
    tax_inclusive = tax_exclusive + tax
    expected = money(expected)
    rounding = expected - tax_inclusive
    tolerance = CENT * (len(lines) + len(charges))
    if abs(rounding) > tolerance:
        raise PermanentError(
            "totals_mismatch",
            {"expected": str(expected), "computed": str(tax_inclusive)},
            detail=f"difference {rounding}, tolerance {tolerance}",
        )
    prepaid = money(prepaid)
    return Totals(
        lines=line_total,
        allowances=allowances,
        charges=charge_total,
        tax_exclusive=tax_exclusive,
        tax=tax,
        tax_inclusive=tax_inclusive,
        prepaid=prepaid,
        rounding=rounding,
        payable=tax_inclusive - prepaid + rounding,
        breakdown=breakdown,
    )


@dataclass(frozen=True)
class Exchange:
    """The seller's accounting currency (BT-6) when the document is in another one, with the VAT total in it
    (BT-111), the rate used (accounting units per document unit) and where the rate comes from."""

    currency: str
    rate: Decimal
    tax: Decimal
    source: str
    document_currency: str

    @property
    def note(self) -> str:
        return f"Exchange rate 1 {self.document_currency} = {self.rate} {self.currency} ({self.source})."


def exchange(
    currency: str, accounting: str, shop: tuple[str, Decimal | None], total: Decimal, tax: Decimal
) -> Exchange:
    """The Exchange for a document in `currency` whose seller keeps `accounting`. The rate is the one the shop
    used: its own total over the total the customer paid (`shop` = the shop's currency and total, as the order
    carries them). Without such a rate the document is refused rather than issued in the other currency."""
    shop_currency, shop_total = shop
    if shop_currency != accounting or not shop_total or not total:
        raise PermanentError("exchange_rate_missing", {"currency": currency, "accounting": accounting})
    rate = (shop_total / total).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
    source = f"the shop's own conversion: {money(shop_total)} {accounting} for {money(total)} {currency}"
    return Exchange(accounting, rate, money(tax * shop_total / total), source, currency)
