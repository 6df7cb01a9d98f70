"""Invoices: the sale's invoice checked against the store's totals to the cent and posted; documents found by
our reference."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from shared.domain.order import Order
from shared.domain.records import DocumentRef
from shared.errors import PermanentError, RetryableError
from shared.targets.tryton import mapper
from shared.targets.tryton.reading import invoices_by_reference
from shared.targets.tryton.sales import Sales

log = logging.getLogger(__name__)

OPEN_INVOICE_STATES = ("draft", "validated")

DONE_INVOICE_STATES = ("posted", "paid")


class Invoices(Sales):
    _INVOICE_FIELDS = (
        "id",
        "state",
        "number",
        "total_amount",
        "tax_amount",
        "untaxed_amount",
        "reference",
        "type",
        "invoice_date",
    )

    def issue_invoice(self, order: Order, number: str) -> DocumentRef:
        """Sale with our reference (found or created), processed, its invoice checked against the store and posted.

        `number` is the service's own document number; Tryton numbers the invoice from its fiscal-year sequence,
        and that is the number returned. Idempotent: a second call returns the same invoice.
        """
        sale = self._processed_sale(order)
        invoice = self._sale_invoice(sale)
        if invoice is None:
            raise RetryableError(f"Tryton sale {sale['id']} has no invoice yet")
        if invoice["state"] in OPEN_INVOICE_STATES and invoice["reference"] != mapper.external_reference(order):
            self.rpc.write(
                "account.invoice",
                [int(invoice["id"])],
                {"reference": mapper.external_reference(order), "description": order.number},
            )
        invoice = self._check_and_post(order, invoice, mapper.order_totals(order), "word.document_invoice")
        log.info("tryton: invoice %s posted for order %s (store %s)", invoice["number"], order.order_id, order.store_id)
        return self._document(order, invoice, "invoice")

    def find_document(self, order: Order, kind: str, number: str, refund_id: str = "") -> DocumentRef | None:
        """The posted invoice or credit note for the order, looked up by our reference; None if not issued."""
        if kind == "invoice":
            sale = self._find_sale(order)
            invoice = self._sale_invoice(sale) if sale else None
        else:
            invoice = self._find_invoice_by_reference(mapper.refund_reference(order, refund_id))
        if invoice is None or invoice["state"] not in DONE_INVOICE_STATES:
            return None
        return self._document(order, invoice, kind, refund_id)

    def invoices_by_order(
        self, orders: Sequence[Order], issued_after: dt.datetime | None = None
    ) -> dict[str, list[DocumentRef]]:
        """Invoices by our reference `<store>:<order>`; credit notes carry other references and are left out."""
        by_reference = {mapper.external_reference(order): order for order in orders}
        found = invoices_by_reference(self.rpc, list(by_reference), self._INVOICE_FIELDS)
        return {
            by_reference[ref].order_id: [self._document(by_reference[ref], i, "invoice") for i in invoices]
            for ref, invoices in found.items()
            if ref in by_reference
        }

    def _read_invoice(self, invoice_id: int) -> dict[str, Any]:
        (invoice,) = self.rpc.read("account.invoice", [invoice_id], list(self._INVOICE_FIELDS))
        return invoice

    def _document(self, order: Order, invoice: dict[str, Any], kind: str, refund_id: str = "") -> DocumentRef:
        return DocumentRef(
            kind=kind,
            number=invoice["number"] or "",
            target=self.name,
            external_id=str(invoice["id"]),
            location=f"{self.settings.url.rstrip('/')}/#{self.settings.database}/model/account.invoice/{invoice['id']}",
            total=abs(Decimal(invoice["total_amount"])),
            tax=abs(Decimal(invoice["tax_amount"])),
            currency=order.currency,
            refund_id=refund_id,
        )

    def _check_and_post(self, order: Order, invoice: dict[str, Any], expected: mapper.Totals, what: str) -> dict:
        """Post only when Tryton's total and tax equal the store's to the cent; otherwise hold it unposted.
        `what` is the catalog key naming the document in the refusal ("word.document_invoice")."""
        invoice_id = int(invoice["id"])
        if invoice["state"] in OPEN_INVOICE_STATES:
            total, tax = Decimal(invoice["total_amount"]), Decimal(invoice["tax_amount"])
            if total != expected.total or tax != expected.tax:
                figures = {"total": str(total), "tax": str(tax), "currency": order.currency}
                raise PermanentError(
                    "erp_totals_mismatch",
                    {**figures, "what_text": what, "store_total": str(expected.total), "store_tax": str(expected.tax)},
                    detail=f"invoice {invoice_id}",
                )
            self.rpc.button("account.invoice", "post", [invoice_id])
            invoice = self._read_invoice(invoice_id)
        if invoice["state"] not in DONE_INVOICE_STATES:
            raise PermanentError(
                "erp_refused",
                {"what_text": what, "invoice": str(invoice_id), "state": str(invoice["state"])},
                text="error.erp_invoice_not_posted",
            )
        return invoice

    def _sale_invoice(self, sale: dict[str, Any]) -> dict[str, Any] | None:
        invoices = [self._read_invoice(int(i)) for i in sale["invoices"]]
        invoices = [i for i in invoices if i["state"] != "cancelled" and i["type"] == "out"]
        return invoices[0] if invoices else None

    def _find_invoice_by_reference(self, reference: str) -> dict[str, Any] | None:
        found = self.rpc.search_read(
            "account.invoice",
            [("reference", "=", reference), ("state", "!=", "cancelled")],
            list(self._INVOICE_FIELDS),
            order=[("id", "ASC")],
            limit=1,
        )
        return found[0] if found else None
