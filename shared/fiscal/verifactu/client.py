"""The AEAT adapter: posts a submission to the VERI*FACTU SOAP endpoint over TLS with the seller's client
certificate and reads the answer. The sender (sender.py) talks to it through the AeatClient protocol.

requests + lxml rather than zeep: the records are already XML, written and hashed by the record builder, and go
into the envelope unchanged; zeep would rebuild them from its object model and needs the WSDL and its five XSDs
at run time. requests does client-certificate TLS (`cert=`) and timeouts; lxml reads the answer.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import requests
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, pkcs12

from shared.errors import ConfigError, RetryableError
from shared.fiscal.verifactu.soap import ENDPOINTS, Answer, Fault, UnreadableAnswer, parse_answer, request_envelope

TIMEOUT_SECONDS = 60


class AeatClient(Protocol):
    def submit(self, issuer_nif: str, issuer_name: str, records: Sequence[str]) -> Answer | Fault:
        """Send one submission (1 to 1,000 records). Raises RetryableError when the outcome is unknown (no
        answer, a timeout, an answer that is no SOAP message): the records stay pending and go again."""


@dataclass(frozen=True)
class ClientCertificate:
    """The seller's certificate and key: a PEM file holding both, or PKCS#12 bytes (what a Key Vault reference to
    a certificate resolves to, base64) with its password."""

    pem_path: str = ""
    pkcs12: bytes = b""
    password: str = ""


def certificate_setting(store_id: str) -> str:
    """The app setting that holds a store's certificate: VERIFACTU_CERTIFICATE_<STORE_ID> (upper case, "-" as "_"),
    else VERIFACTU_CERTIFICATE for all stores."""
    own = "VERIFACTU_CERTIFICATE_" + re.sub(r"[^A-Z0-9]", "_", store_id.upper())
    return own if os.environ.get(own) else "VERIFACTU_CERTIFICATE"


def client_certificate(store_id: str) -> ClientCertificate:
    """The store's certificate from the app settings: a file path (.pem with key, or .p12/.pfx) locally, the
    base64 PKCS#12 of a Key Vault certificate reference on Azure; the password in <setting>_PASSWORD.
    Raises ConfigError naming the setting when it is missing or unreadable (never its value)."""
    name = certificate_setting(store_id)
    value = os.environ.get(name, "").strip()
    password = os.environ.get(f"{name}_PASSWORD", "")
    if not value or value.startswith("@Microsoft.KeyVault("):
        raise ConfigError(f"{name} is not set (or its Key Vault reference is unresolved): no client certificate")
    path = Path(value)
    if path.suffix.lower() in (".pem", ".crt") and path.is_file():
        return ClientCertificate(pem_path=str(path))
    if path.suffix.lower() in (".p12", ".pfx") and path.is_file():
        return ClientCertificate(pkcs12=path.read_bytes(), password=password)
    try:
        return ClientCertificate(pkcs12=base64.b64decode(value, validate=True), password=password)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{name} is neither a certificate file nor base64 PKCS#12") from None


@contextmanager
def _pem_file(certificate: ClientCertificate) -> Iterator[str]:
    # requests takes the certificate as a file: PKCS#12 goes to a private temporary PEM removed right after use.
    if certificate.pem_path:
        yield certificate.pem_path
        return
    try:
        key, cert, chain = pkcs12.load_key_and_certificates(certificate.pkcs12, certificate.password.encode() or None)
    except ValueError:
        raise ConfigError("the client certificate (PKCS#12) cannot be opened: wrong password or damaged") from None
    if key is None or cert is None:
        raise ConfigError("the client certificate (PKCS#12) holds no key or no certificate")
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()) + cert.public_bytes(Encoding.PEM)
    pem += b"".join(extra.public_bytes(Encoding.PEM) for extra in chain or [])
    handle, name = tempfile.mkstemp(suffix=".pem")
    try:
        os.write(handle, pem)
        os.close(handle)
        yield name
    finally:
        os.unlink(name)


class SoapAeatClient:
    """AeatClient over HTTPS. `verify` is the CA bundle (True: the system's)."""

    def __init__(
        self,
        endpoint: str,
        certificate: ClientCertificate | None,
        *,
        verify: bool | str = True,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self.endpoint = endpoint
        self.certificate = certificate
        self.verify = verify
        self.timeout = timeout

    def submit(self, issuer_nif: str, issuer_name: str, records: Sequence[str]) -> Answer | Fault:
        envelope = request_envelope(issuer_nif, issuer_name, records)
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
        with self._certificate() as cert:
            try:
                response = requests.post(
                    self.endpoint, data=envelope, headers=headers, cert=cert, verify=self.verify, timeout=self.timeout
                )
            except requests.RequestException as exc:
                raise RetryableError(f"AEAT did not answer: {type(exc).__name__}") from None
        try:
            # A SOAP fault comes with HTTP 500; read the body before the status.
            return parse_answer(response.content)
        except UnreadableAnswer as exc:
            raise RetryableError(f"AEAT answered HTTP {response.status_code} without a SOAP answer: {exc}") from None

    @contextmanager
    def _certificate(self) -> Iterator[str | None]:
        if self.certificate is None:
            yield None
            return
        with _pem_file(self.certificate) as path:
            yield path


def aeat_client_for(store_id: str, environment: str) -> SoapAeatClient:
    """The client of a store's seller: the WSDL endpoint of its environment (VERIFACTU_ENDPOINT overrides it, e.g.
    for a local fake), its certificate (client_certificate) and VERIFACTU_CA_BUNDLE, if set, as trust store.
    Raises ConfigError when the certificate is missing."""
    endpoint = os.environ.get("VERIFACTU_ENDPOINT", "").strip() or ENDPOINTS[environment]
    bundle = os.environ.get("VERIFACTU_CA_BUNDLE", "").strip()
    return SoapAeatClient(endpoint, client_certificate(store_id), verify=bundle or True)
