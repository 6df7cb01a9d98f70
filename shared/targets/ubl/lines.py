"""The lines and document charges a UBL invoice or credit note books, from the order's lines, shipping and fees
and from a refund's lines (pure; amounts in cents, each with its VAT category)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from shared.domain.order import Charge, Order, OrderLine, Refund, RefundLine
from shared.domain.rules.mapping import item_code_for
from shared.errors import PermanentError
from shared.stores import InvoiceSettings, Seller
from shared.targets.ubl import codes, taxes
from shared.targets.ubl.amounts import CENT, ZERO, money
from shared.targets.ubl.codes import clean_text
from shared.targets.ubl.parties import Buyer
from shared.targets.ubl.totals import DocumentCharge, DocumentLine, net_price


def _category(rate: Decimal, seller: Seller, buyer: Buyer, invoice: InvoiceSettings) -> taxes.TaxCategory:
    return taxes.category(rate, seller, buyer.country, buyer.vat_id, invoice)


def billable(line: OrderLine) -> bool:
    # WooCommerce keeps lines whose quantity was edited to 0; they carry no money and no goods.
    return not (line.quantity == 0 and line.total == 0)


def _item_code(line: OrderLine, item_codes: Mapping[str, str]) -> str:
    # The item code validation found (SKU map, the SKU itself with products.match: sku, products.custom_item);
    # else the SKU as it is.
    return clean_text(item_code_for(line, item_codes) or line.sku)


def order_line(
    line: OrderLine,
    seller: Seller,
    buyer: Buyer,
    invoice: InvoiceSettings,
    item_codes: Mapping[str, str],
) -> DocumentLine:
    if line.quantity <= 0 or line.unit_price < 0:
        raise PermanentError("line_not_invoiceable", {"line": line.line_id})
    net = money(line.total)
    allowance = money(line.discount) if line.discount > 0 else ZERO
    rate = taxes.rate(line.tax_rate, line.taxable, line.total, line.tax, taxes.line_where(line.line_id))
    return DocumentLine(
        name=clean_text(line.name) or clean_text(line.sku) or f"Item {line.line_id}",
        item_code=_item_code(line, item_codes),
        quantity=line.quantity,
        unit_code=codes.UNIT_PIECE,
        price=net_price(line.quantity, line.unit_price, allowance, net),
        net=net,
        category=_category(rate, seller, buyer, invoice),
        allowance=allowance,
    )


def order_charges(order: Order, seller: Seller, buyer: Buyer, invoice: InvoiceSettings) -> list[DocumentCharge]:
    result: list[DocumentCharge] = []
    for charge in [*order.shipping, *order.fees]:
        amount = money(charge.amount)
        if amount == 0:
            continue
        rate = taxes.rate(charge.tax_rate, charge.taxable, charge.amount, charge.tax, taxes.charge_where(charge))
        category = _category(rate, seller, buyer, invoice)
        if amount < 0:
            reason = _charge_reason(charge, "Discount")
            result.append(DocumentCharge(False, codes.ALLOWANCE_DISCOUNT, reason, -amount, category))
        elif charge.kind == "shipping":
            reason = _charge_reason(charge, "Shipping")
            result.append(DocumentCharge(True, codes.CHARGE_FREIGHT, reason, amount, category))
        else:
            reason = _charge_reason(charge, "Fee")
            result.append(DocumentCharge(True, codes.CHARGE_MISCELLANEOUS, reason, amount, category))
    return result


def _charge_reason(charge: Charge, fallback: str) -> str:
    return clean_text(charge.name) or clean_text(charge.code) or fallback


def refund_line(
    order: Order,
    refunded: RefundLine,
    seller: Seller,
    buyer: Buyer,
    invoice: InvoiceSettings,
    item_codes: Mapping[str, str],
) -> DocumentLine:
    original = next((line for line in order.lines if line.line_id == refunded.line_id), None)
    sku = refunded.sku or (original.sku if original else "")
    stated = original.tax_rate if original else None
    taxable = original.taxable if original else True
    if original is not None and stated is None:
        stated = taxes.rate(None, taxable, original.total, original.tax, taxes.line_where(original.line_id))
    where = taxes.line_where(refunded.line_id, "word.refunded_line")
    rate = taxes.rate(stated, taxable, refunded.amount, refunded.tax, where)
    # An amount-only refund of a line (quantity 0) is credited as one unit of that amount.
    quantity = refunded.quantity if refunded.quantity > 0 else Decimal(1)
    net = money(refunded.amount)
    return DocumentLine(
        name=clean_text(original.name if original else "") or clean_text(sku) or f"Refund of line {refunded.line_id}",
        item_code=_item_code(original, item_codes) if original else clean_text(item_codes.get(sku, sku)),
        quantity=quantity,
        unit_code=codes.UNIT_PIECE if refunded.quantity > 0 else codes.UNIT_ONE,
        price=net_price(quantity, (refunded.amount / quantity).quantize(Decimal("0.000001")), ZERO, net),
        net=net,
        category=_category(rate, seller, buyer, invoice),
    )


def refund_charges(
    order: Order, refund: Refund, seller: Seller, buyer: Buyer, invoice: InvoiceSettings
) -> list[DocumentCharge]:
    """Refunded shipping as a freight charge at the order's shipping rate; nothing when none was refunded."""
    if not refund.shipping:
        return []
    category = _category(taxes.shipping_rate(order, refund), seller, buyer, invoice)
    return [DocumentCharge(True, codes.CHARGE_FREIGHT, "Shipping", money(refund.shipping), category)]


def unallocated_line(
    order: Order, refund: Refund, seller: Seller, buyer: Buyer, invoice: InvoiceSettings, parts: int
) -> DocumentLine | None:
    """What the refund gave back beyond its lines and shipping, as one line at the order's single rate."""
    remainder = refund.unallocated
    if abs(remainder) <= CENT * max(1, parts):
        return None  # rounding between the store's refund total and its parts
    if remainder < 0:
        raise PermanentError("refund_inconsistent", {"refund": refund.refund_id})
    rates = taxes.order_rates(order)
    if len(rates) != 1:
        raise PermanentError("refund_needs_lines", {"refund": refund.refund_id})
    rate = rates.pop()
    net = money(remainder / (1 + rate / 100))
    return DocumentLine(
        name=f"Refund {refund.refund_id}",
        item_code="",
        quantity=Decimal(1),
        unit_code=codes.UNIT_ONE,
        price=net,
        net=net,
        category=_category(rate, seller, buyer, invoice),
    )
