"""The VERI*FACTU web service's messages: the RegFactuSistemaFacturacion request (SuministroLR.xsd) that carries up
to 1,000 records, and its answer RespuestaRegFactuSistemaFacturacion (RespuestaSuministro.xsd). Pure: no I/O.

Endpoints are those of AEAT's SistemaFacturacion.wsdl (service sfVerifactu, port SistemaVerifactu and the
pre-production twin). The records go into the envelope as they were written and hashed, byte for byte in content.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from lxml import etree

_WS = "https://www2.agenciatributaria.gob.es/static_files/common/internet/dep/aplicaciones/es/aeat/tike/cont/ws/"
NS_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
NS_SUMINISTRO_LR = _WS + "SuministroLR.xsd"
NS_SUMINISTRO_INFORMACION = _WS + "SuministroInformacion.xsd"
NS_RESPUESTA = _WS + "RespuestaSuministro.xsd"
_NS = {"env": NS_SOAP, "sfLR": NS_SUMINISTRO_LR, "sf": NS_SUMINISTRO_INFORMACION, "sfR": NS_RESPUESTA}

# SistemaFacturacion.wsdl, service sfVerifactu: SistemaVerifactu (production) and SistemaVerifactuPruebas.
ENDPOINTS: dict[str, str] = {
    "test": "https://prewww1.aeat.es/wlpl/TIKE-CONT/ws/SistemaFacturacion/VerifactuSOAP",
    "production": "https://www1.agenciatributaria.gob.es/wlpl/TIKE-CONT/ws/SistemaFacturacion/VerifactuSOAP",
}
MAX_RECORDS = 1000  # SuministroLR.xsd: RegistroFactura maxOccurs="1000"
DEFAULT_WAIT_SECONDS = 60  # what the AEAT answers today when an answer lacks TiempoEsperaEnvio

RecordAnswer = Literal["accepted", "accepted_with_errors", "rejected"]
_STATES: dict[str, RecordAnswer] = {
    "Correcto": "accepted",
    "AceptadoConErrores": "accepted_with_errors",
    "Incorrecto": "rejected",
}
_OPERATIONS = {"Alta": "alta", "Anulacion": "anulacion"}


class UnreadableAnswer(ValueError):
    """The AEAT's answer is neither a RespuestaRegFactuSistemaFacturacion nor a SOAP fault."""


@dataclass(frozen=True)
class Fault:
    """A SOAP fault: the whole submission was refused (schema, certificate, too early); no record was taken."""

    code: str
    text: str


@dataclass(frozen=True)
class LineAnswer:
    """One RespuestaLinea: the record it answers (number, date dd-mm-yyyy, alta/anulacion) and its state."""

    invoice_number: str
    issue_date: str
    kind: str
    state: RecordAnswer
    error_code: str = ""
    error_text: str = ""
    duplicate_state: str = ""  # RegistroDuplicado/EstadoRegistroDuplicado when AEAT already had the record


@dataclass(frozen=True)
class Answer:
    """A RespuestaRegFactuSistemaFacturacion: the submission's CSV (when any record was taken), the wait before
    the next submission, EstadoEnvio and one answer per record."""

    csv: str
    wait_seconds: int
    submission_state: str
    lines: list[LineAnswer] = field(default_factory=list)


def _add(parent: etree._Element, ns: str, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ns}}}{name}")
    if text is not None:
        element.text = text
    return element


def request_envelope(issuer_nif: str, issuer_name: str, records: Sequence[str]) -> bytes:
    """The SOAP 1.1 envelope of one submission: Cabecera/ObligadoEmision and one RegistroFactura per record
    (RegistroAlta or RegistroAnulacion XML text). Raises ValueError for no records or more than 1,000."""
    if not 1 <= len(records) <= MAX_RECORDS:
        raise ValueError(f"a submission holds 1 to {MAX_RECORDS} records, not {len(records)}")
    envelope = etree.Element(
        f"{{{NS_SOAP}}}Envelope", nsmap={"soapenv": NS_SOAP, "sfLR": NS_SUMINISTRO_LR, "sf": NS_SUMINISTRO_INFORMACION}
    )
    body = _add(envelope, NS_SOAP, "Body")
    submission = _add(body, NS_SUMINISTRO_LR, "RegFactuSistemaFacturacion")
    issuer = _add(_add(submission, NS_SUMINISTRO_LR, "Cabecera"), NS_SUMINISTRO_INFORMACION, "ObligadoEmision")
    _add(issuer, NS_SUMINISTRO_INFORMACION, "NombreRazon", issuer_name)
    _add(issuer, NS_SUMINISTRO_INFORMACION, "NIF", issuer_nif)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)
    for record in records:
        _add(submission, NS_SUMINISTRO_LR, "RegistroFactura").append(etree.fromstring(record.encode(), parser))
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))


def _text(node: etree._Element, path: str) -> str:
    return str(node.findtext(path, default="", namespaces=_NS)).strip()


def parse_answer(body: bytes) -> Answer | Fault:
    """The AEAT's answer to a submission. Raises UnreadableAnswer for anything else (an HTML error page)."""
    try:
        root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise UnreadableAnswer(f"the answer is no XML: {exc}") from None
    fault = root.find("env:Body/env:Fault", _NS)
    if fault is not None:
        return Fault(_text(fault, "faultcode"), _text(fault, "faultstring"))
    answer = root.find("env:Body/sfR:RespuestaRegFactuSistemaFacturacion", _NS)
    if answer is None:
        raise UnreadableAnswer("the answer holds no RespuestaRegFactuSistemaFacturacion")
    wait = _text(answer, "sfR:TiempoEsperaEnvio")
    lines = []
    for line in answer.findall("sfR:RespuestaLinea", _NS):
        state = _STATES.get(_text(line, "sfR:EstadoRegistro"))
        if state is None:
            raise UnreadableAnswer(f"unknown EstadoRegistro '{_text(line, 'sfR:EstadoRegistro')}'")
        lines.append(
            LineAnswer(
                invoice_number=_text(line, "sfR:IDFactura/sf:NumSerieFactura"),
                issue_date=_text(line, "sfR:IDFactura/sf:FechaExpedicionFactura"),
                kind=_OPERATIONS.get(_text(line, "sfR:Operacion/sf:TipoOperacion"), "alta"),
                state=state,
                error_code=_text(line, "sfR:CodigoErrorRegistro"),
                error_text=_text(line, "sfR:DescripcionErrorRegistro"),
                duplicate_state=_text(line, "sfR:RegistroDuplicado/sf:EstadoRegistroDuplicado"),
            )
        )
    return Answer(
        csv=_text(answer, "sfR:CSV"),
        wait_seconds=int(wait) if wait.isdigit() else DEFAULT_WAIT_SECONDS,
        submission_state=_text(answer, "sfR:EstadoEnvio"),
        lines=lines,
    )
