"""Credit notes: a refund or a cancellation credited on a posted credit note of exactly the refunded lines;
a sale still open is cancelled instead."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from shared.domain.order import Order, Refund
from shared.domain.records import DocumentRef
from shared.errors import PermanentError
from shared.targets.tryton import mapper
from shared.targets.tryton.invoices import OPEN_INVOICE_STATES, Invoices
from shared.targets.tryton.shipments import Shipments

log = logging.getLogger(__name__)


class CreditNotes(Invoices, Shipments):
    def issue_credit_note(self, order: Order, refund: Refund, invoice: DocumentRef, number: str) -> DocumentRef:
        """A posted credit note for exactly the refunded lines and amounts; returned items go back into stock.

        Idempotent by reference "<store>:<order>:refund:<refund id>".
        """
        lines = mapper.credit_lines(order, refund, self._item_codes(), self.store.rules)
        credit = self._issue_credit(
            order,
            int(invoice.external_id),
            lines,
            mapper.refund_totals(refund),
            mapper.refund_reference(order, refund.refund_id),
            mapper.refund_description(order, refund),
        )
        restock = {line.line_id: line.quantity for line in refund.lines if line.restock and line.quantity}
        if restock:
            self._return_items(order, refund, restock)
        log.info(
            "tryton: credit note %s posted for refund %s of order %s (store %s)",
            credit["number"],
            refund.refund_id,
            order.order_id,
            order.store_id,
        )
        return self._document(order, credit, "credit_note", refund.refund_id)

    def cancel_order(self, order: Order) -> DocumentRef | None:
        """Cancel the sale while nothing is invoiced; once invoiced, credit the whole invoice (returned)."""
        sale = self._find_sale(order)
        if sale is None:
            return None
        sale_id = int(sale["id"])
        if sale["state"] in ("draft", "quotation"):
            self.rpc.button("sale.sale", "cancel", [sale_id])
            return None
        invoice = self._sale_invoice(sale)
        if invoice is None:
            return None
        for shipment_id in sale["shipments"]:
            (shipment,) = self.rpc.read("stock.shipment.out", [int(shipment_id)], ["state"])
            if shipment["state"] not in ("done", "cancelled"):
                self.rpc.button("stock.shipment.out", "cancel", [int(shipment_id)])
        if invoice["state"] in OPEN_INVOICE_STATES:
            self.rpc.button("account.invoice", "cancel", [int(invoice["id"])])
            return None
        lines = [
            mapper.ErpLine(
                line.key,
                line.product_code,
                line.description,
                -line.quantity,
                line.unit_price,
                line.tax_rate,
                -line.amount,
                -line.tax,
            )
            for line in mapper.sale_lines(order, self._item_codes(), self.store.rules)
        ]
        expected = mapper.Totals(
            -Decimal(invoice["untaxed_amount"]), -Decimal(invoice["tax_amount"]), -Decimal(invoice["total_amount"])
        )
        credit = self._issue_credit(
            order,
            int(invoice["id"]),
            lines,
            expected,
            mapper.cancel_reference(order),
            f"Cancellation of order {order.number}",
        )
        return self._document(order, credit, "credit_note", "cancel")

    def _issue_credit(
        self,
        order: Order,
        invoice_id: int,
        lines: list[mapper.ErpLine],
        expected: mapper.Totals,
        reference: str,
        description: str,
    ) -> dict[str, Any]:
        existing = self._find_invoice_by_reference(reference)
        if existing is None:
            values = self._credit_values(order, invoice_id, lines, reference, description)

            def lookup() -> int | None:
                found = self._find_invoice_by_reference(reference)
                return int(found["id"]) if found else None

            (credit_id,) = self._create_once("account.invoice", values, lookup)
            existing = self._read_invoice(credit_id)
        elif existing["state"] in OPEN_INVOICE_STATES and existing["invoice_date"] is not None:
            # A draft left by an earlier attempt that dated it (older versions used the refund's date): undate it.
            self.rpc.write("account.invoice", [int(existing["id"])], {"invoice_date": None})
            existing = self._read_invoice(int(existing["id"]))
        return self._check_and_post(order, existing, expected, "word.document_credit_note")

    def _credit_values(
        self, order: Order, invoice_id: int, lines: list[mapper.ErpLine], reference: str, description: str
    ) -> dict[str, Any]:
        (header,) = self.rpc.read(
            "account.invoice",
            [invoice_id],
            ["party", "invoice_address", "currency", "journal", "account", "payment_term"],
        )
        originals = self.rpc.search_read(
            "account.invoice.line",
            [("invoice", "=", invoice_id), ("type", "=", "line")],
            ["id", "product", "account", "unit", "origin", "note", "taxes"],
        )
        sale_notes = self._sale_line_keys([o["origin"] for o in originals])
        by_key = {sale_notes.get(o["origin"] or "", ""): o for o in originals}
        taxes = self._cached("taxes")
        created = []
        for index, line in enumerate(lines, start=1):
            original = by_key.get(line.key)
            if original is None:
                raise PermanentError(
                    "erp_refused", {"invoice": str(invoice_id), "line": line.key}, text="error.erp_invoice_line_missing"
                )
            created.append(
                {
                    "type": "line",
                    "sequence": index,
                    "product": original["product"],
                    "account": original["account"],
                    "unit": original["unit"],
                    "quantity": float(line.quantity),
                    "unit_price": line.unit_price,
                    "description": line.description,
                    "origin": f"account.invoice.line,{original['id']}",
                    "taxes": [("add", [taxes.get(line.tax_rate, t) for t in original["taxes"][:1]] or [])],
                }
            )
        return {
            "type": "out",
            "company": self.rpc.context.get("company"),
            **{k: header[k] for k in ("party", "invoice_address", "currency", "journal", "account", "payment_term")},
            "reference": reference,
            "description": description,
            # No invoice date: Tryton dates the credit note when it posts it (its own today). The refund's date
            # would make an earlier payment-term date (refused as "in the past") or fall in a closed period.
            "lines": [("create", created)],
        }

    def _sale_line_keys(self, origins: list[str | None]) -> dict[str, str]:
        ids = [int(o.split(",")[1]) for o in origins if o and o.startswith("sale.line,")]
        if not ids:
            return {}
        return {f"sale.line,{s['id']}": s["note"] or "" for s in self.rpc.read("sale.line", ids, ["id", "note"])}
