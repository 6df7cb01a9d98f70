"""UBL 2.1 target (Peppol BIS Billing 3.0): mapper turns orders into XML, outbox writes one file per document."""

from shared.targets.ubl.mapper import credit_note_xml, document_totals, invoice_xml
from shared.targets.ubl.outbox import UblOutboxTarget

__all__ = ["UblOutboxTarget", "credit_note_xml", "document_totals", "invoice_xml"]
