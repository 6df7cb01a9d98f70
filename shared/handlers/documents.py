"""Issued documents for people and tools: `GET /api/documents/{store_id}/{number}` reads one through the
document store (the folder locally, Blob Storage on Azure)."""

from __future__ import annotations

from shared.bootstrap import Services
from shared.errors import UnknownDocument, Unreadable
from shared.ports import InvalidDocumentName, StoredDocument, document_name


def get_document(services: Services, store_id: str, number: str) -> StoredDocument:
    """The stored document. Raises Unreadable for a name that cannot be a document's (a path), UnknownDocument
    when no document has that number in that store."""
    try:
        document_name(store_id, number)
    except InvalidDocumentName as exc:
        raise Unreadable("Bad document name", str(exc)) from None
    document = services.document_store.get(store_id, number)
    if document is None:
        raise UnknownDocument("Unknown document", f"No document '{number}' of store '{store_id}' is kept here.")
    return document
