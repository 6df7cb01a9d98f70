"""The huella: SHA-256 of a record's fields as AEAT's "Detalle de las especificaciones técnicas para generación
de la huella o hash de los registros de facturación" lists them (`campo=valor&…`, UTF-8, upper-case hex).

>>> alta_hash("89890001K", "12345678/G33", "01-01-2024", "F1", "12.35", "123.45", "", "2024-01-01T19:20:30+01:00")
'3C464DAF61ACB827C65FDA19F352A4E3BDC2C640E9E9FC4CC058073F38F12F60'
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from decimal import Decimal

TIPO_HUELLA_SHA256 = "01"
CENT = Decimal("0.01")


def _sha256(pairs: list[tuple[str, str]]) -> str:
    # The specification trims each value; an empty value still appears as "name=".
    text = "&".join(f"{name}={value.strip()}" for name, value in pairs)
    return hashlib.sha256(text.encode("utf-8")).hexdigest().upper()


def alta_hash(
    issuer_nif: str,
    number: str,
    issue_date: str,
    invoice_type: str,
    tax: str,
    total: str,
    previous_hash: str,
    generated_at: str,
) -> str:
    """Hash of a RegistroAlta from the exact texts written in its XML."""
    return _sha256(
        [
            ("IDEmisorFactura", issuer_nif),
            ("NumSerieFactura", number),
            ("FechaExpedicionFactura", issue_date),
            ("TipoFactura", invoice_type),
            ("CuotaTotal", tax),
            ("ImporteTotal", total),
            ("Huella", previous_hash),
            ("FechaHoraHusoGenRegistro", generated_at),
        ]
    )


def anulacion_hash(issuer_nif: str, number: str, issue_date: str, previous_hash: str, generated_at: str) -> str:
    """Hash of a RegistroAnulacion from the exact texts written in its XML."""
    return _sha256(
        [
            ("IDEmisorFacturaAnulada", issuer_nif),
            ("NumSerieFacturaAnulada", number),
            ("FechaExpedicionFacturaAnulada", issue_date),
            ("Huella", previous_hash),
            ("FechaHoraHusoGenRegistro", generated_at),
        ]
    )


def date_text(day: date) -> str:
    """AEAT's `fecha` type: dd-mm-yyyy."""
    return day.strftime("%d-%m-%Y")


def amount_text(amount: Decimal) -> str:
    """Two decimals with a point, as written in the XML (and therefore hashed)."""
    return str(amount.quantize(CENT))


def moment_text(moment: datetime) -> str:
    """FechaHoraHusoGenRegistro: ISO 8601 to the second with the UTC offset (2024-01-01T19:20:30+01:00)."""
    if moment.tzinfo is None:
        raise ValueError("FechaHoraHusoGenRegistro needs a time zone")
    return moment.isoformat(timespec="seconds")
