"""Reading Tryton back for reconciliation: the customer invoices that carry our references (`<store>:<order>`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.targets.tryton.rpc import TrytonRpc

# Tryton's search domain takes a list for "in"; a few hundred references per call keeps each request small.
BATCH = 200


def invoices_by_reference(
    rpc: TrytonRpc, references: Sequence[str], fields: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """Reference → the customer invoices (type out, not cancelled) that carry it, oldest first."""
    found: dict[str, list[dict[str, Any]]] = {}
    unique = sorted(set(references))
    for start in range(0, len(unique), BATCH):
        batch = unique[start : start + BATCH]
        domain = [("reference", "in", batch), ("type", "=", "out"), ("state", "!=", "cancelled")]
        for invoice in rpc.search_read("account.invoice", domain, list(fields), order=[("id", "ASC")]):
            found.setdefault(str(invoice["reference"]), []).append(invoice)
    return found
