"""The VERI*FACTU records of a store's issuer, read in chain order (GET /api/stores/{store_id}/verifactu)."""

from __future__ import annotations

from typing import Any

from shared.bootstrap import Services
from shared.errors import UnknownStore, Unreadable
from shared.fiscal.verifactu import issuer_of, ledger

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
FIELDS = {"seq", "invoice_number", "kind", "hash", "previous_hash", "state", "csv", "xml"}  # fixed by ARCHITECTURE


def _whole_number(name: str, value: str | None, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise Unreadable(f"Bad {name}", f"{name} must be a whole number from {low} to {high}.")
    return int(value)


def verifactu_records(services: Services, store_id: str, after: str | None, limit: str | None) -> dict[str, Any]:
    """The records with seq > after, at most limit, in chain order. The chain is the issuer's (the seller's
    NIF): stores that share a NIF share one chain and see each other's records here."""
    store = services.store(store_id)
    if store is None:
        raise UnknownStore("Unknown store", f"No store '{store_id}' is configured here.")
    start = _whole_number("after", after, 0, 0, 10**12)
    count = _whole_number("limit", limit, DEFAULT_LIMIT, 1, MAX_LIMIT)
    issuer = issuer_of(store)
    found = ledger(services.state).list_verifactu_records(issuer, start, count) if issuer else []
    return {"records": [record.model_dump(mode="json", include=FIELDS) for record in found]}
