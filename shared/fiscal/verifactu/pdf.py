"""The printable invoice: a PDF in Spanish or English drawn from the stored UBL document, with the VERI*FACTU QR
code and legend when the document carries AEAT's validation URL. Pure: bytes in, bytes out.

Drawn from the kept XML, never from the order, so the PDF always shows what was issued (and what AEAT received).
fpdf2 draws it: pure Python, maintained, embeds the PNG that segno makes; its core font (Helvetica) covers
Latin-1, which holds Spanish and the other Western European names; other characters are spelled in ASCII.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from decimal import Decimal

from anyascii import anyascii
from fpdf import FPDF
from lxml import etree

from shared.fiscal.verifactu.qr import LEGEND, QR_HEADING, VALIDATION_DOCUMENT_ID, qr_png
from shared.texts import render

_NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
QR_SIZE_MM = 35  # the Reglamento asks for 30 to 40 mm


@dataclass(frozen=True)
class PrintedLine:
    name: str
    quantity: str
    price: str
    amount: str


@dataclass(frozen=True)
class PrintedTax:
    rate: str
    base: str
    tax: str


@dataclass(frozen=True)
class PrintedInvoice:
    """What the PDF shows, read from a UBL Invoice or CreditNote."""

    credit_note: bool
    number: str
    issue_date: str
    currency: str
    seller: list[str]
    buyer: list[str]
    corrects: str  # the corrected invoice's number, for a credit note
    lines: list[PrintedLine] = field(default_factory=list)
    taxes: list[PrintedTax] = field(default_factory=list)
    net: str = "0.00"
    tax: str = "0.00"
    total: str = "0.00"
    validation_url: str = ""


def _text(node: etree._Element, path: str) -> str:
    return str(node.findtext(path, default="", namespaces=_NS)).strip()


def _party(party: etree._Element | None) -> list[str]:
    # Name, tax id and address: what a printed Spanish invoice must show (RD 1619/2012 art. 6).
    if party is None:
        return []
    name = _text(party, "cac:PartyLegalEntity/cbc:RegistrationName") or _text(party, "cac:PartyName/cbc:Name")
    tax_id = _text(party, "cac:PartyTaxScheme/cbc:CompanyID") or _text(party, "cac:PartyLegalEntity/cbc:CompanyID")
    address = party.find("cac:PostalAddress", _NS)
    place = ""
    if address is not None:
        parts = [_text(address, p) for p in ("cbc:StreetName", "cbc:PostalZone", "cbc:CityName")]
        place = " ".join(p for p in parts if p)
        country = _text(address, "cac:Country/cbc:IdentificationCode")
        place = f"{place} ({country})" if country else place
    return [line for line in (name, tax_id, place) if line]


def _charge(charge: etree._Element) -> PrintedLine:
    # Document-level charges (shipping, fees) and allowances are part of the taxable base: print them as lines.
    amount = _text(charge, "cbc:Amount")
    signed = amount if _text(charge, "cbc:ChargeIndicator") == "true" else f"-{amount}"
    return PrintedLine(
        _text(charge, "cbc:AllowanceChargeReason") or _text(charge, "cbc:AllowanceChargeReasonCode"), "", "", signed
    )


def read_invoice(xml: bytes) -> PrintedInvoice:
    """The printable content of a UBL 2.1 Invoice or CreditNote. Raises ValueError for XML that is neither."""
    root = etree.fromstring(xml)
    kind = etree.QName(root).localname
    if kind not in ("Invoice", "CreditNote"):
        raise ValueError(f"not a UBL invoice or credit note: {kind}")
    line_tag = "cac:InvoiceLine" if kind == "Invoice" else "cac:CreditNoteLine"
    quantity_tag = "cbc:InvoicedQuantity" if kind == "Invoice" else "cbc:CreditedQuantity"
    url = root.xpath(
        "cac:AdditionalDocumentReference[cbc:ID = $id]/cac:Attachment/cac:ExternalReference/cbc:URI/text()",
        namespaces=_NS,
        id=VALIDATION_DOCUMENT_ID,
    )
    tax_total = root.find("cac:TaxTotal[cac:TaxSubtotal]", _NS)
    return PrintedInvoice(
        credit_note=kind == "CreditNote",
        number=_text(root, "cbc:ID"),
        issue_date=_text(root, "cbc:IssueDate"),
        currency=_text(root, "cbc:DocumentCurrencyCode"),
        seller=_party(root.find("cac:AccountingSupplierParty/cac:Party", _NS)),
        buyer=_party(root.find("cac:AccountingCustomerParty/cac:Party", _NS)),
        corrects=_text(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID"),
        lines=[
            PrintedLine(
                _text(line, "cac:Item/cbc:Name"),
                _text(line, quantity_tag),
                _text(line, "cac:Price/cbc:PriceAmount"),
                _text(line, "cbc:LineExtensionAmount"),
            )
            for line in root.findall(line_tag, _NS)
        ]
        + [_charge(charge) for charge in root.findall("cac:AllowanceCharge", _NS)],
        taxes=[
            PrintedTax(
                _text(sub, "cac:TaxCategory/cbc:Percent"),
                _text(sub, "cbc:TaxableAmount"),
                _text(sub, "cbc:TaxAmount"),
            )
            for sub in (tax_total.findall("cac:TaxSubtotal", _NS) if tax_total is not None else [])
        ],
        net=_text(root, "cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount"),
        tax=_text(tax_total, "cbc:TaxAmount") if tax_total is not None else "0.00",
        total=_text(root, "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount"),
        validation_url=str(url[0]).strip() if url else "",
    )


def _latin1(text: str) -> str:
    """The text in the built-in font's Latin-1: a character outside it is spelled in ASCII by anyascii (an em
    dash as "-", "ő" as "o", "€" as "EUR") rather than printed as "?"; what has no spelling is dropped."""
    return "".join(ch if ord(ch) < 256 else anyascii(ch) for ch in text)


def _money(value: str, currency: str) -> str:
    return f"{Decimal(value or '0'):,.2f} {currency}" if value else ""


class _Page(FPDF):
    def cell_text(self, width: float, text: str, align: str = "L", bold: bool = False) -> None:
        self.set_font("Helvetica", "B" if bold else "", 9)
        self.cell(width, 6, _latin1(text), align=align, new_x="RIGHT", new_y="TOP")


def invoice_pdf(xml: bytes, lang: str = "es") -> bytes:
    """The PDF of a stored UBL document in lang ("es" or "en"); with the QR code, its heading and the
    VERI*FACTU legend when the document carries the validation URL. Raises ValueError for XML that is no
    UBL invoice or credit note."""
    invoice = read_invoice(xml)

    def t(key: str, **data: object) -> str:
        return render(f"ui.pdf_{key}", data, lang)

    pdf = _Page(format="A4")
    pdf.set_title(_latin1(f"{t('credit_note' if invoice.credit_note else 'invoice')} {invoice.number}"))
    pdf.set_creator("order-to-cash")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _latin1(f"{t('credit_note' if invoice.credit_note else 'invoice')} {invoice.number}"))
    pdf.ln(10)
    pdf.set_font("Helvetica", "", 10)
    pdf.cell(0, 6, _latin1(f"{t('date')}: {invoice.issue_date}"))
    pdf.ln(6)
    if invoice.corrects:
        pdf.cell(0, 6, _latin1(t("corrects", number=invoice.corrects)))
        pdf.ln(6)
    pdf.ln(4)
    top = pdf.get_y()
    for column, (heading, lines) in enumerate(((t("seller"), invoice.seller), (t("buyer"), invoice.buyer))):
        pdf.set_xy(10 + column * 95, top)
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(90, 6, _latin1(heading))
        for text in lines:
            pdf.set_xy(10 + column * 95, pdf.get_y() + 6)
            pdf.set_font("Helvetica", "", 10)
            pdf.cell(90, 6, _latin1(text))
    pdf.set_xy(10, top + 30)
    widths = (100, 20, 35, 35)
    for width, key, align in zip(widths, ("description", "quantity", "unit_price", "amount"), "LRRR", strict=True):
        pdf.cell_text(width, t(key), align, bold=True)
    pdf.ln(7)
    for line in invoice.lines:
        pdf.cell_text(widths[0], line.name[:60])
        pdf.cell_text(widths[1], line.quantity, "R")
        pdf.cell_text(widths[2], _money(line.price, invoice.currency), "R")
        pdf.cell_text(widths[3], _money(line.amount, invoice.currency), "R")
        pdf.ln(6)
    pdf.ln(4)
    for tax in invoice.taxes:
        pdf.cell_text(85, "")
        pdf.cell_text(70, t("tax_line", rate=tax.rate, base=_money(tax.base, invoice.currency)), "R")
        pdf.cell_text(35, _money(tax.tax, invoice.currency), "R")
        pdf.ln(6)
    for key, value, bold in (("net", invoice.net, False), ("tax", invoice.tax, False), ("total", invoice.total, True)):
        pdf.cell_text(85, "")
        pdf.cell_text(70, t(key), "R", bold)
        pdf.cell_text(35, _money(value, invoice.currency), "R", bold)
        pdf.ln(6)
    if invoice.validation_url:
        _verifactu_block(pdf, invoice.validation_url, t("verifiable"))
    return bytes(pdf.output())


def _verifactu_block(pdf: FPDF, url: str, verifiable: str) -> None:
    # Heading above and legend below the code, as the Reglamento (art. 21) and AEAT's QR spec (§3) print them.
    pdf.ln(8)
    pdf.set_font("Helvetica", "", 9)
    pdf.cell(0, 5, QR_HEADING)
    pdf.ln(5)
    y = pdf.get_y()
    pdf.image(io.BytesIO(qr_png(url)), x=10, y=y, w=QR_SIZE_MM, h=QR_SIZE_MM)
    pdf.set_xy(10, y + QR_SIZE_MM + 1)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 6, LEGEND)
    pdf.ln(6)
    pdf.set_font("Helvetica", "", 8)
    pdf.cell(0, 5, _latin1(verifiable))
