"""The UBL outbox target: keeps each invoice / credit note as `<store_id>/<number>.xml` in the document store.

The invoicing and payment handlers call it through the Target port. The document store (a folder locally,
Blob Storage on Azure) writes a number only once; a document that exists is the document (find_document),
and issuing again returns it without rewriting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal

from lxml import etree

from shared.domain.order import Order, Refund
from shared.domain.records import DocumentRef
from shared.domain.rules.mapping import ItemCodes, transform_payment_terms
from shared.errors import PermanentError, RetryableError
from shared.fiscal.verifactu.qr import Environment
from shared.ports import (
    DocumentExists,
    DocumentStore,
    InvalidDocumentName,
    ListsInvoices,
    Preflights,
    ReportsStock,
    StockLevel,
    document_name,
)
from shared.stores import InvoiceSettings, StoreSettings
from shared.targets.ubl import codes
from shared.targets.ubl.codes import clean_text
from shared.targets.ubl.mapper import credit_note_document, invoice_document
from shared.targets.ubl.writer import Document, document_totals, write

log = logging.getLogger(__name__)

_ROOTS = {"invoice": f"{{{codes.NS_INVOICE}}}Invoice", "credit_note": f"{{{codes.NS_CREDIT_NOTE}}}CreditNote"}
_NS = {"cac": codes.NS_CAC, "cbc": codes.NS_CBC}


PREFLIGHT_NUMBER = "PREFLIGHT"


def invoice_settings_for(order: Order, settings: StoreSettings) -> InvoiceSettings:
    """The store's invoice settings with the payment means code for this order's payment method, when the
    store's `rules.transforms.payment_terms` maps it (stripe → 48, bacs → 30, …), and the store's currency as the
    seller's accounting currency unless the settings name one."""
    code = transform_payment_terms(order, settings.rules) if settings.rules else ""
    update: dict[str, str] = {"accounting_currency": settings.invoice.accounting_currency or settings.currency}
    if code:
        update["payment_means_code"] = code
    return settings.invoice.model_copy(update=update)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class UblOutboxTarget(Preflights, ListsInvoices, ReportsStock):
    """Target port over a document store of Peppol BIS 3.0 UBL files. Idempotent on the document number."""

    name = "ubl"

    def __init__(
        self,
        documents: DocumentStore,
        settings: StoreSettings,
        item_codes: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = _utcnow,
        stock_table: Callable[[], Mapping[str, StockLevel]] | None = None,
    ) -> None:
        self.documents = documents
        self.settings = settings
        # With the store's products.match and custom_item, so the document's item codes are the ones validation found.
        self.item_codes: Mapping[str, str] = ItemCodes(item_codes or {}, settings.products)
        self.clock = clock
        self.stock_table = stock_table or dict

    def sellable_stock(self, item_codes: Sequence[str]) -> dict[str, Decimal]:
        """The merchant's uploaded stock table (PUT /api/stores/{store_id}/stock): this target keeps no stock."""
        table = self.stock_table()
        return {code: table[code].quantity for code in item_codes if code in table}

    def _checked(self, number: str) -> str:
        # The number names a file or a blob: refuse anything that could leave the store's folder or hide it.
        try:
            document_name(self.settings.store_id, number)
        except InvalidDocumentName:
            raise PermanentError("document_number_invalid", {"number": number}) from None
        return number

    def find_document(self, order: Order, kind: str, number: str, refund_id: str = "") -> DocumentRef | None:
        """The DocumentRef of `<number>.xml` if it exists. Raises PermanentError("document_number_conflict") when
        that document is another kind of document or belongs to another order."""
        stored = self.documents.get(self.settings.store_id, self._checked(number))
        if stored is None:
            return None
        xml = stored.content
        root = etree.fromstring(xml)
        order_number = root.findtext("cac:OrderReference/cbc:ID", namespaces=_NS)
        if root.tag != _ROOTS.get(kind) or order_number != clean_text(order.number):
            raise PermanentError("document_number_conflict", {"number": number, "kind_text": f"word.document_{kind}"})
        total, tax = document_totals(xml)
        modified = stored.modified_at
        issue_date = date.fromisoformat(root.findtext("cbc:IssueDate", namespaces=_NS) or modified.date().isoformat())
        # issued_at must carry the document's IssueDate: a credit note quotes it in its BillingReference.
        issued_at = modified if modified.date() == issue_date else datetime.combine(issue_date, time.min, UTC)
        return DocumentRef(
            kind="invoice" if kind == "invoice" else "credit_note",
            number=number,
            target=self.name,
            external_id=f"{number}.xml",
            location=stored.location,
            issued_at=issued_at,
            total=total,
            tax=tax,
            currency=root.findtext("cbc:DocumentCurrencyCode", namespaces=_NS) or order.currency,
            refund_id=refund_id,
        )

    def invoices_by_order(
        self, orders: Sequence[Order], issued_after: datetime | None = None
    ) -> dict[str, list[DocumentRef]]:
        """Reads every invoice of the store written after `issued_after` and matches its OrderReference (the order
        number the buyer sees, as written) to the orders'. Credit notes are left out."""
        by_number = {clean_text(order.number): order for order in orders}
        found: dict[str, list[DocumentRef]] = {}
        for listed in self.documents.list(self.settings.store_id, issued_after):
            stored = self.documents.get(self.settings.store_id, listed.number)
            if stored is None:
                continue
            try:
                root = etree.fromstring(stored.content)
            except etree.XMLSyntaxError:
                continue  # not a document this service wrote
            order = by_number.get(root.findtext("cac:OrderReference/cbc:ID", namespaces=_NS) or "")
            if order is None or root.tag != _ROOTS["invoice"]:
                continue
            ref = self.find_document(order, "invoice", listed.number)
            if ref is not None:
                found.setdefault(order.order_id, []).append(ref)
        return found

    def preflight_invoice(self, order: Order) -> None:
        """Can this order be invoiced? Maps the document without a number and writes nothing (not even the XML,
        which raises nothing); raises the PermanentError issue_invoice would. Called before a number is taken,
        so a refusal leaves no gap."""
        self._invoice_document(order, PREFLIGHT_NUMBER)

    def preflight_credit_note(self, order: Order, refund: Refund, invoice: DocumentRef) -> None:
        """The same check for a credit note."""
        self._credit_note_document(order, refund, invoice, PREFLIGHT_NUMBER)

    def _invoice_document(self, order: Order, number: str) -> Document:
        invoice = invoice_settings_for(order, self.settings)
        return invoice_document(
            order, self.settings.seller, invoice, number, self.clock().date(), self.item_codes, self._verifactu()
        )

    def _credit_note_document(self, order: Order, refund: Refund, invoice: DocumentRef, number: str) -> Document:
        settings = invoice_settings_for(order, self.settings)
        seller = self.settings.seller
        issued = self.clock().date()
        return credit_note_document(
            order, refund, invoice, seller, settings, number, issued, self.item_codes, self._verifactu()
        )

    def _invoice_xml(self, order: Order, number: str) -> bytes:
        return write(self._invoice_document(order, number))

    def _credit_note_xml(self, order: Order, refund: Refund, invoice: DocumentRef, number: str) -> bytes:
        return write(self._credit_note_document(order, refund, invoice, number))

    def _verifactu(self) -> Environment | None:
        # A VERI*FACTU store's documents carry AEAT's validation URL (QR) for its environment's host.
        return self.settings.verifactu.environment if self.settings.verifactu.enabled else None

    def issue_invoice(self, order: Order, number: str) -> DocumentRef:
        """Write the invoice for the order unless `<number>.xml` exists. Raises PermanentError when the order or
        the settings cannot make a valid invoice, RetryableError when the document store cannot be written."""
        existing = self.find_document(order, "invoice", number)
        if existing is not None:
            return existing
        self._write(order, number, self._invoice_xml(order, number))
        log.info("ubl invoice written store=%s order=%s number=%s", order.store_id, order.order_id, number)
        return self._ref_after_write(order, "invoice", number)

    def issue_credit_note(self, order: Order, refund: Refund, invoice: DocumentRef, number: str) -> DocumentRef:
        """Write the credit note for the refund unless `<number>.xml` exists; references `invoice`."""
        existing = self.find_document(order, "credit_note", number, refund.refund_id)
        if existing is not None:
            return existing
        xml = self._credit_note_xml(order, refund, invoice, number)
        self._write(order, number, xml)
        log.info(
            "ubl credit note written store=%s order=%s refund=%s number=%s",
            order.store_id,
            order.order_id,
            refund.refund_id,
            number,
        )
        return self._ref_after_write(order, "credit_note", number, refund.refund_id)

    def _ref_after_write(self, order: Order, kind: str, number: str, refund_id: str = "") -> DocumentRef:
        ref = self.find_document(order, kind, number, refund_id)
        if ref is None:  # someone removed it between the write and now
            raise RetryableError(f"{number}.xml vanished from the document store right after it was written")
        return ref

    def _write(self, order: Order, number: str, xml: bytes) -> None:
        try:
            self.documents.put(self.settings.store_id, number, xml, order_id=order.order_id)
        except DocumentExists:
            # Another writer got there first (a concurrent retry, another day's issue date): the document
            # that is there stands; _ref_after_write accepts it if it is this order's, else a conflict.
            log.warning("ubl document already written store=%s number=%s", order.store_id, number)
