"""VERI*FACTU item 3: AEAT's validation URL, the UBL note and additional document reference that carry it, and the
printable invoice with its QR code (decoded back with zbarimg) and legend in Spanish and English."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree
from peppol.xsd import validate_xsd

from shared.domain.records import DocumentRef
from shared.fiscal.verifactu.pdf import invoice_pdf, read_invoice
from shared.fiscal.verifactu.qr import validation_url
from shared.targets.ubl.mapper import credit_note_xml, invoice_xml
from tests.fixtures.ubl.orders import CREATED, invoice_settings, partial_refund, seller, two_mugs_with_coupon
from tests.ubl_rules import NS, check_invoice

ISSUED = date(2025, 3, 15)
INVOICE_REF = DocumentRef(kind="invoice", number="INV-000041", target="ubl", issued_at=CREATED)
CONSUMER = ("PEPPOL-EN16931-CL008",)  # a consumer has no Peppol address (see test_ubl_mapper)
URL = "cac:AdditionalDocumentReference[cbc:ID='VERIFACTU-QR']/cac:Attachment/cac:ExternalReference/cbc:URI/text()"


def test_validation_url_reproduces_the_aeat_specification_example() -> None:
    # AEAT's QR specification, §5 example: the "&" inside the number is encoded, the date is dd-mm-yyyy.
    url = validation_url("89890001K", "12345678&G33", date(2024, 1, 1), Decimal("241.4"), "test")
    assert url == (
        "https://prewww2.aeat.es/wlpl/TIKE-CONT/ValidarQR?nif=89890001K&numserie=12345678%26G33"
        "&fecha=01-01-2024&importe=241.40"
    )


def test_validation_url_uses_the_production_host_and_the_nif_without_country_prefix() -> None:
    url = validation_url("ES B-12345674", "F 2025/7", date(2025, 12, 31), Decimal("-19.6"), "production")
    assert url == (
        "https://www2.agenciatributaria.gob.es/wlpl/TIKE-CONT/ValidarQR?nif=B12345674&numserie=F+2025%2F7"
        "&fecha=31-12-2025&importe=-19.60"
    )


def test_a_verifactu_invoice_carries_the_url_in_a_note_and_a_document_reference_and_stays_valid() -> None:
    xml = invoice_xml(two_mugs_with_coupon(), seller(), invoice_settings(), "INV-000041", ISSUED, {}, "test")
    root = etree.fromstring(xml)
    expected = validation_url(seller().vat_id, "INV-000041", ISSUED, two_mugs_with_coupon().total, "test")
    assert root.xpath(URL, namespaces=NS) == [expected]
    assert root.xpath("cbc:Note/text()", namespaces=NS) == [f"VERI*FACTU: {expected}"]
    assert check_invoice(xml, ignore=CONSUMER) == []
    assert validate_xsd(xml)[0]


def test_a_verifactu_credit_note_keeps_one_note_with_the_reason_and_the_legend() -> None:
    mugs = two_mugs_with_coupon()
    refund = partial_refund(mugs)
    xml = credit_note_xml(mugs, refund, INVOICE_REF, seller(), invoice_settings(), "CN-7", ISSUED, {}, "test")
    root = etree.fromstring(xml)
    [url] = root.xpath(URL, namespaces=NS)
    assert url.endswith(f"numserie=CN-7&fecha=15-03-2025&importe=-{refund.amount:.2f}")
    assert root.xpath("cbc:Note/text()", namespaces=NS) == [f"{refund.reason} | VERI*FACTU: {url}"]
    assert check_invoice(xml, ignore=CONSUMER) == []
    assert validate_xsd(xml)[0]


def test_a_store_without_verifactu_gets_no_url() -> None:
    xml = invoice_xml(two_mugs_with_coupon(), seller(), invoice_settings(), "INV-000041", ISSUED, {})
    assert b"ValidarQR" not in xml and b"AdditionalDocumentReference" not in xml


def _page_png(pdf: bytes, tmp_path: Path) -> Path:
    (tmp_path / "invoice.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", "invoice.pdf", "page"], cwd=tmp_path, check=True)
    return tmp_path / "page.png"


def _decoded_qr(png: Path) -> list[str]:
    done = subprocess.run(["zbarimg", "-q", "--raw", str(png)], capture_output=True, text=True, check=False)
    return done.stdout.split()


def _pdf_text(pdf: bytes, tmp_path: Path) -> str:
    (tmp_path / "text.pdf").write_bytes(pdf)
    return subprocess.run(["pdftotext", "text.pdf", "-"], cwd=tmp_path, capture_output=True, text=True).stdout


needs_tools = pytest.mark.skipif(
    not (shutil.which("pdftoppm") and shutil.which("zbarimg")), reason="apt-get install poppler-utils zbar-tools"
)


@needs_tools
def test_the_printed_qr_code_decodes_to_the_documents_validation_url(tmp_path: Path) -> None:
    mugs = two_mugs_with_coupon("4.95")  # with shipping
    xml = invoice_xml(mugs, seller(), invoice_settings(), "INV-000041", ISSUED, {}, "test")
    [url] = etree.fromstring(xml).xpath(URL, namespaces=NS)
    pdf = invoice_pdf(xml, "es")
    assert pdf.startswith(b"%PDF-")
    assert _decoded_qr(_page_png(pdf, tmp_path)) == [url]
    text = _pdf_text(pdf, tmp_path)
    assert "VERI*FACTU" in text and "QR tributario:" in text
    assert "Factura INV-000041" in text and "Factura verificable en la sede electrónica de la AEAT" in text
    assert "Blue mug 350 ml" in text and "Flat rate" in text  # lines and the shipping charge make the base


@needs_tools
def test_the_printed_credit_note_speaks_english_when_asked_and_names_the_corrected_invoice(tmp_path: Path) -> None:
    mugs = two_mugs_with_coupon()
    xml = credit_note_xml(
        mugs, partial_refund(mugs), INVOICE_REF, seller(), invoice_settings(), "CN-7", ISSUED, {}, "test"
    )
    text = _pdf_text(invoice_pdf(xml, "en"), tmp_path)
    assert "Corrective invoice CN-7" in text and "Corrects invoice INV-000041" in text
    assert "Invoice verifiable at the AEAT's electronic office" in text


@needs_tools
def test_a_document_without_url_prints_without_qr_code_or_legend(tmp_path: Path) -> None:
    xml = invoice_xml(two_mugs_with_coupon(), seller(), invoice_settings(), "INV-000041", ISSUED, {})
    pdf = invoice_pdf(xml, "es")
    assert _decoded_qr(_page_png(pdf, tmp_path)) == []
    assert "VERI*FACTU" not in _pdf_text(pdf, tmp_path)


def test_read_invoice_refuses_xml_that_is_no_invoice() -> None:
    with pytest.raises(ValueError):
        read_invoice(b"<Order/>")
    assert read_invoice(invoice_xml(two_mugs_with_coupon(), seller(), invoice_settings(), "N1", ISSUED, {})).lines
