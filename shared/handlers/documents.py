"""Issued documents for people and tools: `GET /api/documents/{store_id}/{number}` reads one through the
document store (the folder locally, Blob Storage on Azure); `.../{number}.pdf` prints it."""

from __future__ import annotations

from shared.bootstrap import Services
from shared.errors import UnknownDocument, Unreadable
from shared.fiscal.verifactu.pdf import invoice_pdf
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


PDF_SUFFIX = ".pdf"


def printable_name(number: str) -> str | None:
    """The document number of a printable invoice's name ("INV-7.pdf" → "INV-7"), None for any other name."""
    return number[: -len(PDF_SUFFIX)] if number.lower().endswith(PDF_SUFFIX) and len(number) > len(PDF_SUFFIX) else None


def get_printable_invoice(services: Services, store_id: str, number: str, lang: str) -> bytes:
    """The PDF of the stored invoice or credit note in lang, drawn from the kept XML (with the VERI*FACTU QR code
    when the document carries one). Raises what get_document raises, and UnknownDocument when the stored
    document is no invoice or credit note (nothing to print)."""
    document = get_document(services, store_id, number)
    try:
        return invoice_pdf(document.content, lang)
    except (ValueError, SyntaxError, ArithmeticError):  # lxml: XMLSyntaxError; decimal: InvalidOperation
        raise UnknownDocument(
            "No printable invoice", f"Document '{number}' of store '{store_id}' is no invoice or credit note."
        ) from None
