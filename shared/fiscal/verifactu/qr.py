"""The VERI*FACTU validation URL and QR image printed on every invoice of a Spanish seller (AEAT,
"Características del QR y especificaciones del servicio de cotejo", §3–§5): pure, no I/O.

    >>> validation_url("89890001K", "12345678&G33", date(2024, 1, 1), Decimal("241.40"), "test")
    'https://prewww2.aeat.es/wlpl/TIKE-CONT/ValidarQR?nif=89890001K&numserie=12345678%26G33&fecha=01-01-2024&importe=241.40'
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from typing import Literal
from urllib.parse import urlencode

import segno

Environment = Literal["test", "production"]

# The spec's §5.1 hosts for invoices of a VERI*FACTU system (records sent to the AEAT as they are made).
VALIDATION_HOSTS: dict[str, str] = {
    "test": "https://prewww2.aeat.es/wlpl/TIKE-CONT/ValidarQR",
    "production": "https://www2.agenciatributaria.gob.es/wlpl/TIKE-CONT/ValidarQR",
}
LEGEND = "VERI*FACTU"
VALIDATION_DOCUMENT_ID = "VERIFACTU-QR"  # the UBL AdditionalDocumentReference that carries the validation URL
QR_HEADING = "QR tributario:"  # the words the Reglamento puts above the code
CENT = Decimal("0.01")


def spanish_nif(vat_id: str) -> str:
    """The NIF the AEAT knows: the seller's VAT id without the "ES" prefix, upper case, no separators."""
    compact = "".join(ch for ch in vat_id if ch.isalnum()).upper()
    return compact[2:] if compact.startswith("ES") else compact


def validation_url(nif: str, number: str, issued: date, total: Decimal, environment: Environment) -> str:
    """The cotejo URL: the four mandatory parameters in the spec's order, each value URL-encoded in UTF-8 (an
    "&" in a number becomes %26), the date as dd-mm-yyyy and the total with "." and two decimals, as in the
    record's ImporteTotal (negative for a corrective invoice by differences)."""
    query = urlencode(
        {
            "nif": spanish_nif(nif),
            "numserie": number,
            "fecha": issued.strftime("%d-%m-%Y"),
            "importe": f"{total.quantize(CENT):f}",
        }
    )
    return f"{VALIDATION_HOSTS[environment]}?{query}"


def qr_png(url: str, scale: int = 10) -> bytes:
    """The QR code of url as PNG: error correction level M as the spec requires, with the 4-module quiet zone."""
    # segno would raise the level when the data leave room ("boost_error"); the spec names M, so keep M.
    code = segno.make_qr(url, error="m", boost_error=False)
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()
