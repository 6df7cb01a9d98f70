"""VAT arithmetic for the UBL documents: the category of a line or charge, its rate, and the tax per category.

Pure functions; the rules they follow are listed in the mapper's docstring (categories S, Z, E, AE, K, G, O and
BR-CO-17 rounding).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from shared.domain.order import Charge, Order, Refund
from shared.errors import PermanentError
from shared.stores import InvoiceSettings, Seller
from shared.targets.ubl import codes
from shared.targets.ubl.amounts import CENT, ZERO, money, number_text

_CATEGORY_ORDER = ["S", "Z", "AE", "K", "G", "E", "O"]  # the breakdown order, highest rate first within one


@dataclass(frozen=True)
class TaxCategory:
    code: str  # UNCL5305: S, Z, E, AE, K, G, O
    rate: Decimal | None  # None for O (BR-O-05: no rate)

    @property
    def sort_key(self) -> tuple[int, Decimal]:
        known = self.code in _CATEGORY_ORDER
        return (_CATEGORY_ORDER.index(self.code) if known else 99, -(self.rate or ZERO))


def vat_amount(taxable: Decimal, rate: Decimal) -> Decimal:
    """BR-CO-17 as the CEN Schematron computes it: XPath round(x * 100) div 100, i.e. half towards +infinity."""
    return (taxable * rate / Decimal(100) * 100 + Decimal("0.5")).to_integral_value(rounding=ROUND_FLOOR) / 100


def category(
    rate: Decimal, seller: Seller, buyer_country: str, buyer_vat_id: str, invoice: InvoiceSettings
) -> TaxCategory:
    """The VAT category of a line or charge taxed at `rate`, given who sells to whom and the store's settings."""
    if rate > 0:
        if invoice.default_tax_category == "O":
            raise PermanentError("tax_category_conflict", {"rate": number_text(rate)})
        return TaxCategory("S", rate)
    if seller.country in codes.EU_MEMBER_STATES:
        if buyer_country in codes.EU_MEMBER_STATES and buyer_country != seller.country and buyer_vat_id:
            return TaxCategory(invoice.intra_eu_b2b, ZERO)
        if buyer_country not in codes.EU_MEMBER_STATES:
            return TaxCategory("G", ZERO)
    if invoice.default_tax_category == "O":
        return TaxCategory("O", None)
    if invoice.default_tax_category == "E":
        return TaxCategory("E", ZERO)
    return TaxCategory("Z", ZERO)


def rate(stated: Decimal | None, taxable: bool, net: Decimal, tax: Decimal, where: Mapping[str, str]) -> Decimal:
    """The percentage the store applied; derived from the amounts when the store did not state it. `where` names
    the line or charge for the refusal: `where_text` (a word.* key) and the values it takes."""
    if stated is not None:
        return stated
    if not taxable or tax == 0:
        return ZERO
    if net != 0:
        derived = (tax / net * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        if abs(money(net * derived / 100) - tax) <= CENT:
            return derived.normalize()
    raise PermanentError("tax_rate_unknown", dict(where))


def line_where(line_id: str, key: str = "word.line_id") -> dict[str, str]:
    """An order line by its store id ("line 7"); `key` "word.refunded_line" for a refund's line."""
    return {"where_text": key, "line_id": line_id}


def charge_where(charge: Charge) -> dict[str, str]:
    key = "word.charge_shipping" if charge.kind == "shipping" else "word.charge_fee"
    return {"where_text": key, "charge": charge.name}


def shipping_rate(order: Order, refund: Refund) -> Decimal:
    """The rate of refunded shipping: the order's single shipping rate, else derived from the refund's amounts."""
    rates = {r for c in order.shipping if c.amount and (r := c.tax_rate) is not None}
    if len(rates) == 1:
        return rates.pop()
    return rate(None, True, refund.shipping, refund.shipping_tax, {"where_text": "word.refunded_shipping"})


def order_rates(order: Order) -> set[Decimal]:
    """Every rate the order's lines and charges with money use."""
    rates: set[Decimal] = set()
    for line in order.lines:
        if line.total:
            rates.add(rate(line.tax_rate, line.taxable, line.total, line.tax, line_where(line.line_id)))
    for charge in [*order.shipping, *order.fees]:
        if charge.amount:
            rates.add(rate(charge.tax_rate, charge.taxable, charge.amount, charge.tax, charge_where(charge)))
    return rates
