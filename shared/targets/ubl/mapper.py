"""Pure mapping of a canonical order (and a refund) to Peppol BIS Billing 3.0 UBL 2.1 Invoice / CreditNote XML.

Called by the UBL outbox target when the invoicing stage issues a document; no I/O. Decisions taken where the
order does not say what EN 16931 needs:

- Lines: quantity in H87 (piece), Price = OrderLine.unit_price (net, excl. tax); a line discount (coupons are
  already allocated to lines by both stores) becomes a line allowance (reason code 95) and the line net amount is
  OrderLine.total rounded to cents. Order.coupons / discount_total are not booked again.
- Shipping becomes a document-level charge (UNCL7161 "FC"), a positive fee a charge ("ABK", its name as reason),
  a negative fee a document allowance ("95"); each with its own VAT category and rate. Free shipping is left out.
- VAT category per line/charge: rate > 0 → S; rate 0 with a buyer in another EU state who has a VAT id → the
  store's invoice.intra_eu_b2b: K (default; intra-community supply of goods, VATEX-EU-IC) or AE (reverse charge,
  for sellers of services, VATEX-EU-AE); rate 0 with a buyer outside the EU → G (VATEX-EU-G); other rate 0 → the
  store's default_tax_category when it is E or O, else Z. O cannot be mixed with other categories (BR-O-11..14) and
  then no VAT ids are shown (BR-O-02).
- K (invoice and credit note alike) shows both VAT ids (BR-IC-02..04) and the Delivery group: ActualDeliveryDate
  (BT-72, BR-IC-11) and the deliver-to address with its country (BT-80, BR-IC-12). Store orders carry no shipping
  date, so the delivery date is the day the order was paid (Order.paid_at, UTC), else the day it was created; the
  deliver-to address is the shipping address, else the billing address. Goods that do not leave the seller's
  country for another member state are no intra-community supply: PermanentError("intra_community_not_dispatched").
- VAT per category follows BR-CO-17: taxable amount x rate / 100, rounded half up to cents, whatever the store
  summed per line. The difference between the store's figures and the EN 16931 total (at most a cent per line or
  charge, from per-line rounding and net prices with more than two decimals) goes into PayableRoundingAmount
  (BT-114), so the document still adds up to what the buyer paid; a larger difference is a PermanentError
  ("totals_mismatch") because the order itself does not add up.
- A paid order (Order.paid_at set) shows PrepaidAmount = Order.total and PayableAmount 0; an unpaid one shows
  PayableAmount = Order.total and a DueDate = issue date (BR-CO-25). A credit note books a refund the store has
  already paid back: PrepaidAmount = Refund.amount, PayableAmount 0.
- Buyer electronic address (BT-49, mandatory in Peppol, PEPPOL-EN16931-R010): the buyer's VAT number under its
  country's Peppol VAT scheme when there is one; otherwise the e-mail with scheme "EM". EM is in the CEN EAS list
  but not in Peppol's, so a consumer's document fails PEPPOL-EN16931-CL008: Peppol has no address for consumers,
  and such a document is for the archive / e-mail, not for the Peppol network. Without an e-mail it is omitted.
- Seller electronic address: Seller.endpoint_id / endpoint_scheme, defaulting to the VAT id under its country's
  scheme, else the seller's e-mail ("EM"); none of them → PermanentError("seller_endpoint_missing"). Where Peppol
  checks an identifier's form the VAT number is cut to it (Sweden 0007, Norway 0192, Denmark 0184).
- What the validators would refuse and the order cannot fix is a PermanentError, never a written document: a country
  or currency outside ISO 3166-1 / 4217 (Kosovo's XK becomes EN 16931's 1A), a payment means outside UNCL4461, direct
  debit (49/59) without the mandate reference Peppol requires (R061). Characters XML cannot carry (control
  characters) are dropped from names and addresses; a VAT number whose prefix is not an ISO code is left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from lxml import etree

from shared.domain.order import Address, Charge, Order, OrderLine, Refund, RefundLine
from shared.domain.records import DocumentRef
from shared.errors import PermanentError
from shared.stores import InvoiceSettings, Seller
from shared.targets.ubl import codes

CENT = Decimal("0.01")
ZERO = Decimal("0")
_NSMAP_BASE: dict[str | None, str] = {"cac": codes.NS_CAC, "cbc": codes.NS_CBC}
_CAC = f"{{{codes.NS_CAC}}}"
_CBC = f"{{{codes.NS_CBC}}}"
_CREDIT_TRANSFER = {"30", "31", "42", "58"}  # UNCL4461 codes paid into the seller's account (BG-17)
# Characters XML 1.0 cannot carry (control characters, lone surrogates, U+FFFE/U+FFFF). Stores pass them through
# from pasted product names and addresses; lxml refuses them, so they are dropped rather than failing the order.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# --------------------------------------------------------------------------- amounts


def money(value: Decimal) -> Decimal:
    """Round an amount to cents, half up (BR-DEC-*: at most two decimals)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def vat_amount(taxable: Decimal, rate: Decimal) -> Decimal:
    """BR-CO-17 as the CEN Schematron computes it: XPath round(x * 100) div 100, i.e. half towards +infinity."""
    return (taxable * rate / Decimal(100) * 100 + Decimal("0.5")).to_integral_value(rounding=ROUND_FLOOR) / 100


def _amount_text(value: Decimal) -> str:
    return f"{money(value):f}"


def _number_text(value: Decimal) -> str:
    """Quantities, prices and percentages: as many decimals as needed, never exponent notation."""
    text = f"{value.normalize():f}"
    return text if text != "-0" else "0"


# --------------------------------------------------------------------------- the document model


@dataclass(frozen=True)
class TaxCategory:
    code: str  # UNCL5305: S, Z, E, AE, K, G, O
    rate: Decimal | None  # None for O (BR-O-05: no rate)

    @property
    def sort_key(self) -> tuple[int, Decimal]:
        order = ["S", "Z", "AE", "K", "G", "E", "O"]
        return (order.index(self.code) if self.code in order else 99, -(self.rate or ZERO))


@dataclass
class _Line:
    name: str
    item_code: str
    quantity: Decimal
    unit_code: str
    price: Decimal
    net: Decimal
    category: TaxCategory
    allowance: Decimal = ZERO


@dataclass
class _DocumentCharge:
    is_charge: bool
    reason_code: str
    reason: str
    amount: Decimal  # positive
    category: TaxCategory


@dataclass
class _Totals:
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


@dataclass(frozen=True)
class _Buyer:
    name: str
    address: Address
    country: str
    vat_id: str  # with country prefix, "" when unknown
    email: str


# --------------------------------------------------------------------------- public interface


def invoice_xml(
    order: Order,
    seller: Seller | None,
    invoice: InvoiceSettings,
    number: str,
    issue_date: date,
    item_codes: Mapping[str, str],
) -> bytes:
    """The Peppol BIS 3.0 invoice (type 380) for the order. Raises PermanentError when the order or the store
    settings cannot make a valid invoice (codes: seller_missing, seller_vat_missing, seller_endpoint_missing,
    seller_iban_missing, buyer_name_missing, buyer_country_missing, tax_rate_unknown, tax_category_conflict,
    totals_mismatch, no_lines, and for K: intra_community_not_dispatched, delivery_country_invalid)."""
    seller = _require_seller(seller)
    buyer = _buyer(order)
    lines = [_order_line(order, line, seller, buyer, invoice, item_codes) for line in order.lines if _billable(line)]
    charges = _order_charges(order, seller, buyer, invoice)
    totals = _totals(lines, charges, expected=order.total, prepaid=order.total if order.paid_at else ZERO)
    root = _document(
        "Invoice", order, seller, buyer, invoice, number, issue_date, lines, charges, totals, billing_reference=None
    )
    return _serialise(root)


def credit_note_xml(
    order: Order,
    refund: Refund,
    invoice_ref: DocumentRef,
    seller: Seller | None,
    invoice: InvoiceSettings,
    number: str,
    issue_date: date,
    item_codes: Mapping[str, str],
) -> bytes:
    """The Peppol BIS 3.0 credit note (type 381) for exactly what the refund gave back, referencing the invoice.
    Amounts are positive. An amount-only refund becomes one line "Refund <refund_id>" at the order's single tax
    rate; with several rates it raises PermanentError("refund_needs_lines")."""
    seller = _require_seller(seller)
    buyer = _buyer(order)
    lines = [_refund_line(order, refund_line, seller, buyer, invoice, item_codes) for refund_line in refund.lines]
    charges: list[_DocumentCharge] = []
    if refund.shipping:
        rate = _shipping_rate(order, refund)
        category = _category(rate, seller, buyer, invoice)
        charges.append(_DocumentCharge(True, codes.CHARGE_FREIGHT, "Shipping", money(refund.shipping), category))
    unallocated = _unallocated_line(order, refund, seller, buyer, invoice, len(lines) + len(charges))
    if unallocated is not None:
        lines.append(unallocated)
    totals = _totals(lines, charges, expected=refund.amount, prepaid=refund.amount)
    root = _document(
        "CreditNote",
        order,
        seller,
        buyer,
        invoice,
        number,
        issue_date,
        lines,
        charges,
        totals,
        billing_reference=invoice_ref,
        note=refund.reason,
    )
    return _serialise(root)


def document_totals(xml: bytes) -> tuple[Decimal, Decimal]:
    """(total including tax as the buyer paid it = TaxInclusiveAmount + PayableRoundingAmount, VAT total)
    read back from a generated document."""
    root = etree.fromstring(xml)
    ns = {"cac": codes.NS_CAC, "cbc": codes.NS_CBC}
    inclusive = root.findtext("cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount", namespaces=ns) or "0"
    rounding = root.findtext("cac:LegalMonetaryTotal/cbc:PayableRoundingAmount", namespaces=ns) or "0"
    tax = root.xpath("cac:TaxTotal[cac:TaxSubtotal]/cbc:TaxAmount/text()", namespaces=ns)
    return Decimal(inclusive) + Decimal(rounding), Decimal(str(tax[0]) if tax else "0")


# --------------------------------------------------------------------------- parties


def _require_seller(seller: Seller | None) -> Seller:
    if seller is None:
        raise PermanentError(
            "seller_missing",
            "The store settings have no seller details, so no invoice can be made.",
            message_es="Los ajustes de la tienda no tienen los datos del vendedor, así que no se puede emitir "
            "la factura.",
        )
    if _country(seller.country) != seller.country:
        raise PermanentError(
            "seller_country_invalid",
            f"The seller country '{seller.country}' is not an ISO 3166-1 code (BR-CL-14).",
            message_es=f"El país del vendedor '{seller.country}' no es un código ISO 3166-1 (BR-CL-14).",
        )
    return seller


def clean_text(text: str) -> str:
    """The text without characters XML 1.0 cannot carry, trimmed: what the document holds."""
    return _NOT_XML.sub("", text).strip()


def _country(code: str) -> str:
    """The EN 16931 country code (BR-CL-14) for what the store sent, "" when it is not one."""
    code = code.strip().upper()
    code = codes.COUNTRY_ALIASES.get(code, code)
    return code if code in codes.COUNTRIES else ""


def _buyer(order: Order) -> _Buyer:
    customer = order.customer
    address = customer.billing if customer.billing.country else customer.shipping
    if not address.country:
        raise PermanentError(
            "buyer_country_missing",
            "The order has no billing or shipping country for the buyer.",
            message_es="El pedido no indica el país de facturación ni el de envío del comprador.",
        )
    country = _country(address.country)
    if not country:
        raise PermanentError(
            "buyer_country_invalid",
            f"The buyer country '{address.country}' is not an ISO 3166-1 code (BR-CL-14).",
            message_es=f"El país del comprador '{address.country}' no es un código ISO 3166-1 (BR-CL-14).",
        )
    name = next(
        (
            clean_text(n)
            for n in (address.company, address.name, customer.name, customer.shipping.name)
            if clean_text(n)
        ),
        "",
    )
    if not name:
        raise PermanentError(
            "buyer_name_missing",
            "The order has no buyer name or company for the invoice.",
            message_es="El pedido no trae el nombre ni la razón social del comprador para la factura.",
        )
    email = customer.email or address.email
    return _Buyer(name=name, address=address, country=country, vat_id=_vat_id(customer.tax_id, country), email=email)


def _vat_id(raw: str, country: str) -> str:
    """Compact a VAT id and give it the country prefix BR-CO-09 asks for when the buyer typed it without one."""
    compact = clean_text(re.sub(r"[\s.\-/]", "", raw).upper())
    if not compact:
        return ""
    prefixes = codes.EU_MEMBER_STATES | {"EL", "XI", country, codes.vat_prefix(country)}
    if not (compact[:2].isalpha() and compact[:2] in prefixes):
        compact = codes.vat_prefix(country) + compact
    # BR-CO-09: the prefix must be an ISO 3166-1 code (EL for Greece); a country without one (Kosovo, 1A) shows none.
    prefix = compact[:2]
    return compact if prefix.isalpha() and (prefix in codes.COUNTRIES or prefix == "EL") else ""


def _vat_endpoint(vat_id: str) -> tuple[str, str] | None:
    """The Peppol address (EAS scheme, identifier) a VAT number gives, if its country has one in the EAS list.
    Where Peppol checks the identifier's form, the VAT number is cut to it: Sweden's organisation number (0007,
    PEPPOL-COMMON-R049) is digits 3-12 of its VAT number, Norway's (0192, R041) digits 3-11, Denmark's CVR (0184,
    R042) is "DK" + 8 digits."""
    if re.fullmatch(r"SE\d{10}01", vat_id):
        return "0007", vat_id[2:12]
    if re.fullmatch(r"NO\d{9}(MVA)?", vat_id):
        return "0192", vat_id[2:11]
    if vat_id[:2] == "DK" and not re.fullmatch(r"DK\d{8}", vat_id):
        return None
    scheme = codes.VAT_ENDPOINT_SCHEMES.get("GR" if vat_id[:2] == "EL" else vat_id[:2], "")
    return (scheme, vat_id) if scheme else None


def _seller_endpoint(seller: Seller) -> tuple[str, str]:
    if seller.endpoint_id.strip() and seller.endpoint_scheme.strip():
        return seller.endpoint_scheme.strip(), seller.endpoint_id.strip()
    from_vat = _vat_endpoint(_vat_id(seller.vat_id, seller.country))
    if from_vat is not None:
        return from_vat
    if seller.email:
        return codes.EMAIL_SCHEME, seller.email
    raise PermanentError(
        "seller_endpoint_missing",
        "The seller has no electronic address (endpoint_id and endpoint_scheme) for the invoice.",
        message_es="El vendedor no tiene dirección electrónica (endpoint_id y endpoint_scheme) para la factura.",
    )


def _buyer_endpoint(buyer: _Buyer, show_vat: bool) -> tuple[str, str] | None:
    from_vat = _vat_endpoint(buyer.vat_id) if show_vat and buyer.vat_id else None
    if from_vat is not None:
        return from_vat
    if clean_text(buyer.email):
        return codes.EMAIL_SCHEME, clean_text(buyer.email)
    return None


# --------------------------------------------------------------------------- tax categories


def _category(rate: Decimal, seller: Seller, buyer: _Buyer, invoice: InvoiceSettings) -> TaxCategory:
    if rate > 0:
        if invoice.default_tax_category == "O":
            raise PermanentError(
                "tax_category_conflict",
                f"The store is set as not subject to VAT but the order charges {_number_text(rate)}% tax.",
                message_es=f"La tienda está configurada como no sujeta a IVA, pero el pedido cobra un "
                f"{_number_text(rate)}% de impuesto.",
            )
        return TaxCategory("S", rate)
    if seller.country in codes.EU_MEMBER_STATES:
        if buyer.country in codes.EU_MEMBER_STATES and buyer.country != seller.country and buyer.vat_id:
            return TaxCategory(invoice.intra_eu_b2b, ZERO)
        if buyer.country not in codes.EU_MEMBER_STATES:
            return TaxCategory("G", ZERO)
    if invoice.default_tax_category == "O":
        return TaxCategory("O", None)
    if invoice.default_tax_category == "E":
        return TaxCategory("E", ZERO)
    return TaxCategory("Z", ZERO)


def _rate(stated: Decimal | None, taxable: bool, net: Decimal, tax: Decimal, where: tuple[str, str]) -> Decimal:
    """The percentage the store applied; derived from the amounts when the store did not state it. `where` names
    the line or charge in English and Spanish for the refusal."""
    if stated is not None:
        return stated
    if not taxable or tax == 0:
        return ZERO
    if net != 0:
        derived = (tax / net * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        if abs(money(net * derived / 100) - tax) <= CENT:
            return derived.normalize()
    where_en, where_es = where
    raise PermanentError(
        "tax_rate_unknown",
        f"The tax rate of {where_en} is not known and cannot be derived.",
        message_es=f"El tipo de impuesto de {where_es} no se conoce y no puede calcularse a partir de los importes.",
    )


def _line_where(line_id: str) -> tuple[str, str]:
    return f"line {line_id}", f"la línea {line_id}"


def _charge_where(charge: Charge) -> tuple[str, str]:
    if charge.kind == "shipping":
        return f"shipping '{charge.name}'", f"el envío '{charge.name}'"
    return f"fee '{charge.name}'", f"el cargo '{charge.name}'"


# --------------------------------------------------------------------------- lines and charges


def _billable(line: OrderLine) -> bool:
    # WooCommerce keeps lines whose quantity was edited to 0; they carry no money and no goods.
    return not (line.quantity == 0 and line.total == 0)


def _item_code(sku: str, item_codes: Mapping[str, str]) -> str:
    return clean_text(item_codes.get(sku, sku)) if sku else ""


def _net_price(quantity: Decimal, price: Decimal, allowance: Decimal, net: Decimal) -> Decimal:
    """The store's unit price if it explains the line net amount within PEPPOL-EN16931-R120's 2 cents; otherwise
    the price that does (stores round line totals their own way)."""
    if quantity and abs(quantity * price - allowance - net) > CENT:
        price = ((net + allowance) / quantity).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
    return price


def _order_line(
    order: Order,
    line: OrderLine,
    seller: Seller,
    buyer: _Buyer,
    invoice: InvoiceSettings,
    item_codes: Mapping[str, str],
) -> _Line:
    if line.quantity <= 0 or line.unit_price < 0:
        raise PermanentError(
            "line_not_invoiceable",
            f"Order line {line.line_id} has a quantity or price below zero.",
            message_es=f"La línea {line.line_id} del pedido tiene una cantidad o un precio menor que cero.",
        )
    net = money(line.total)
    allowance = money(line.discount) if line.discount > 0 else ZERO
    rate = _rate(line.tax_rate, line.taxable, line.total, line.tax, _line_where(line.line_id))
    return _Line(
        name=clean_text(line.name) or clean_text(line.sku) or f"Item {line.line_id}",
        item_code=_item_code(line.sku, item_codes),
        quantity=line.quantity,
        unit_code=codes.UNIT_PIECE,
        price=_net_price(line.quantity, line.unit_price, allowance, net),
        net=net,
        category=_category(rate, seller, buyer, invoice),
        allowance=allowance,
    )


def _order_charges(order: Order, seller: Seller, buyer: _Buyer, invoice: InvoiceSettings) -> list[_DocumentCharge]:
    result: list[_DocumentCharge] = []
    for charge in [*order.shipping, *order.fees]:
        amount = money(charge.amount)
        if amount == 0:
            continue
        rate = _rate(charge.tax_rate, charge.taxable, charge.amount, charge.tax, _charge_where(charge))
        category = _category(rate, seller, buyer, invoice)
        if amount < 0:
            reason = _charge_reason(charge, "Discount")
            result.append(_DocumentCharge(False, codes.ALLOWANCE_DISCOUNT, reason, -amount, category))
        elif charge.kind == "shipping":
            reason = _charge_reason(charge, "Shipping")
            result.append(_DocumentCharge(True, codes.CHARGE_FREIGHT, reason, amount, category))
        else:
            reason = _charge_reason(charge, "Fee")
            result.append(_DocumentCharge(True, codes.CHARGE_MISCELLANEOUS, reason, amount, category))
    return result


def _charge_reason(charge: Charge, fallback: str) -> str:
    return clean_text(charge.name) or clean_text(charge.code) or fallback


def _order_line_by_id(order: Order, line_id: str) -> OrderLine | None:
    return next((line for line in order.lines if line.line_id == line_id), None)


def _refund_line(
    order: Order,
    refund_line: RefundLine,
    seller: Seller,
    buyer: _Buyer,
    invoice: InvoiceSettings,
    item_codes: Mapping[str, str],
) -> _Line:
    original = _order_line_by_id(order, refund_line.line_id)
    sku = refund_line.sku or (original.sku if original else "")
    stated = original.tax_rate if original else None
    taxable = original.taxable if original else True
    if original is not None and stated is None:
        stated = _rate(None, taxable, original.total, original.tax, _line_where(original.line_id))
    where = (f"refunded line {refund_line.line_id}", f"la línea devuelta {refund_line.line_id}")
    rate = _rate(stated, taxable, refund_line.amount, refund_line.tax, where)
    # An amount-only refund of a line (quantity 0) is credited as one unit of that amount.
    quantity = refund_line.quantity if refund_line.quantity > 0 else Decimal(1)
    net = money(refund_line.amount)
    return _Line(
        name=clean_text(original.name if original else "")
        or clean_text(sku)
        or f"Refund of line {refund_line.line_id}",
        item_code=_item_code(sku, item_codes),
        quantity=quantity,
        unit_code=codes.UNIT_PIECE if refund_line.quantity > 0 else codes.UNIT_ONE,
        price=_net_price(quantity, (refund_line.amount / quantity).quantize(Decimal("0.000001")), ZERO, net),
        net=net,
        category=_category(rate, seller, buyer, invoice),
    )


def _shipping_rate(order: Order, refund: Refund) -> Decimal:
    rates = {rate for c in order.shipping if c.amount and (rate := c.tax_rate) is not None}
    if len(rates) == 1:
        return rates.pop()
    return _rate(None, True, refund.shipping, refund.shipping_tax, ("refunded shipping", "el envío reembolsado"))


def _order_rates(order: Order) -> set[Decimal]:
    rates: set[Decimal] = set()
    for line in order.lines:
        if line.total:
            rates.add(_rate(line.tax_rate, line.taxable, line.total, line.tax, _line_where(line.line_id)))
    for charge in [*order.shipping, *order.fees]:
        if charge.amount:
            rates.add(_rate(charge.tax_rate, charge.taxable, charge.amount, charge.tax, _charge_where(charge)))
    return rates


def _unallocated_line(
    order: Order, refund: Refund, seller: Seller, buyer: _Buyer, invoice: InvoiceSettings, parts: int
) -> _Line | None:
    remainder = refund.unallocated
    if abs(remainder) <= CENT * max(1, parts):
        return None  # rounding between the store's refund total and its parts
    if remainder < 0:
        raise PermanentError(
            "refund_inconsistent",
            f"Refund {refund.refund_id} gives back less than its refunded lines and shipping add up to.",
            message_es=f"La devolución {refund.refund_id} reembolsa menos de lo que suman sus líneas y su envío "
            "devueltos.",
        )
    rates = _order_rates(order)
    if len(rates) != 1:
        raise PermanentError(
            "refund_needs_lines",
            f"Refund {refund.refund_id} is an amount only and the order has several tax rates; "
            "refund it per line in the store.",
            message_es=f"La devolución {refund.refund_id} es solo un importe y el pedido tiene varios tipos de "
            "impuesto; haga la devolución por líneas en la tienda.",
        )
    rate = rates.pop()
    net = money(remainder / (1 + rate / 100))
    return _Line(
        name=f"Refund {refund.refund_id}",
        item_code="",
        quantity=Decimal(1),
        unit_code=codes.UNIT_ONE,
        price=net,
        net=net,
        category=_category(rate, seller, buyer, invoice),
    )


# --------------------------------------------------------------------------- totals


def _totals(lines: list[_Line], charges: list[_DocumentCharge], expected: Decimal, prepaid: Decimal) -> _Totals:
    if not lines:
        raise PermanentError(
            "no_lines", "The document would have no lines.", message_es="El documento no tendría ninguna línea."
        )
    categories = {line.category for line in lines} | {c.category for c in charges}
    if any(c.code == "O" for c in categories) and len(categories) > 1:
        raise PermanentError(
            "tax_category_conflict",
            "An order not subject to VAT cannot also have lines with VAT categories.",
            message_es="Un pedido no sujeto a IVA no puede tener a la vez líneas con categorías de IVA.",
        )
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
            f"The order total {expected} does not match its lines, charges and tax ({tax_inclusive}).",
            message_es=f"El total del pedido {expected} no cuadra con sus líneas, cargos e impuestos "
            f"({tax_inclusive}).",
            detail=f"difference {rounding}, tolerance {tolerance}",
        )
    prepaid = money(prepaid)
    return _Totals(
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


# --------------------------------------------------------------------------- XML


def _add(parent: etree._Element, tag: str, text: str | None = None, **attributes: str) -> etree._Element:
    prefix, name = tag.split(":")
    element = etree.SubElement(parent, (_CAC if prefix == "cac" else _CBC) + name)
    if text is not None:
        element.text = clean_text(text)
    for key, value in attributes.items():
        element.set(key, value)
    return element


def _add_text(parent: etree._Element, tag: str, text: str) -> None:
    """Add an element only when it has content: Peppol forbids empty elements (PEPPOL-EN16931-R008)."""
    if clean_text(text):
        _add(parent, tag, text)


def _add_amount(parent: etree._Element, tag: str, value: Decimal, currency: str) -> None:
    _add(parent, tag, _amount_text(value), currencyID=currency)


def _add_address(parent: etree._Element, tag: str, street: str, additional: str, city: str, postal: str,
                 region: str, country: str) -> None:  # fmt: skip
    address = _add(parent, tag)
    _add_text(address, "cbc:StreetName", street)
    _add_text(address, "cbc:AdditionalStreetName", additional)
    _add_text(address, "cbc:CityName", city)
    _add_text(address, "cbc:PostalZone", postal)
    _add_text(address, "cbc:CountrySubentity", region)
    _add(_add(address, "cac:Country"), "cbc:IdentificationCode", country)


def _add_tax_scheme(parent: etree._Element) -> None:
    _add(_add(parent, "cac:TaxScheme"), "cbc:ID", "VAT")


def _add_category(parent: etree._Element, tag: str, category: TaxCategory, with_reason: bool = False) -> None:
    element = _add(parent, tag)
    _add(element, "cbc:ID", category.code)
    if category.rate is not None:
        _add(element, "cbc:Percent", _number_text(category.rate))
    if with_reason:
        code, text = codes.EXEMPTION_REASONS.get(category.code, ("", ""))
        _add_text(element, "cbc:TaxExemptionReasonCode", code)
        _add_text(element, "cbc:TaxExemptionReason", text)
    _add_tax_scheme(element)


def _add_seller(root: etree._Element, seller: Seller, show_vat: bool) -> None:
    party = _add(_add(root, "cac:AccountingSupplierParty"), "cac:Party")
    scheme, endpoint = _seller_endpoint(seller)
    _add(party, "cbc:EndpointID", endpoint, schemeID=scheme)
    if seller.trading_name:
        _add(_add(party, "cac:PartyName"), "cbc:Name", seller.trading_name)
    _add_address(
        party,
        "cac:PostalAddress",
        seller.street,
        seller.additional_street,
        seller.city,
        seller.postal_code,
        seller.region,
        seller.country,
    )
    if show_vat and seller.vat_id:
        tax_scheme = _add(party, "cac:PartyTaxScheme")
        _add(tax_scheme, "cbc:CompanyID", _vat_id(seller.vat_id, seller.country))
        _add_tax_scheme(tax_scheme)
    legal = _add(party, "cac:PartyLegalEntity")
    _add(legal, "cbc:RegistrationName", seller.name)
    _add_text(legal, "cbc:CompanyID", seller.legal_id)
    if seller.phone or seller.email:
        contact = _add(party, "cac:Contact")
        _add_text(contact, "cbc:Telephone", seller.phone)
        _add_text(contact, "cbc:ElectronicMail", seller.email)


def _add_buyer(root: etree._Element, buyer: _Buyer, show_vat: bool) -> None:
    party = _add(_add(root, "cac:AccountingCustomerParty"), "cac:Party")
    endpoint = _buyer_endpoint(buyer, show_vat)
    if endpoint is not None:
        _add(party, "cbc:EndpointID", endpoint[1], schemeID=endpoint[0])
    _add(_add(party, "cac:PartyName"), "cbc:Name", buyer.name)
    a = buyer.address
    _add_address(party, "cac:PostalAddress", a.line1, a.line2, a.city, a.postal_code, a.region, buyer.country)
    if show_vat and buyer.vat_id:
        tax_scheme = _add(party, "cac:PartyTaxScheme")
        _add(tax_scheme, "cbc:CompanyID", buyer.vat_id)
        _add_tax_scheme(tax_scheme)
    _add(_add(party, "cac:PartyLegalEntity"), "cbc:RegistrationName", buyer.name)


def delivery_date(order: Order) -> date:
    """The actual delivery date (BT-72) shown for an intra-community supply. Store orders carry no shipping date;
    the day the order was paid (else created), in UTC, is the nearest fact the order has."""
    return (order.paid_at or order.created_at).date()


def _deliver_to(order: Order, intra_community: bool) -> Address:
    """The deliver-to address: the shipping address; for an intra-community supply, which must name the country
    the goods went to (BR-IC-12), the billing address when the store sent no shipping country."""
    shipping = order.customer.shipping
    if intra_community and not shipping.country.strip():
        return order.customer.billing
    return shipping


def _check_dispatch(address: Address, country: str, seller: Seller) -> None:
    """An intra-community supply exempts goods sent to another member state (Art. 138 Directive 2006/112/EC); an
    invoice that says K for goods staying in the seller's country or leaving the EU would be wrong in law."""
    if not country:
        raise PermanentError(
            "delivery_country_invalid",
            f"The delivery country '{address.country}' is not an ISO 3166-1 code, and an intra-community supply "
            "must name the country the goods went to (BR-IC-12).",
            message_es=f"El país de entrega '{address.country}' no es un código ISO 3166-1, y una entrega "
            "intracomunitaria debe indicar el país al que se enviaron los bienes (BR-IC-12).",
        )
    if country == seller.country or country not in codes.EU_MEMBER_STATES:
        raise PermanentError(
            "intra_community_not_dispatched",
            f"The order charges no VAT as an intra-community supply, but the goods go to {country}, which is not "
            f"an EU member state other than the seller's ({seller.country}).",
            message_es=f"El pedido no cobra IVA por ser una entrega intracomunitaria, pero los bienes van a "
            f"{country}, que no es un Estado miembro de la UE distinto del del vendedor ({seller.country}).",
        )


def _add_delivery(root: etree._Element, order: Order, seller: Seller, intra_community: bool) -> None:
    address = _deliver_to(order, intra_community)
    country = _country(address.country)
    if intra_community:
        _check_dispatch(address, country, seller)
    elif not country:
        return  # BR-57 / BR-CL-14: a delivery address needs a valid country; the deliver-to group is optional
    delivery = _add(root, "cac:Delivery")
    # UBL 2.1 DeliveryType order: ActualDeliveryDate, then DeliveryLocation, then DeliveryParty.
    if intra_community:
        _add(delivery, "cbc:ActualDeliveryDate", delivery_date(order).isoformat())
    location = _add(delivery, "cac:DeliveryLocation")
    _add_address(
        location,
        "cac:Address",
        address.line1,
        address.line2,
        address.city,
        address.postal_code,
        address.region,
        country,
    )
    name = clean_text(address.company) or clean_text(address.name)
    if name:
        _add(_add(_add(delivery, "cac:DeliveryParty"), "cac:PartyName"), "cbc:Name", name)


def _add_payment(root: etree._Element, order: Order, seller: Seller, invoice: InvoiceSettings) -> None:
    code = invoice.payment_means_code.strip()
    if code not in codes.PAYMENT_MEANS:  # BR-CL-16
        raise PermanentError(
            "payment_means_invalid",
            f"The payment means code '{code}' in the store settings is not a UNCL4461 code.",
            message_es=f"El código de medio de pago '{code}' de los ajustes de la tienda no es un código UNCL4461.",
        )
    if code in codes.DIRECT_DEBIT:  # PEPPOL-EN16931-R061
        raise PermanentError(
            "payment_mandate_missing",
            f"Payment means {code} (direct debit) needs a mandate reference, which the order does not carry.",
            message_es=f"El medio de pago {code} (domiciliación o débito directo) necesita la referencia del mandato, "
            "que el pedido no trae.",
        )
    if code in ("30", "58") and not seller.iban:  # BR-61
        raise PermanentError(
            "seller_iban_missing",
            f"Payment means {code} (credit transfer) needs the seller's IBAN in the settings.",
            message_es=f"El medio de pago {code} (transferencia bancaria) necesita el IBAN del vendedor en los ajustes "
            "de la tienda.",
        )
    means = _add(root, "cac:PaymentMeans")
    code_element = _add(means, "cbc:PaymentMeansCode", code)
    if clean_text(order.payment_method_title):
        code_element.set("name", clean_text(order.payment_method_title))
    _add_text(means, "cbc:PaymentID", order.number)
    if seller.iban and code in _CREDIT_TRANSFER:
        _add(_add(means, "cac:PayeeFinancialAccount"), "cbc:ID", re.sub(r"\s", "", seller.iban).upper())
    if invoice.payment_terms.strip():
        _add(_add(root, "cac:PaymentTerms"), "cbc:Note", invoice.payment_terms.strip())


def _add_document_charges(root: etree._Element, charges: Iterable[_DocumentCharge], currency: str) -> None:
    for c in charges:
        element = _add(root, "cac:AllowanceCharge")
        _add(element, "cbc:ChargeIndicator", "true" if c.is_charge else "false")
        _add(element, "cbc:AllowanceChargeReasonCode", c.reason_code)
        _add_text(element, "cbc:AllowanceChargeReason", c.reason)
        _add_amount(element, "cbc:Amount", c.amount, currency)
        _add_category(element, "cac:TaxCategory", c.category)


def _add_tax_total(root: etree._Element, totals: _Totals, currency: str) -> None:
    tax_total = _add(root, "cac:TaxTotal")
    _add_amount(tax_total, "cbc:TaxAmount", totals.tax, currency)
    for category, base, tax in totals.breakdown:
        subtotal = _add(tax_total, "cac:TaxSubtotal")
        _add_amount(subtotal, "cbc:TaxableAmount", base, currency)
        _add_amount(subtotal, "cbc:TaxAmount", tax, currency)
        _add_category(subtotal, "cac:TaxCategory", category, with_reason=True)


def _add_monetary_total(root: etree._Element, totals: _Totals, currency: str) -> None:
    total = _add(root, "cac:LegalMonetaryTotal")
    _add_amount(total, "cbc:LineExtensionAmount", totals.lines, currency)
    _add_amount(total, "cbc:TaxExclusiveAmount", totals.tax_exclusive, currency)
    _add_amount(total, "cbc:TaxInclusiveAmount", totals.tax_inclusive, currency)
    if totals.allowances:
        _add_amount(total, "cbc:AllowanceTotalAmount", totals.allowances, currency)
    if totals.charges:
        _add_amount(total, "cbc:ChargeTotalAmount", totals.charges, currency)
    if totals.prepaid:
        _add_amount(total, "cbc:PrepaidAmount", totals.prepaid, currency)
    if totals.rounding:
        _add_amount(total, "cbc:PayableRoundingAmount", totals.rounding, currency)
    _add_amount(total, "cbc:PayableAmount", totals.payable, currency)


def _add_lines(root: etree._Element, kind: str, lines: list[_Line], currency: str) -> None:
    if kind == "Invoice":
        line_tag, quantity_tag = "cac:InvoiceLine", "cbc:InvoicedQuantity"
    else:
        line_tag, quantity_tag = "cac:CreditNoteLine", "cbc:CreditedQuantity"
    for index, line in enumerate(lines, start=1):
        element = _add(root, line_tag)
        _add(element, "cbc:ID", str(index))
        _add(element, quantity_tag, _number_text(line.quantity), unitCode=line.unit_code)
        _add_amount(element, "cbc:LineExtensionAmount", line.net, currency)
        if line.allowance:
            allowance = _add(element, "cac:AllowanceCharge")
            _add(allowance, "cbc:ChargeIndicator", "false")
            _add(allowance, "cbc:AllowanceChargeReasonCode", codes.ALLOWANCE_DISCOUNT)
            _add(allowance, "cbc:AllowanceChargeReason", "Discount")
            _add_amount(allowance, "cbc:Amount", line.allowance, currency)
        item = _add(element, "cac:Item")
        _add(item, "cbc:Name", line.name)
        if line.item_code:
            _add(_add(item, "cac:SellersItemIdentification"), "cbc:ID", line.item_code)
        _add_category(item, "cac:ClassifiedTaxCategory", line.category)
        price = _add(element, "cac:Price")
        _add(price, "cbc:PriceAmount", _number_text(line.price), currencyID=currency)


def _document(
    kind: str,
    order: Order,
    seller: Seller,
    buyer: _Buyer,
    invoice: InvoiceSettings,
    number: str,
    issue_date: date,
    lines: list[_Line],
    charges: list[_DocumentCharge],
    totals: _Totals,
    billing_reference: DocumentRef | None,
    note: str = "",
) -> etree._Element:
    categories = {line.category.code for line in lines} | {c.category.code for c in charges}
    # BR-O-02: a document outside the scope of VAT shows neither seller nor buyer VAT id.
    show_vat = "O" not in categories
    if show_vat and not seller.vat_id:
        raise PermanentError(
            "seller_vat_missing",
            "The seller's VAT number is missing in the store settings (BR-S-02 and others).",
            message_es="Falta el número de IVA (NIF-IVA) del vendedor en los ajustes de la tienda (BR-S-02 y otras "
            "reglas).",
        )
    if not show_vat and not seller.legal_id:
        raise PermanentError(
            "seller_identifier_missing",
            "A seller not subject to VAT needs its legal registration id (BR-CO-26).",
            message_es="Un vendedor no sujeto a IVA necesita su número de registro mercantil o legal (BR-CO-26).",
        )
    currency = order.currency
    if currency not in codes.CURRENCIES:  # BR-CL-04, PEPPOL-EN16931-CL007
        raise PermanentError(
            "currency_invalid",
            f"The order currency '{currency}' is not an ISO 4217 code.",
            message_es=f"La moneda del pedido '{currency}' no es un código ISO 4217.",
        )
    namespace = codes.NS_INVOICE if kind == "Invoice" else codes.NS_CREDIT_NOTE
    nsmap: dict[str | None, str] = {None: namespace, **_NSMAP_BASE}
    root = etree.Element(f"{{{namespace}}}{kind}", nsmap=nsmap)
    _add(root, "cbc:CustomizationID", codes.CUSTOMIZATION_ID)
    _add(root, "cbc:ProfileID", codes.PROFILE_ID)
    _add(root, "cbc:ID", number)
    _add(root, "cbc:IssueDate", issue_date.isoformat())
    if kind == "Invoice":
        if totals.payable > 0:
            _add(root, "cbc:DueDate", issue_date.isoformat())  # due on receipt (BR-CO-25)
        _add(root, "cbc:InvoiceTypeCode", codes.INVOICE_TYPE_CODE)
    else:
        _add(root, "cbc:CreditNoteTypeCode", codes.CREDIT_NOTE_TYPE_CODE)
    _add_text(root, "cbc:Note", note)
    _add(root, "cbc:DocumentCurrencyCode", currency)
    _add(root, "cbc:BuyerReference", order.number)
    order_reference = _add(root, "cac:OrderReference")
    _add(order_reference, "cbc:ID", order.number)
    _add_text(order_reference, "cbc:SalesOrderID", order.order_id)
    if billing_reference is not None:
        reference = _add(_add(root, "cac:BillingReference"), "cac:InvoiceDocumentReference")
        _add(reference, "cbc:ID", billing_reference.number)
        _add(reference, "cbc:IssueDate", billing_reference.issued_at.date().isoformat())
    _add_seller(root, seller, show_vat)
    _add_buyer(root, buyer, show_vat)
    _add_delivery(root, order, seller, intra_community="K" in categories)
    _add_payment(root, order, seller, invoice)
    _add_document_charges(root, charges, currency)
    _add_tax_total(root, totals, currency)
    _add_monetary_total(root, totals, currency)
    _add_lines(root, kind, lines, currency)
    return root


def _serialise(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
