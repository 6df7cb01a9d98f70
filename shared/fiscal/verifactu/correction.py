"""Corrections (subsanación) of VERI*FACTU records the AEAT refused or took with errors: when a person retries the
held order, each such document gets a new alta, the next link of the chain, flagged as AEAT's specification says.

SuministroInformacion.xsd: Subsanacion "S" marks a correction of a record already sent; RechazoPrevio "S" says the
AEAT rejected the earlier one (error 1161: only with Subsanacion "S"), "N" that it took it with errors. Neither
field is part of the huella, so flagging the built record keeps its hash (records.flag_correction).
"""

from __future__ import annotations

from shared.bootstrap import Services
from shared.domain.records import OrderRecord
from shared.domain.verifactu import VerifactuRecord
from shared.fiscal.verifactu.chain import record_document

CORRECTED_STATES = {"rejected": "S", "accepted_with_errors": "N"}  # record state -> RechazoPrevio


def to_correct(services: Services, record: OrderRecord) -> dict[str, str]:
    """Document number -> state of its newest record, for the order's documents whose newest VERI*FACTU record
    the AEAT rejected or took with errors (read from the order's timeline: the sender says so there)."""
    newest: dict[str, str] = {}
    for entry in services.state.get_timeline(record.store_id, record.order_id):
        if entry.action.startswith("verifactu.") and "number" in entry.data:
            newest[str(entry.data["number"])] = entry.action.removeprefix("verifactu.")
    return {number: state for number, state in newest.items() if state in CORRECTED_STATES}


def correct_records(services: Services, record: OrderRecord, due: dict[str, str]) -> list[VerifactuRecord]:
    """One correction record per document in `due` (to_correct, read before the retry cleared the problems),
    keyed by the order's attempt so a repeated call adds none. Returns the records made or found."""
    settings = services.store(record.store_id)
    made = []
    for document in record.documents:
        if settings is None or document.number not in due:
            continue
        correction = (record.attempt, due[document.number] == "rejected")
        kept = record_document(
            services.state, services.document_store, settings, record, document, services.clock, correction
        )
        if kept is not None:
            made.append(kept[0])
    return made
