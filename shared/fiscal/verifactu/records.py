"""RegistroAlta / RegistroAnulacion XML (lxml), built from the UBL document the service issued, and the check
against AEAT's vendored XSD. Pure: no state, no clock; the chain (chain.py) supplies the link and the time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

from lxml import etree

from shared.domain.verifactu import InvoicingSystem
from shared.fiscal.verifactu import huella

SF = "https://www2.agenciatributaria.gob.es/static_files/common/internet/dep/aplicaciones/es/aeat/tike/cont/ws/SuministroInformacion.xsd"
XSD_DIR = Path(__file__).parent / "xsd"
_UBL = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
ZERO = Decimal("0")

# UBL VAT category (UNCL5305) → how the Desglose states it: (CalificacionOperacion or OperacionExenta, ClaveRegimen).
# E2: exports (art. 21 LIVA) under regime 02; E5: intra-EU supplies (art. 25 LIVA); N2: not subject by the
# place-of-supply rules; S2: reverse charge (the buyer pays the tax); E1: other exemptions (art. 20 LIVA).
_QUALIFICATION: dict[str, tuple[str, str]] = {
    "S": ("S1", "01"),
    "Z": ("S1", "01"),
    "AE": ("S2", "01"),
    "E": ("E1", "01"),
    "K": ("E5", "01"),
    "G": ("E2", "02"),
    "O": ("N2", "01"),
}
_EXEMPT = {"E1", "E2", "E3", "E4", "E5", "E6"}


@dataclass(frozen=True)
class Link:
    """The previous record of the issuer's chain, as the next record quotes it."""

    issuer_nif: str
    invoice_number: str
    issue_date: date
    hash: str


@dataclass(frozen=True)
class TaxLine:
    category: str  # UBL VAT category id
    rate: Decimal | None
    base: Decimal
    tax: Decimal


@dataclass(frozen=True)
class IssuedDocument:
    """What a record needs from an issued UBL invoice or credit note."""

    kind: str  # invoice | credit_note
    number: str
    issue_date: date
    total: Decimal  # tax included, positive as the UBL document states it
    tax: Decimal
    buyer_name: str
    buyer_tax_id: str  # with its country prefix as written in the UBL document; "" when none
    buyer_country: str
    taxes: list[TaxLine] = field(default_factory=list)
    corrected_number: str = ""  # a credit note's invoice
    corrected_date: date | None = None


def _decimal(node: etree._Element, path: str) -> Decimal:
    return Decimal(node.findtext(path, namespaces=_UBL) or "0")


def read_ubl(content: bytes) -> IssuedDocument:
    """The record's facts from an issued UBL document (what was issued is what is recorded)."""
    root = etree.fromstring(content, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    kind = "credit_note" if etree.QName(root).localname == "CreditNote" else "invoice"
    party = root.find("cac:AccountingCustomerParty/cac:Party", _UBL)
    taxes = [
        TaxLine(
            category=sub.findtext("cac:TaxCategory/cbc:ID", namespaces=_UBL) or "S",
            rate=Decimal(rate) if (rate := sub.findtext("cac:TaxCategory/cbc:Percent", namespaces=_UBL)) else None,
            base=_decimal(sub, "cbc:TaxableAmount"),
            tax=_decimal(sub, "cbc:TaxAmount"),
        )
        for sub in root.iterfind("cac:TaxTotal/cac:TaxSubtotal", _UBL)
    ]
    reference = root.find("cac:BillingReference/cac:InvoiceDocumentReference", _UBL)
    corrected_date = reference.findtext("cbc:IssueDate", namespaces=_UBL) if reference is not None else None

    def party_text(path: str) -> str:
        return (party.findtext(path, namespaces=_UBL) or "").strip() if party is not None else ""

    return IssuedDocument(
        kind=kind,
        number=root.findtext("cbc:ID", namespaces=_UBL) or "",
        issue_date=date.fromisoformat(root.findtext("cbc:IssueDate", namespaces=_UBL) or ""),
        total=_decimal(root, "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount"),
        tax=sum((t.tax for t in taxes), ZERO),
        buyer_name=party_text("cac:PartyLegalEntity/cbc:RegistrationName") or party_text("cac:PartyName/cbc:Name"),
        buyer_tax_id=party_text("cac:PartyTaxScheme/cbc:CompanyID"),
        buyer_country=party_text("cac:PostalAddress/cac:Country/cbc:IdentificationCode"),
        taxes=taxes,
        corrected_number=reference.findtext("cbc:ID", namespaces=_UBL) or "" if reference is not None else "",
        corrected_date=date.fromisoformat(corrected_date) if corrected_date else None,
    )


def invoice_type(kind: str, simplified: bool) -> str:
    """F1 full / F2 simplified invoice; R1 (art. 80 LIVA: returns, price changes) / R5 simplified credit note."""
    if kind == "credit_note":
        return "R5" if simplified else "R1"
    return "F2" if simplified else "F1"


def _add(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{SF}}}{tag}")
    if text is not None:
        element.text = text
    return element


def _add_id(parent: etree._Element, tag: str, nif: str, number: str, day: date, suffix: str = "") -> None:
    element = _add(parent, tag)
    _add(element, f"IDEmisorFactura{suffix}", nif)
    _add(element, f"NumSerieFactura{suffix}", number)
    _add(element, f"FechaExpedicionFactura{suffix}", huella.date_text(day))


def _add_buyer(parent: etree._Element, document: IssuedDocument) -> None:
    buyer = _add(_add(parent, "Destinatarios"), "IDDestinatario")
    _add(buyer, "NombreRazon", (document.buyer_name or document.buyer_tax_id)[:120])
    tax_id = document.buyer_tax_id.replace(" ", "").upper()
    if tax_id.startswith("ES") or (not tax_id[:2].isalpha() and document.buyer_country in ("", "ES")):
        _add(buyer, "NIF", tax_id.removeprefix("ES"))
        return
    other = _add(buyer, "IDOtro")
    _add(other, "CodigoPais", tax_id[:2] if tax_id[:2].isalpha() else document.buyer_country)
    _add(other, "IDType", "02")  # NIF-IVA: the buyer's VAT number in another member state
    _add(other, "ID", tax_id)


def _add_breakdown(parent: etree._Element, document: IssuedDocument, sign: Decimal) -> None:
    breakdown = _add(parent, "Desglose")
    for line in document.taxes:
        qualification, regime = _QUALIFICATION.get(line.category, ("S1", "01"))
        detail = _add(breakdown, "DetalleDesglose")
        _add(detail, "Impuesto", "01")  # IVA
        _add(detail, "ClaveRegimen", regime)
        _add(detail, "OperacionExenta" if qualification in _EXEMPT else "CalificacionOperacion", qualification)
        if qualification in ("S1", "S2"):
            _add(detail, "TipoImpositivo", huella.amount_text(line.rate or ZERO))
        _add(detail, "BaseImponibleOimporteNoSujeto", huella.amount_text(sign * line.base))
        if qualification in ("S1", "S2"):
            _add(detail, "CuotaRepercutida", huella.amount_text(sign * line.tax))


def _add_chain(parent: etree._Element, previous: Link | None) -> None:
    chain = _add(parent, "Encadenamiento")
    if previous is None:
        _add(chain, "PrimerRegistro", "S")
        return
    link = _add(chain, "RegistroAnterior")
    _add(link, "IDEmisorFactura", previous.issuer_nif)
    _add(link, "NumSerieFactura", previous.invoice_number)
    _add(link, "FechaExpedicionFactura", huella.date_text(previous.issue_date))
    _add(link, "Huella", previous.hash)


def _add_system(parent: etree._Element, system: InvoicingSystem) -> None:
    block = _add(parent, "SistemaInformatico")
    _add(block, "NombreRazon", system.producer_name)
    _add(block, "NIF", system.producer_nif)
    _add(block, "NombreSistemaInformatico", system.name)
    _add(block, "IdSistemaInformatico", system.id)
    _add(block, "Version", system.version)
    _add(block, "NumeroInstalacion", system.installation_number)
    _add(block, "TipoUsoPosibleSoloVerifactu", "S")
    _add(block, "TipoUsoPosibleMultiOT", "S")
    _add(block, "IndicadorMultiplesOT", "S" if system.multiple_issuers else "N")


@dataclass(frozen=True)
class BuiltRecord:
    xml: str
    hash: str
    invoice_type: str
    total: Decimal
    tax: Decimal


def build_alta(
    document: IssuedDocument,
    *,
    issuer_nif: str,
    issuer_name: str,
    simplified: bool,
    description: str,
    system: InvoicingSystem,
    previous: Link | None,
    generated_at: datetime,
) -> BuiltRecord:
    """The RegistroAlta of an issued invoice or credit note. A credit note is a corrective invoice by
    differences (TipoRectificativa I): its amounts are negative and it names the corrected invoice."""
    kind = invoice_type(document.kind, simplified)
    sign = Decimal(-1) if document.kind == "credit_note" else Decimal(1)
    total, tax = sign * document.total, sign * document.tax
    root = etree.Element(f"{{{SF}}}RegistroAlta", nsmap={"sf": SF})
    _add(root, "IDVersion", "1.0")
    _add_id(root, "IDFactura", issuer_nif, document.number, document.issue_date)
    _add(root, "NombreRazonEmisor", issuer_name[:120])
    _add(root, "TipoFactura", kind)
    if document.kind == "credit_note":
        _add(root, "TipoRectificativa", "I")
        if document.corrected_number and document.corrected_date is not None:
            corrected = _add(root, "FacturasRectificadas")
            _add_id(corrected, "IDFacturaRectificada", issuer_nif, document.corrected_number, document.corrected_date)
    _add(root, "DescripcionOperacion", description[:500])
    if not simplified and document.buyer_tax_id:
        _add_buyer(root, document)
    _add_breakdown(root, document, sign)
    _add(root, "CuotaTotal", huella.amount_text(tax))
    _add(root, "ImporteTotal", huella.amount_text(total))
    _add_chain(root, previous)
    _add_system(root, system)
    moment = huella.moment_text(generated_at)
    _add(root, "FechaHoraHusoGenRegistro", moment)
    _add(root, "TipoHuella", huella.TIPO_HUELLA_SHA256)
    digest = huella.alta_hash(
        issuer_nif,
        document.number,
        huella.date_text(document.issue_date),
        kind,
        huella.amount_text(tax),
        huella.amount_text(total),
        previous.hash if previous else "",
        moment,
    )
    _add(root, "Huella", digest)
    return BuiltRecord(etree.tostring(root, encoding="unicode"), digest, kind, total, tax)


def build_anulacion(
    *,
    issuer_nif: str,
    number: str,
    issue_date: date,
    system: InvoicingSystem,
    previous: Link | None,
    generated_at: datetime,
) -> BuiltRecord:
    """The RegistroAnulacion of an invoice registered by mistake (not used by the UBL flow: see docs)."""
    root = etree.Element(f"{{{SF}}}RegistroAnulacion", nsmap={"sf": SF})
    _add(root, "IDVersion", "1.0")
    _add_id(root, "IDFactura", issuer_nif, number, issue_date, suffix="Anulada")
    _add_chain(root, previous)
    _add_system(root, system)
    moment = huella.moment_text(generated_at)
    _add(root, "FechaHoraHusoGenRegistro", moment)
    _add(root, "TipoHuella", huella.TIPO_HUELLA_SHA256)
    previous_hash = previous.hash if previous else ""
    digest = huella.anulacion_hash(issuer_nif, number, huella.date_text(issue_date), previous_hash, moment)
    _add(root, "Huella", digest)
    return BuiltRecord(etree.tostring(root, encoding="unicode"), digest, "", ZERO, ZERO)


class _LocalSchemas(etree.Resolver):
    # AEAT's SuministroInformacion.xsd imports xmldsig from w3.org: serve the vendored copy, never the network.
    def resolve(self, system_url: str, public_id: str, context: object) -> object:
        name = system_url.rsplit("/", 1)[-1]
        if (XSD_DIR / name).is_file():
            return self.resolve_filename(str(XSD_DIR / name), context)
        return None


@cache
def schema() -> etree.XMLSchema:
    """AEAT's SuministroInformacion.xsd (vendored, see xsd/README.md)."""
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_LocalSchemas())
    return etree.XMLSchema(etree.parse(str(XSD_DIR / "SuministroInformacion.xsd"), parser))


def validation_errors(xml: str) -> list[str]:
    """The XSD's complaints about one RegistroAlta / RegistroAnulacion; [] when it is valid."""
    checker = schema()
    if checker.validate(etree.fromstring(xml.encode())):
        return []
    return [f"line {e.line}: {e.message}" for e in checker.error_log]


def recomputed_hash(xml: str) -> tuple[str, str, str]:
    """(hash written in the record, hash recomputed from the record's own fields, previous hash it quotes):
    what an auditor checks, record by record, without trusting anything we stored beside the XML."""
    root = etree.fromstring(xml.encode())

    def text(path: str) -> str:
        return root.findtext(path, namespaces={"sf": SF}) or ""

    previous = text("sf:Encadenamiento/sf:RegistroAnterior/sf:Huella")
    moment = text("sf:FechaHoraHusoGenRegistro")
    if etree.QName(root).localname == "RegistroAnulacion":
        computed = huella.anulacion_hash(
            text("sf:IDFactura/sf:IDEmisorFacturaAnulada"),
            text("sf:IDFactura/sf:NumSerieFacturaAnulada"),
            text("sf:IDFactura/sf:FechaExpedicionFacturaAnulada"),
            previous,
            moment,
        )
        return text("sf:Huella"), computed, previous
    computed = huella.alta_hash(
        text("sf:IDFactura/sf:IDEmisorFactura"),
        text("sf:IDFactura/sf:NumSerieFactura"),
        text("sf:IDFactura/sf:FechaExpedicionFactura"),
        text("sf:TipoFactura"),
        text("sf:CuotaTotal"),
        text("sf:ImporteTotal"),
        previous,
        moment,
    )
    return text("sf:Huella"), computed, previous


def flag_correction(xml: str, rejected_before: bool) -> str:
    """The RegistroAlta with Subsanacion "S" and RechazoPrevio "S" (after a rejection) or "N", right after
    NombreRazonEmisor as the XSD orders them."""
    root = etree.fromstring(xml.encode())
    name = root.find(f"{{{SF}}}NombreRazonEmisor")
    if name is None:
        raise ValueError("not a RegistroAlta: no NombreRazonEmisor")
    for tag in ("Subsanacion", "RechazoPrevio"):
        for old in root.findall(f"{{{SF}}}{tag}"):
            root.remove(old)
    correction = etree.Element(f"{{{SF}}}Subsanacion")
    correction.text = "S"
    previous = etree.Element(f"{{{SF}}}RechazoPrevio")
    previous.text = "S" if rejected_before else "N"
    name.addnext(correction)
    correction.addnext(previous)
    return str(etree.tostring(root, encoding="unicode"))
