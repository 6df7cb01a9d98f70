"""UBL 2.1 target (Peppol BIS Billing 3.0): mapper turns orders into XML (from parties, lines, taxes, totals and
writer), outbox keeps one document per number in the document store."""

from shared.targets.ubl.mapper import credit_note_xml, invoice_xml
from shared.targets.ubl.outbox import UblOutboxTarget
from shared.targets.ubl.writer import document_totals

__all__ = ["UblOutboxTarget", "credit_note_xml", "document_totals", "invoice_xml"]
