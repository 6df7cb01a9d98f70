"""VERI*FACTU records: AEAT's worked hash examples, and every RegistroAlta / RegistroAnulacion the builder
makes from an issued UBL document validates against AEAT's vendored XSD."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from shared.adapters.documents_fs import FolderDocumentStore
from shared.domain.order import Order
from shared.domain.verifactu import InvoicingSystem
from shared.fiscal.verifactu import huella
from shared.fiscal.verifactu.records import SF, Link, build_alta, build_anulacion, read_ubl, validation_errors
from shared.targets.ubl import UblOutboxTarget
from tests.fixtures.ubl.orders import D, company, consumer, line, order, partial_refund, store, two_mugs_with_coupon

SYSTEM = InvoicingSystem(producer_name="Integraciones Demo S.L.", producer_nif="B12345674", installation_number="1")
MADRID_WINTER = timezone(timedelta(hours=1))
AT = datetime(2025, 3, 31, 23, 30, tzinfo=MADRID_WINTER)
NS = {"sf": SF}

# AEAT, "Detalle de las especificaciones técnicas para generación de la huella o hash de los registros de
# facturación" (v0.1.2), section 6: the worked examples, chained first alta → second alta → anulación.
FIRST = "3C464DAF61ACB827C65FDA19F352A4E3BDC2C640E9E9FC4CC058073F38F12F60"
SECOND = "F7B94CFD8924EDFF273501B01EE5153E4CE8F259766F88CF6ACB8935802A2B97"
CANCELLED = "177547C0D57AC74748561D054A9CEC14B4C4EA23D1BEFD6F2E69E3A388F90C68"


def test_alta_hash_reproduces_aeats_first_worked_example() -> None:
    got = huella.alta_hash(
        "89890001K", "12345678/G33", "01-01-2024", "F1", "12.35", "123.45", "", "2024-01-01T19:20:30+01:00"
    )
    assert got == FIRST


def test_alta_hash_reproduces_aeats_chained_example() -> None:
    got = huella.alta_hash(
        "89890001K", "12345679/G34", "01-01-2024", "F1", "12.35", "123.45", FIRST, "2024-01-01T19:20:35+01:00"
    )
    assert got == SECOND


def test_anulacion_hash_reproduces_aeats_worked_example() -> None:
    got = huella.anulacion_hash("89890001K", "12345679/G34", "01-01-2024", SECOND, "2024-01-01T19:20:40+01:00")
    assert got == CANCELLED


def test_the_anulacion_builder_writes_aeats_example_hash_into_a_valid_record() -> None:
    """The builder formats the date and time exactly as the example strings: it reproduces the anulación hash."""
    built = build_anulacion(
        issuer_nif="89890001K",
        number="12345679/G34",
        issue_date=date(2024, 1, 1),
        system=SYSTEM,
        previous=Link("89890001K", "12345679/G34", date(2024, 1, 1), SECOND),
        generated_at=datetime(2024, 1, 1, 19, 20, 40, tzinfo=timezone(timedelta(hours=1))),
    )
    assert built.hash == CANCELLED
    assert validation_errors(built.xml) == []
    root = etree.fromstring(built.xml.encode())
    assert root.findtext("sf:Encadenamiento/sf:RegistroAnterior/sf:Huella", namespaces=NS) == SECOND
    assert root.findtext("sf:FechaHoraHusoGenRegistro", namespaces=NS) == "2024-01-01T19:20:40+01:00"


def _issue_invoice(tmp_path: Path, the_order: Order) -> bytes:
    documents = FolderDocumentStore(tmp_path / "outbox")
    target = UblOutboxTarget(documents, store(), {}, clock=lambda: datetime(2025, 3, 31, 22, 30, tzinfo=UTC))
    target.issue_invoice(the_order, "CA-000001")
    stored = documents.get("demo-woo", "CA-000001")
    assert stored is not None
    return stored.content


def _alta(content: bytes, simplified: bool, previous: Link | None = None) -> etree._Element:
    built = build_alta(
        read_ubl(content),
        issuer_nif="B12345674",
        issuer_name="Cerámica del Sur S.L.",
        simplified=simplified,
        description="Venta del pedido 1042",
        system=SYSTEM,
        previous=previous,
        generated_at=AT,
    )
    assert validation_errors(built.xml) == []
    root = etree.fromstring(built.xml.encode())
    assert root.findtext("sf:Huella", namespaces=NS) == built.hash
    return root


def test_consumer_invoice_is_a_simplified_f2_first_record_with_its_vat_by_rate(tmp_path: Path) -> None:
    root = _alta(_issue_invoice(tmp_path, two_mugs_with_coupon()), simplified=True)
    assert root.findtext("sf:TipoFactura", namespaces=NS) == "F2"
    assert root.find("sf:Destinatarios", NS) is None
    assert root.findtext("sf:Encadenamiento/sf:PrimerRegistro", namespaces=NS) == "S"
    detail = root.findall("sf:Desglose/sf:DetalleDesglose", NS)
    assert [d.findtext("sf:CalificacionOperacion", namespaces=NS) for d in detail] == ["S1"]
    assert detail[0].findtext("sf:TipoImpositivo", namespaces=NS) == "21.00"
    base = D(detail[0].findtext("sf:BaseImponibleOimporteNoSujeto", namespaces=NS) or "")
    tax = D(root.findtext("sf:CuotaTotal", namespaces=NS) or "")
    assert D(root.findtext("sf:ImporteTotal", namespaces=NS) or "") == base + tax
    assert root.findtext("sf:SistemaInformatico/sf:NumeroInstalacion", namespaces=NS) == "1"


def test_two_rates_give_one_breakdown_line_each(tmp_path: Path) -> None:
    lines = [
        line("1", "BLUE-MUG-350ML", "Mug", "1", "10.00"),
        line("2", "COFFEE-COL-1KG", "Coffee", "1", "20.00", rate="10"),
    ]
    root = _alta(_issue_invoice(tmp_path, order(lines)), simplified=True)
    rates = sorted(
        d.findtext("sf:TipoImpositivo", namespaces=NS) or "" for d in root.iterfind(".//sf:DetalleDesglose", NS)
    )
    assert rates == ["10.00", "21.00"]


def test_spanish_company_gets_a_full_f1_naming_its_nif(tmp_path: Path) -> None:
    buyer = company("ES", "ESB87654323", "Té y Tetera S.L.", "Barcelona")
    root = _alta(
        _issue_invoice(tmp_path, order([line("1", "BLUE-MUG-350ML", "Mug", "2", "10.00")], customer=buyer)), False
    )
    assert root.findtext("sf:TipoFactura", namespaces=NS) == "F1"
    assert root.findtext("sf:Destinatarios/sf:IDDestinatario/sf:NIF", namespaces=NS) == "B87654323"


def test_intra_eu_supply_to_a_vat_registered_buyer_is_exempt_e5(tmp_path: Path) -> None:
    buyer = company("FR", "FR40303265045", "Thés de France SARL", "Paris")
    lines = [line("1", "BLUE-MUG-350ML", "Mug", "2", "10.00", rate="0")]
    root = _alta(_issue_invoice(tmp_path, order(lines, customer=buyer)), False)
    detail = root.find(".//sf:DetalleDesglose", NS)
    assert detail is not None
    assert detail.findtext("sf:OperacionExenta", namespaces=NS) == "E5"
    assert root.findtext("sf:Destinatarios/sf:IDDestinatario/sf:IDOtro/sf:CodigoPais", namespaces=NS) == "FR"


def test_export_outside_the_eu_is_exempt_e2_under_the_export_regime(tmp_path: Path) -> None:
    lines = [line("1", "BLUE-MUG-350ML", "Mug", "2", "10.00", rate="0")]
    root = _alta(_issue_invoice(tmp_path, order(lines, customer=consumer("US"))), simplified=True)
    detail = root.find(".//sf:DetalleDesglose", NS)
    assert detail is not None
    assert detail.findtext("sf:OperacionExenta", namespaces=NS) == "E2"
    assert detail.findtext("sf:ClaveRegimen", namespaces=NS) == "02"


@pytest.mark.parametrize(("simplified", "kind"), [(True, "R5"), (False, "R1")])
def test_credit_note_corrects_the_invoice_by_differences_with_negative_amounts(
    tmp_path: Path, simplified: bool, kind: str
) -> None:
    documents = FolderDocumentStore(tmp_path / "outbox")
    target = UblOutboxTarget(documents, store(), {}, clock=lambda: datetime(2025, 3, 31, 22, 30, tzinfo=UTC))
    sale = two_mugs_with_coupon("4.95")
    invoice = target.issue_invoice(sale, "CA-000001")
    target.issue_credit_note(sale, partial_refund(sale), invoice, "CA-R-000001")
    stored = documents.get("demo-woo", "CA-R-000001")
    assert stored is not None
    previous = Link("B12345674", "CA-000001", date(2025, 3, 31), FIRST)
    root = _alta(stored.content, simplified, previous)
    assert root.findtext("sf:TipoFactura", namespaces=NS) == kind
    assert root.findtext("sf:TipoRectificativa", namespaces=NS) == "I"
    assert (
        root.findtext("sf:FacturasRectificadas/sf:IDFacturaRectificada/sf:NumSerieFactura", namespaces=NS)
        == "CA-000001"
    )
    assert D(root.findtext("sf:ImporteTotal", namespaces=NS) or "") == -D("19.60")
    assert root.findtext("sf:Encadenamiento/sf:RegistroAnterior/sf:Huella", namespaces=NS) == FIRST


def test_the_xsd_check_refuses_a_record_that_breaks_the_schema(tmp_path: Path) -> None:
    root = _alta(_issue_invoice(tmp_path, two_mugs_with_coupon()), simplified=True)
    tipo = root.find("sf:TipoFactura", NS)
    assert tipo is not None
    tipo.text = "F9"
    assert validation_errors(etree.tostring(root, encoding="unicode"))
