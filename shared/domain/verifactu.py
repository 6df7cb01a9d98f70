"""VERI*FACTU: the store setting `verifactu:` and a record as the state port keeps it (one link of an issuer's
hash chain; see docs/verifactu.md)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.domain.order import UtcDatetime

RecordState = Literal["pending", "accepted", "accepted_with_errors", "rejected"]
RECORD_STATES: tuple[str, ...] = ("pending", "accepted", "accepted_with_errors", "rejected")


class VerifactuRecord(BaseModel):
    """Immutable once written, except the answer AEAT gives (state, csv, error_*)."""

    model_config = ConfigDict(extra="ignore")

    issuer_nif: str  # IDEmisorFactura: the seller's NIF without the "ES" prefix; the chain's key
    seq: int  # 1, 2, 3 … per issuer, gap-free: the chain order
    store_id: str
    order_id: str
    document_key: str  # "<store_id>/<kind>/<invoice_number>": one record per document
    invoice_number: str  # NumSerieFactura
    issue_date: date  # FechaExpedicionFactura
    invoice_type: str  # F1 | F2 | R1 | R5; "" for an anulación
    kind: Literal["alta", "anulacion"]
    total: Decimal  # ImporteTotal (negative for a credit note by differences)
    tax: Decimal  # CuotaTotal
    generated_at: datetime  # FechaHoraHusoGenRegistro, with the issuer's UTC offset
    hash: str  # Huella: 64 upper-case hex characters
    previous_hash: str  # "" for the first record (PrimerRegistro)
    xml: str  # the RegistroAlta / RegistroAnulacion element
    state: RecordState = "pending"
    csv: str = ""  # AEAT's CSV code once accepted
    error_code: str = ""  # AEAT's CodigoErrorRegistro
    error_text: str = ""  # AEAT's DescripcionErrorRegistro (Spanish, as AEAT words it)
    created_at: UtcDatetime | None = None


class InvoicingSystem(BaseModel):
    """The SistemaInformatico block: who produces this software and which installation writes the records."""

    model_config = ConfigDict(extra="forbid")

    producer_name: str = Field(min_length=1, max_length=120)  # NombreRazon of the software's producer
    producer_nif: str = Field(pattern=r"^[A-Z0-9]{9}$")  # its Spanish NIF
    name: str = Field(default="Order-to-cash", min_length=1, max_length=30)  # NombreSistemaInformatico
    id: str = Field(default="OC", pattern=r"^[A-Za-z0-9]{1,2}$")  # IdSistemaInformatico
    version: str = Field(default="1.0", min_length=1, max_length=50)
    installation_number: str = Field(min_length=1, max_length=100)  # NumeroInstalacion
    multiple_issuers: bool = False  # IndicadorMultiplesOT: this installation keeps records for several NIFs


class VerifactuSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    environment: Literal["test", "production"] = "test"
    timezone: str = "Europe/Madrid"  # the offset written in FechaHoraHusoGenRegistro
    system: InvoicingSystem | None = None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/Madrid, Atlantic/Canary)") from None
        return value

    @model_validator(mode="after")
    def _system_when_enabled(self) -> VerifactuSettings:
        if self.enabled and self.system is None:
            raise ValueError(
                "verifactu.enabled needs verifactu.system (producer_name, producer_nif, installation_number)"
            )
        return self


def checked_link(
    previous: VerifactuRecord | None, record: VerifactuRecord, issuer_nif: str, document_key: str
) -> VerifactuRecord:
    """What an adapter's append stores: the record build() made, refused unless it is the very next link."""
    expected = previous.seq + 1 if previous else 1
    if record.seq != expected or record.issuer_nif != issuer_nif or record.document_key != document_key:
        raise ValueError(f"verifactu: build() made link {record.seq} of {record.issuer_nif}, expected {expected}")
    if record.previous_hash != (previous.hash if previous else ""):
        raise ValueError(f"verifactu: link {record.seq} of {issuer_nif} does not quote the previous hash")
    return record
