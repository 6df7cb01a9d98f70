"""A local fake of the AEAT's VERI*FACTU web service for tests: HTTPS on 127.0.0.1 that requires a client
certificate, answers RegFactuSistemaFacturacion as RespuestaSuministro.xsd says, rejects the records whose number
is in `reject` with a real AEAT error code, and refuses a submission sent before its TiempoEsperaEnvio is over.

Its clock is the test's (`clock`), so the wait is tested without waiting. Certificates are made on the spot.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree

from shared.fiscal.verifactu.soap import NS_RESPUESTA, NS_SOAP, NS_SUMINISTRO_INFORMACION, NS_SUMINISTRO_LR

NS = {"env": NS_SOAP, "sfLR": NS_SUMINISTRO_LR, "sf": NS_SUMINISTRO_INFORMACION}
# AEAT's published error list (errores.properties): a record-level refusal.
REJECTION = (
    "1142",
    "El campo CuotaRepercutida tiene un valor incorrecto para el valor de los campos "
    "BaseImponibleOimporteNoSujeto y TipoImpositivo suministrados.",
)
TOO_EARLY = "Se ha realizado un envío antes de finalizar el tiempo de espera (TiempoEsperaEnvio)."  # the fake's words


@dataclass
class FakeAeat:
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    wait_seconds: int = 60
    reject: set[str] = field(default_factory=set)
    submissions: list[list[str]] = field(default_factory=list)  # the numbers of each accepted submission
    refused: int = 0
    last_answer: dict[str, datetime] = field(default_factory=dict)  # issuer NIF -> time of its last answer
    client_subjects: list[str] = field(default_factory=list)
    corrections: list[tuple[str, str]] = field(default_factory=list)  # (number, RechazoPrevio) of each subsanación
    exchanges: list[tuple[bytes, bytes]] = field(default_factory=list)  # (request, answer) as on the wire
    csv_count: int = 0

    def answer(self, body: bytes) -> tuple[int, bytes]:
        root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
        submission = root.find("env:Body/sfLR:RegFactuSistemaFacturacion", NS)
        if submission is None:
            return 500, fault("env:Client", "4102: El XML no cumple el esquema.")
        nif = submission.findtext("sfLR:Cabecera/sf:ObligadoEmision/sf:NIF", namespaces=NS) or ""
        name = submission.findtext("sfLR:Cabecera/sf:ObligadoEmision/sf:NombreRazon", namespaces=NS) or ""
        records = submission.findall("sfLR:RegistroFactura/*", NS)
        now = self.clock()
        last = self.last_answer.get(nif)
        if last is not None and now < last + timedelta(seconds=self.wait_seconds):
            self.refused += 1
            return 500, fault("env:Client", TOO_EARLY)
        if not 1 <= len(records) <= 1000:
            self.refused += 1
            return 500, fault("env:Client", "4102: El XML no cumple el esquema. RegistroFactura maxOccurs 1000.")
        self.last_answer[nif] = now
        lines, numbers = [], []
        for record in records:
            alta = etree.QName(record).localname == "RegistroAlta"
            suffix = "" if alta else "Anulada"
            number = record.findtext(f"sf:IDFactura/sf:NumSerieFactura{suffix}", namespaces=NS) or ""
            issued = record.findtext(f"sf:IDFactura/sf:FechaExpedicionFactura{suffix}", namespaces=NS) or ""
            numbers.append(number)
            if record.findtext("sf:Subsanacion", namespaces=NS) == "S":
                self.corrections.append((number, record.findtext("sf:RechazoPrevio", namespaces=NS) or ""))
            lines.append((number, issued, "Alta" if alta else "Anulacion", number in self.reject))
        self.submissions.append(numbers)
        return 200, self._response(nif, name, now, lines)

    def _response(self, nif: str, name: str, now: datetime, lines: list[tuple[str, str, str, bool]]) -> bytes:
        rejected = sum(1 for *_, bad in lines if bad)
        state = "Correcto" if not rejected else "Incorrecto" if rejected == len(lines) else "ParcialmenteCorrecto"
        r, sf = NS_RESPUESTA, NS_SUMINISTRO_INFORMACION
        envelope = etree.Element(f"{{{NS_SOAP}}}Envelope", nsmap={"env": NS_SOAP, "tikR": r, "tik": sf})
        answer = etree.SubElement(
            etree.SubElement(envelope, f"{{{NS_SOAP}}}Body"), f"{{{r}}}RespuestaRegFactuSistemaFacturacion"
        )

        def add(parent: etree._Element, ns: str, tag: str, text: str | None = None) -> etree._Element:
            element = etree.SubElement(parent, f"{{{ns}}}{tag}")
            element.text = text
            return element

        if rejected < len(lines):
            self.csv_count += 1
            add(answer, r, "CSV", f"A-FAKE{self.csv_count:010d}")
        presented = add(answer, r, "DatosPresentacion")
        add(presented, sf, "NIFPresentador", nif)
        add(presented, sf, "TimestampPresentacion", now.isoformat(timespec="seconds"))
        issuer = add(add(answer, r, "Cabecera"), sf, "ObligadoEmision")
        add(issuer, sf, "NombreRazon", name)
        add(issuer, sf, "NIF", nif)
        add(answer, r, "TiempoEsperaEnvio", str(self.wait_seconds))
        add(answer, r, "EstadoEnvio", state)
        for number, issued, operation, bad in lines:
            line = add(answer, r, "RespuestaLinea")
            invoice = add(line, r, "IDFactura")
            add(invoice, sf, "IDEmisorFactura", nif)
            add(invoice, sf, "NumSerieFactura", number)
            add(invoice, sf, "FechaExpedicionFactura", issued)
            add(add(line, r, "Operacion"), sf, "TipoOperacion", operation)
            add(line, r, "EstadoRegistro", "Incorrecto" if bad else "Correcto")
            if bad:
                add(line, r, "CodigoErrorRegistro", REJECTION[0])
                add(line, r, "DescripcionErrorRegistro", REJECTION[1])
        return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))


def fault(code: str, text: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="{NS_SOAP}"><env:Body><env:Fault>'
        f"<faultcode>{code}</faultcode><faultstring>{text}</faultstring></env:Fault></env:Body></env:Envelope>"
    ).encode()


@dataclass(frozen=True)
class Pki:
    ca: Path  # the CA that signed both certificates: the client's trust store for the server
    server: Path  # server certificate + key (PEM)
    client: Path  # the seller's certificate + key (PEM)
    client_p12: bytes  # the same as PKCS#12 with password "secreto"


def make_pki(folder: Path) -> Pki:
    """A CA, a server certificate for 127.0.0.1 and a seller's client certificate, all in folder."""
    import ipaddress

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Fake AEAT test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(ca_key, hashes.SHA256())
    )

    def issue(name: str, san: x509.GeneralName | None) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=2))
        )
        if san is not None:
            builder = builder.add_extension(x509.SubjectAlternativeName([san]), False)
        return key, builder.sign(ca_key, hashes.SHA256())

    def pem(key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ) + cert.public_bytes(serialization.Encoding.PEM)

    server_key, server_cert = issue("127.0.0.1", x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    client_key, client_cert = issue("B12345674 CERAMICA DEL SUR SL", None)
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(pem(server_key, server_cert))
    (folder / "client.pem").write_bytes(pem(client_key, client_cert))
    p12 = serialization.pkcs12.serialize_key_and_certificates(
        b"seller", client_key, client_cert, None, serialization.BestAvailableEncryption(b"secreto")
    )
    return Pki(folder / "ca.pem", folder / "server.pem", folder / "client.pem", p12)


@contextmanager
def running(fake: FakeAeat, pki: Pki) -> Iterator[str]:
    """Serve the fake over HTTPS on 127.0.0.1 (a free port), client certificate required; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
            fake.client_subjects.append(str(dict(x[0] for x in peer["subject"])["commonName"]) if peer else "")
            status, answer = fake.answer(body)
            fake.exchanges.append((body, answer))
            self.send_response(status)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server)
    context.load_verify_locations(pki.ca)
    context.verify_mode = ssl.CERT_REQUIRED  # like the AEAT: no certificate, no answer
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/wlpl/TIKE-CONT/ws/SistemaFacturacion/VerifactuSOAP"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
