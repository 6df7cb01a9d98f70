"""Records the VERI*FACTU alta of each document the UBL target issues, as the next link of the issuer's chain.

The invoicing handler calls record_document after the document is stored and before the order shows it. It is
idempotent on the document: the state port appends the link and its document key in one atomic step, so a
retry after a crash finds the record instead of adding a second one, and the XML kept in the document store is
rewritten with the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from shared.domain.records import DocumentRef, OrderRecord
from shared.domain.verifactu import VerifactuRecord, VerifactuSettings
from shared.errors import ConfigError, RetryableError
from shared.fiscal.verifactu.records import (
    IssuedDocument,
    Link,
    build_alta,
    flag_correction,
    read_ubl,
    recomputed_hash,
)
from shared.ports import DocumentStore, KeepsVerifactuRecords, StateStore
from shared.stores import StoreSettings

RECORD_NAME = "verifactu-{seq:06d}"  # `<store_id>/verifactu-000001.xml` in the document store


def settings_of(store: StoreSettings) -> VerifactuSettings | None:
    """The store's VERI*FACTU settings, None when records are off for it."""
    return store.verifactu if store.verifactu.enabled else None


def issuer_of(store: StoreSettings) -> str:
    """IDEmisorFactura: the seller's Spanish NIF without the ES prefix (the chain's key)."""
    vat_id = (store.seller.vat_id if store.seller is not None else "").replace(" ", "").upper()
    return vat_id.removeprefix("ES")


def is_simplified(record: OrderRecord) -> bool:
    """A simplified invoice (F2/R5): the order's simplified flag when the fiscal rules set one, otherwise an
    order whose buyer gave no tax id."""
    for holder in (record.model_dump(), record.order.model_dump() if record.order is not None else {}):
        flag = holder.get("simplified")
        if isinstance(flag, bool):
            return flag
    return record.order is None or not record.order.customer.tax_id.strip()


def ledger(state: StateStore) -> KeepsVerifactuRecords:
    if not isinstance(state, KeepsVerifactuRecords):
        raise ConfigError("this state store keeps no VERI*FACTU records")
    return state


def _description(document: IssuedDocument, record: OrderRecord) -> str:
    # DescripcionOperacion is read by AEAT, in Spanish; the order number only, never personal data.
    number = record.order.number if record.order is not None else record.order_id
    if document.kind == "credit_note":
        return f"Devolución del pedido {number}"
    return f"Venta del pedido {number}"


def record_document(
    state: StateStore,
    documents: DocumentStore,
    store: StoreSettings,
    record: OrderRecord,
    document: DocumentRef,
    clock: Callable[[], datetime],
    correction: tuple[int, bool] | None = None,
) -> tuple[VerifactuRecord, bool] | None:
    """The RegistroAlta of an issued document, created once: (record, created), or None when VERI*FACTU is off.
    `correction` (attempt, rejected before) makes the attempt's subsanación instead (correction.py).

    Raises RetryableError when the issued document cannot be read yet (the bus redelivers)."""
    config = settings_of(store)
    if config is None or config.system is None or store.seller is None:
        return None
    system = config.system
    stored = documents.get(store.store_id, document.number)
    if stored is None:
        raise RetryableError(f"document {store.store_id}/{document.number} is not readable yet")
    issued = read_ubl(stored.content)
    issuer = issuer_of(store)
    simplified = is_simplified(record)
    zone = ZoneInfo(config.timezone)

    def build(previous: VerifactuRecord | None) -> VerifactuRecord:
        generated_at = clock().astimezone(zone)
        if previous is not None and generated_at < previous.generated_at:
            generated_at = previous.generated_at.astimezone(zone)  # the chain never goes back in time
        link = Link(issuer, previous.invoice_number, previous.issue_date, previous.hash) if previous else None
        built = build_alta(
            issued,
            issuer_nif=issuer,
            issuer_name=store.seller.name if store.seller is not None else "",
            simplified=simplified,
            description=_description(issued, record),
            system=system,
            previous=link,
            generated_at=generated_at,
        )
        return VerifactuRecord(
            issuer_nif=issuer,
            seq=previous.seq + 1 if previous else 1,
            store_id=store.store_id,
            order_id=record.order_id,
            document_key=key,
            invoice_number=issued.number,
            issue_date=issued.issue_date,
            invoice_type=built.invoice_type,
            kind="alta",
            total=built.total,
            tax=built.tax,
            generated_at=generated_at,
            hash=built.hash,
            previous_hash=previous.hash if previous else "",
            xml=built.xml if correction is None else flag_correction(built.xml, rejected_before=correction[1]),
            created_at=clock(),
        )

    key = document_key(store.store_id, document)
    if correction is not None:
        key += f"/subsanacion-{correction[0]}"
    kept, created = ledger(state).append_verifactu_record(issuer, key, build)
    # After the state: a crash here leaves the record in state, and the retry writes these same bytes.
    documents.put(store.store_id, RECORD_NAME.format(seq=kept.seq), kept.xml.encode(), order_id=record.order_id)
    return kept, created


def document_key(store_id: str, document: DocumentRef) -> str:
    return f"{store_id}/{document.kind}/{document.number}"


def chain_breaks(records: list[VerifactuRecord]) -> list[str]:
    """Why a run of one issuer's records, from seq 1 in chain order, is not one unbroken chain ([] when it is):
    a gap, a fork (a hash used twice), a link that does not quote the previous hash, or XML whose hash does
    not match its own fields."""
    breaks: list[str] = []
    previous: VerifactuRecord | None = None
    seen: set[str] = set()
    for record in records:
        expected = previous.seq + 1 if previous else 1
        if record.seq != expected:
            breaks.append(f"record {record.seq}: expected {expected} (a gap)")
        written, computed, quoted = recomputed_hash(record.xml)
        if written != record.hash or computed != record.hash:
            breaks.append(f"record {record.seq}: the hash does not match the record's fields")
        if quoted != (previous.hash if previous else "") or record.previous_hash != quoted:
            breaks.append(f"record {record.seq}: does not quote the previous record's hash")
        if record.hash in seen:
            breaks.append(f"record {record.seq}: hash used twice (a fork)")
        seen.add(record.hash)
        previous = record
    return breaks
