"""Spain's VERI*FACTU: a chained, hashed record for every invoice and credit note the UBL target issues.

records.py builds and validates the XML, huella.py hashes, chain.py appends to the issuer's chain; the state
port (KeepsVerifactuRecords) keeps the chain atomically. The sender (QR, submission) uses the helpers below.
"""

from __future__ import annotations

from shared.domain.verifactu import RecordState, VerifactuRecord
from shared.fiscal.verifactu.chain import chain_breaks, is_simplified, issuer_of, ledger, record_document, settings_of
from shared.ports import StateStore
from shared.stores import StoreSettings

__all__ = [
    "chain_breaks",
    "is_simplified",
    "issuer_of",
    "pending_records",
    "record_document",
    "set_record_state",
    "settings_of",
]


def pending_records(state: StateStore, store: StoreSettings, limit: int = 1000) -> list[VerifactuRecord]:
    """The store's issuer's records not yet answered by AEAT, in chain order (what the sender submits next)."""
    return ledger(state).pending_verifactu_records(issuer_of(store), limit)


def set_record_state(
    state: StateStore,
    store: StoreSettings,
    seq: int,
    state_name: RecordState,
    csv: str = "",
    error_code: str = "",
    error_text: str = "",
) -> VerifactuRecord:
    """Keep AEAT's answer (state, CSV, error code and text) for one record of the store's issuer."""
    return ledger(state).set_verifactu_state(issuer_of(store), seq, state_name, csv, error_code, error_text)
