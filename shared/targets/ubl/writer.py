"""The UBL 2.1 XML of an invoice or credit note, written from values the mapper has already computed and checked.

Knows element order (UBL 2.1 / Peppol BIS 3.0), namespaces and number formats; decides nothing and refuses
nothing. `document_totals` reads the totals back from a written document.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from lxml import etree

from shared.domain.records import DocumentRef
from shared.fiscal.verifactu.qr import LEGEND, VALIDATION_DOCUMENT_ID
from shared.stores import Seller
from shared.targets.ubl import codes
from shared.targets.ubl.amounts import amount_text, number_text
from shared.targets.ubl.codes import clean_text
from shared.targets.ubl.parties import Buyer, Delivery
from shared.targets.ubl.taxes import TaxCategory
from shared.targets.ubl.totals import DocumentCharge, DocumentLine, Exchange, Totals

_NSMAP_BASE: dict[str | None, str] = {"cac": codes.NS_CAC, "cbc": codes.NS_CBC}
_CAC = f"{{{codes.NS_CAC}}}"
_CBC = f"{{{codes.NS_CBC}}}"


@dataclass(frozen=True)
class Payment:
    """PaymentMeans (BG-16) and PaymentTerms: a UNCL4461 code, the account paid into (None: none), the terms."""

    code: str
    name: str
    payment_id: str
    account: str | None
    terms: str


@dataclass(frozen=True)
class Document:
    """Everything an invoice ("Invoice") or credit note ("CreditNote") shows, computed and checked."""

    kind: str
    number: str
    issue_date: date
    currency: str
    note: str
    order_number: str
    order_id: str
    billing_reference: DocumentRef | None
    seller: Seller
    seller_endpoint: tuple[str, str]  # (EAS scheme, identifier)
    seller_vat_id: str | None  # None when the document shows no seller VAT id
    buyer: Buyer
    buyer_endpoint: tuple[str, str] | None
    peppol: bool  # Peppol BIS Billing 3.0; else plain EN 16931
    show_vat: bool
    delivery: Delivery | None
    payment: Payment
    lines: list[DocumentLine]
    charges: list[DocumentCharge]
    totals: Totals
    exchange: Exchange | None = None  # set when the seller's accounting currency is another one
    validation_url: str = ""  # VERI*FACTU: AEAT's cotejo URL, shown as a note and a document reference


def write(document: Document) -> bytes:
    """The document as UTF-8 XML with declaration, pretty-printed."""
    return bytes(etree.tostring(_root(document), xml_declaration=True, encoding="UTF-8", pretty_print=True))


def document_totals(xml: bytes) -> tuple[Decimal, Decimal]:
    """(total including tax as the buyer paid it = TaxInclusiveAmount + PayableRoundingAmount, VAT total)
    read back from a generated document."""
    root = etree.fromstring(xml)
    ns = {"cac": codes.NS_CAC, "cbc": codes.NS_CBC}
    inclusive = root.findtext("cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount", namespaces=ns) or "0"
    rounding = root.findtext("cac:LegalMonetaryTotal/cbc:PayableRoundingAmount", namespaces=ns) or "0"
    tax = root.xpath("cac:TaxTotal[cac:TaxSubtotal]/cbc:TaxAmount/text()", namespaces=ns)
    return Decimal(inclusive) + Decimal(rounding), Decimal(str(tax[0]) if tax else "0")


def _root(d: Document) -> etree._Element:
    namespace = codes.NS_INVOICE if d.kind == "Invoice" else codes.NS_CREDIT_NOTE
    nsmap: dict[str | None, str] = {None: namespace, **_NSMAP_BASE}
    root = etree.Element(f"{{{namespace}}}{d.kind}", nsmap=nsmap)
    if d.peppol:
        _add(root, "cbc:CustomizationID", codes.CUSTOMIZATION_ID)
        _add(root, "cbc:ProfileID", codes.PROFILE_ID)
    else:
        _add(root, "cbc:CustomizationID", codes.EN16931_CUSTOMIZATION_ID)
    _add(root, "cbc:ID", d.number)
    _add(root, "cbc:IssueDate", d.issue_date.isoformat())
    if d.kind == "Invoice":
        if d.totals.payable > 0:
            _add(root, "cbc:DueDate", d.issue_date.isoformat())  # due on receipt (BR-CO-25)
        _add(root, "cbc:InvoiceTypeCode", codes.INVOICE_TYPE_CODE)
    else:
        _add(root, "cbc:CreditNoteTypeCode", codes.CREDIT_NOTE_TYPE_CODE)
    _add_text(root, "cbc:Note", _with_legend(d.note, d.validation_url))
    _add(root, "cbc:DocumentCurrencyCode", d.currency)
    if d.exchange is not None:
        _add(root, "cbc:TaxCurrencyCode", d.exchange.currency)
    _add(root, "cbc:BuyerReference", d.order_number)
    order_reference = _add(root, "cac:OrderReference")
    _add(order_reference, "cbc:ID", d.order_number)
    _add_text(order_reference, "cbc:SalesOrderID", d.order_id)
    if d.billing_reference is not None:
        reference = _add(_add(root, "cac:BillingReference"), "cac:InvoiceDocumentReference")
        _add(reference, "cbc:ID", d.billing_reference.number)
        _add(reference, "cbc:IssueDate", d.billing_reference.issued_at.date().isoformat())
    if d.validation_url:
        _add_validation_reference(root, d.validation_url)
    _add_seller(root, d.seller, d.seller_endpoint, d.seller_vat_id)
    _add_buyer(root, d.buyer, d.buyer_endpoint, d.show_vat)
    if d.delivery is not None:
        _add_delivery(root, d.delivery)
    _add_payment(root, d.payment)
    _add_document_charges(root, d.charges, d.currency)
    _add_tax_total(root, d.totals, d.currency)
    if d.exchange is not None:  # BT-111: the VAT total in accounting currency, without breakdown (PEPPOL R054)
        _add_amount(_add(root, "cac:TaxTotal"), "cbc:TaxAmount", d.exchange.tax, d.exchange.currency)
    _add_monetary_total(root, d.totals, d.currency)
    _add_lines(root, d.kind, d.lines, d.currency)
    return root


def _with_legend(note: str, validation_url: str) -> str:
    # Peppol allows one document note (PEPPOL-EN16931-R002): the legend joins the refund reason, if any.
    if not validation_url:
        return note
    legend = f"{LEGEND}: {validation_url}"
    return f"{note} | {legend}" if clean_text(note) else legend


def _add_validation_reference(root: etree._Element, url: str) -> None:
    # BG-24 with an external location (BT-124): EN 16931's place for a URL that supports the invoice.
    reference = _add(root, "cac:AdditionalDocumentReference")
    _add(reference, "cbc:ID", VALIDATION_DOCUMENT_ID)
    _add(reference, "cbc:DocumentDescription", LEGEND)
    _add(_add(_add(reference, "cac:Attachment"), "cac:ExternalReference"), "cbc:URI", url)


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
    _add(parent, tag, amount_text(value), currencyID=currency)


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
        _add(element, "cbc:Percent", number_text(category.rate))
    if with_reason:
        code, text = codes.EXEMPTION_REASONS.get(category.code, ("", ""))
        _add_text(element, "cbc:TaxExemptionReasonCode", code)
        _add_text(element, "cbc:TaxExemptionReason", text)
    _add_tax_scheme(element)


def _add_seller(root: etree._Element, seller: Seller, endpoint: tuple[str, str], vat_id: str | None) -> None:
    party = _add(_add(root, "cac:AccountingSupplierParty"), "cac:Party")
    _add(party, "cbc:EndpointID", endpoint[1], schemeID=endpoint[0])
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
    if vat_id is not None:
        tax_scheme = _add(party, "cac:PartyTaxScheme")
        _add(tax_scheme, "cbc:CompanyID", vat_id)
        _add_tax_scheme(tax_scheme)
    legal = _add(party, "cac:PartyLegalEntity")
    _add(legal, "cbc:RegistrationName", seller.name)
    _add_text(legal, "cbc:CompanyID", seller.legal_id)
    if seller.phone or seller.email:
        contact = _add(party, "cac:Contact")
        _add_text(contact, "cbc:Telephone", seller.phone)
        _add_text(contact, "cbc:ElectronicMail", seller.email)


def _add_buyer(root: etree._Element, buyer: Buyer, endpoint: tuple[str, str] | None, show_vat: bool) -> None:
    party = _add(_add(root, "cac:AccountingCustomerParty"), "cac:Party")
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


def _add_delivery(root: etree._Element, delivery: Delivery) -> None:
    element = _add(root, "cac:Delivery")
    # UBL 2.1 DeliveryType order: ActualDeliveryDate, then DeliveryLocation, then DeliveryParty.
    if delivery.actual_date is not None:
        _add(element, "cbc:ActualDeliveryDate", delivery.actual_date.isoformat())
    location = _add(element, "cac:DeliveryLocation")
    a = delivery.address
    _add_address(location, "cac:Address", a.line1, a.line2, a.city, a.postal_code, a.region, delivery.country)
    if delivery.party_name:
        _add(_add(_add(element, "cac:DeliveryParty"), "cac:PartyName"), "cbc:Name", delivery.party_name)


def _add_payment(root: etree._Element, payment: Payment) -> None:
    means = _add(root, "cac:PaymentMeans")
    code_element = _add(means, "cbc:PaymentMeansCode", payment.code)
    if payment.name:
        code_element.set("name", payment.name)
    _add_text(means, "cbc:PaymentID", payment.payment_id)
    if payment.account is not None:
        _add(_add(means, "cac:PayeeFinancialAccount"), "cbc:ID", payment.account)
    if payment.terms:
        _add(_add(root, "cac:PaymentTerms"), "cbc:Note", payment.terms)


def _add_document_charges(root: etree._Element, charges: Iterable[DocumentCharge], currency: str) -> None:
    for c in charges:
        element = _add(root, "cac:AllowanceCharge")
        _add(element, "cbc:ChargeIndicator", "true" if c.is_charge else "false")
        _add(element, "cbc:AllowanceChargeReasonCode", c.reason_code)
        _add_text(element, "cbc:AllowanceChargeReason", c.reason)
        _add_amount(element, "cbc:Amount", c.amount, currency)
        _add_category(element, "cac:TaxCategory", c.category)


def _add_tax_total(root: etree._Element, totals: Totals, currency: str) -> None:
    tax_total = _add(root, "cac:TaxTotal")
    _add_amount(tax_total, "cbc:TaxAmount", totals.tax, currency)
    for category, base, tax in totals.breakdown:
        subtotal = _add(tax_total, "cac:TaxSubtotal")
        _add_amount(subtotal, "cbc:TaxableAmount", base, currency)
        _add_amount(subtotal, "cbc:TaxAmount", tax, currency)
        _add_category(subtotal, "cac:TaxCategory", category, with_reason=True)


def _add_monetary_total(root: etree._Element, totals: Totals, currency: str) -> None:
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


def _add_lines(root: etree._Element, kind: str, lines: list[DocumentLine], currency: str) -> None:
    if kind == "Invoice":
        line_tag, quantity_tag = "cac:InvoiceLine", "cbc:InvoicedQuantity"
    else:
        line_tag, quantity_tag = "cac:CreditNoteLine", "cbc:CreditedQuantity"
    for index, line in enumerate(lines, start=1):
        element = _add(root, line_tag)
        _add(element, "cbc:ID", str(index))
        _add(element, quantity_tag, number_text(line.quantity), unitCode=line.unit_code)
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
        _add(price, "cbc:PriceAmount", number_text(line.price), currencyID=currency)
