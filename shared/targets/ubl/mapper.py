"""Pure mapping of a canonical order (and a refund) to EN 16931 UBL 2.1 Invoice / CreditNote XML, Peppol BIS
Billing 3.0 when both parties have a Peppol address.

Called by the UBL outbox target when the invoicing stage issues a document; no I/O. This module puts the pieces
together and makes the document-level checks: `parties` (seller, buyer, deliver-to), `lines` (what is booked),
`taxes` (categories, rates, VAT), `totals` (document totals, rounding), `writer` (the XML). Decisions taken where
the order does not say what EN 16931 needs:

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
- Buyer electronic address (BT-49): the one set for the customer in the order meta (`peppol_id`, "<EAS>:<id>", a
  scheme in Peppol's EAS list), else the buyer's VAT number under its country's Peppol VAT scheme when there is
  one; otherwise the e-mail with scheme "EM", which is in the CEN EAS list but not in Peppol's; without an e-mail
  it is omitted.
- Peppol only when Peppol: the document claims Peppol BIS Billing 3.0 (CustomizationID and ProfileID) only when
  the buyer's and the seller's addresses are both in Peppol's EAS list; otherwise it is a plain EN 16931 invoice
  (CustomizationID urn:cen.eu:en16931:2017, no ProfileID), for the archive or e-mail, and the Peppol rules do not
  apply to it.
- Seller electronic address: Seller.endpoint_id / endpoint_scheme, defaulting to the VAT id under its country's
  scheme, else the seller's e-mail ("EM"); none of them → PermanentError("seller_endpoint_missing"). Where Peppol
  checks an identifier's form the VAT number is cut to it (Sweden 0007, Norway 0192, Denmark 0184).
- Currency: the document is in the order's currency, what the customer paid (Shopify's presentment money unless
  the store sets invoice.currency: shop). When that is not the seller's accounting currency (the store's
  `currency`), the document carries TaxCurrencyCode (BT-6) and the VAT total in it (BT-111, a second TaxTotal
  without breakdown), at the rate the shop itself used (its total in shop money over the total paid), stated with
  its source in the note (BT-22). Without such a rate: PermanentError("exchange_rate_missing"), never silently
  the other currency.
- What the validators would refuse and the order cannot fix is a PermanentError, never a written document: a country
  or currency outside ISO 3166-1 / 4217 (Kosovo's XK becomes EN 16931's 1A), a payment means outside UNCL4461, direct
  debit (49/59) without the mandate reference Peppol requires (R061). Characters XML cannot carry (control
  characters) are dropped from names and addresses; a VAT number whose prefix is not an ISO code is left out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import date

from shared.domain.order import Order, Refund
from shared.domain.records import DocumentRef
from shared.errors import PermanentError
from shared.fiscal.verifactu.qr import Environment, validation_url
from shared.stores import InvoiceSettings, Seller
from shared.targets.ubl import codes, lines, parties
from shared.targets.ubl.amounts import ZERO
from shared.targets.ubl.codes import clean_text
from shared.targets.ubl.parties import Buyer
from shared.targets.ubl.totals import DocumentCharge, DocumentLine, Totals, exchange, totals
from shared.targets.ubl.writer import Document, Payment, document_totals, write

# document_totals lives in writer; shared.handlers.simulate still imports it from here.
__all__ = ["credit_note_document", "credit_note_xml", "document_totals", "invoice_document", "invoice_xml"]

_CREDIT_TRANSFER = {"30", "31", "42", "58"}  # UNCL4461 codes paid into the seller's account (BG-17)


def invoice_xml(
    order: Order,
    seller: Seller | None,
    invoice: InvoiceSettings,
    number: str,
    issue_date: date,
    item_codes: Mapping[str, str],
    verifactu: Environment | None = None,
) -> bytes:
    """The Peppol BIS 3.0 invoice (type 380) for the order. Raises PermanentError when the order or the store
    settings cannot make a valid invoice (codes: seller_missing, seller_vat_missing, seller_endpoint_missing,
    seller_iban_missing, buyer_name_missing, buyer_country_missing, tax_rate_unknown, tax_category_conflict,
    totals_mismatch, no_lines, and for K: intra_community_not_dispatched, delivery_country_invalid)."""
    return write(invoice_document(order, seller, invoice, number, issue_date, item_codes, verifactu))


def invoice_document(
    order: Order,
    seller: Seller | None,
    invoice: InvoiceSettings,
    number: str,
    issue_date: date,
    item_codes: Mapping[str, str],
    verifactu: Environment | None = None,
) -> Document:
    """What invoice_xml writes, not written yet: every check and PermanentError of invoice_xml happens here
    (writing raises none), so a preflight stops at this step."""
    seller = parties.require_seller(seller)
    buyer = parties.buyer(order)
    billable = [line for line in order.lines if lines.billable(line)]
    booked = [lines.order_line(line, seller, buyer, invoice, item_codes) for line in billable]
    charges = lines.order_charges(order, seller, buyer, invoice)
    summed = totals(booked, charges, expected=order.total, prepaid=order.total if order.paid_at else ZERO)
    document = _document("Invoice", order, seller, buyer, invoice, number, issue_date, booked, charges, summed, None)
    return _with_validation_url(document, verifactu, sign=1)


def credit_note_xml(
    order: Order,
    refund: Refund,
    invoice_ref: DocumentRef,
    seller: Seller | None,
    invoice: InvoiceSettings,
    number: str,
    issue_date: date,
    item_codes: Mapping[str, str],
    verifactu: Environment | None = None,
) -> bytes:
    """The Peppol BIS 3.0 credit note (type 381) for exactly what the refund gave back, referencing the invoice.
    Amounts are positive. An amount-only refund becomes one line "Refund <refund_id>" at the order's single tax
    rate; with several rates it raises PermanentError("refund_needs_lines")."""
    return write(
        credit_note_document(order, refund, invoice_ref, seller, invoice, number, issue_date, item_codes, verifactu)
    )


def credit_note_document(
    order: Order,
    refund: Refund,
    invoice_ref: DocumentRef,
    seller: Seller | None,
    invoice: InvoiceSettings,
    number: str,
    issue_date: date,
    item_codes: Mapping[str, str],
    verifactu: Environment | None = None,
) -> Document:
    """What credit_note_xml writes, not written yet, with every check of credit_note_xml (see invoice_document)."""
    seller = parties.require_seller(seller)
    buyer = parties.buyer(order)
    booked = [lines.refund_line(order, refunded, seller, buyer, invoice, item_codes) for refunded in refund.lines]
    charges = lines.refund_charges(order, refund, seller, buyer, invoice)
    unallocated = lines.unallocated_line(order, refund, seller, buyer, invoice, len(booked) + len(charges))
    if unallocated is not None:
        booked.append(unallocated)
    summed = totals(booked, charges, expected=refund.amount, prepaid=refund.amount)
    document = _document(
        "CreditNote",
        order,
        seller,
        buyer,
        invoice,
        number,
        issue_date,
        booked,
        charges,
        summed,
        invoice_ref,
        note=refund.reason,
    )
    # A corrective VERI*FACTU record by differences has a negative total; the QR shows the record's total.
    return _with_validation_url(document, verifactu, sign=-1)


def _with_validation_url(document: Document, verifactu: Environment | None, sign: int) -> Document:
    """With verifactu (the AEAT environment of a VERI*FACTU store) the document carries AEAT's validation URL
    for the seller's NIF, number, date and total (the record's ImporteTotal: TaxInclusiveAmount, negative for a
    credit note); without it, the document is unchanged."""
    if verifactu is None or not document.seller.vat_id:
        return document
    total = sign * document.totals.tax_inclusive
    url = validation_url(document.seller.vat_id, document.number, document.issue_date, total, verifactu)
    return replace(document, validation_url=url)


def _document(
    kind: str,
    order: Order,
    seller: Seller,
    buyer: Buyer,
    invoice: InvoiceSettings,
    number: str,
    issue_date: date,
    booked: list[DocumentLine],
    charges: list[DocumentCharge],
    summed: Totals,
    billing_reference: DocumentRef | None,
    note: str = "",
) -> Document:
    """The document's values, checked in the order the validators would report them."""
    categories = {line.category.code for line in booked} | {c.category.code for c in charges}
    # BR-O-02: a document outside the scope of VAT shows neither seller nor buyer VAT id.
    show_vat = "O" not in categories
    if show_vat and not seller.vat_id:
        raise PermanentError("seller_vat_missing")
    if not show_vat and not seller.legal_id:
        raise PermanentError("seller_identifier_missing")
    if order.currency not in codes.CURRENCIES:  # BR-CL-04, PEPPOL-EN16931-CL007
        raise PermanentError("currency_invalid", {"currency": order.currency})
    accounting = invoice.accounting_currency.strip().upper() or order.currency
    converted = None
    if accounting != order.currency:  # BT-6 and BT-111 (BR-53), with the rate and its source in the note
        shop = (order.shop_currency, order.shop_total)
        converted = exchange(order.currency, accounting, shop, order.total, summed.tax)
        note = "; ".join(part for part in (note, converted.note) if part)
    seller_endpoint = parties.seller_endpoint(seller)
    buyer_endpoint = parties.buyer_endpoint(buyer, show_vat)
    delivery = parties.delivery(order, seller, intra_community="K" in categories)
    return Document(
        kind=kind,
        number=number,
        issue_date=issue_date,
        currency=order.currency,
        note=note,
        order_number=order.number,
        order_id=order.order_id,
        billing_reference=billing_reference,
        seller=seller,
        seller_endpoint=seller_endpoint,
        seller_vat_id=parties.vat_id(seller.vat_id, seller.country) if show_vat and seller.vat_id else None,
        buyer=buyer,
        buyer_endpoint=buyer_endpoint,
        peppol=parties.on_peppol(seller_endpoint, buyer_endpoint),
        show_vat=show_vat,
        delivery=delivery,
        payment=_payment(order, seller, invoice),
        lines=booked,
        charges=charges,
        totals=summed,
        exchange=converted,
    )


def _payment(order: Order, seller: Seller, invoice: InvoiceSettings) -> Payment:
    code = invoice.payment_means_code.strip()
    if code not in codes.PAYMENT_MEANS:  # BR-CL-16
        raise PermanentError("payment_means_invalid", {"code": code})
    if code in codes.DIRECT_DEBIT:  # PEPPOL-EN16931-R061
        raise PermanentError("payment_mandate_missing", {"code": code})
    if code in ("30", "58") and not seller.iban:  # BR-61
        raise PermanentError("seller_iban_missing", {"code": code})
    paid_in = bool(seller.iban) and code in _CREDIT_TRANSFER
    return Payment(
        code=code,
        name=clean_text(order.payment_method_title),
        payment_id=order.number,
        account=re.sub(r"\s", "", seller.iban).upper() if paid_in else None,
        terms=invoice.payment_terms.strip(),
    )
