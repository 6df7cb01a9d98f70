"""Payments: the store's payment recorded on the posted invoice through Tryton's pay wizard, once."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

from shared.domain.order import Order
from shared.domain.records import DocumentRef
from shared.errors import PermanentError
from shared.targets.tryton import mapper
from shared.targets.tryton.invoices import Invoices
from shared.targets.tryton.rpc import UncertainOutcome

log = logging.getLogger(__name__)


class Payments(Invoices):
    def record_payment(self, order: Order, invoice: DocumentRef, amount: Decimal, paid_at: dt.datetime) -> None:
        """Pay the invoice with the store's payment (Tryton's pay wizard, store payment method). Idempotent.

        The payment is dated when it is recorded, by Tryton's own today (the wizard's default date): the store's
        `paid_at` may lie in a closed period or a year without a fiscal year; it stays on the order record.
        """
        reference = f"{mapper.external_reference(order)}:payment"
        invoice_id = int(invoice.external_id)

        def already() -> bool:
            return bool(self.rpc.search_read("account.move", [("description", "=", reference)], ["id"], limit=1))

        (state,) = self.rpc.read("account.invoice", [invoice_id], ["state", "amount_to_pay", "party"])
        if state["state"] == "paid" or already():
            return
        if state["state"] != "posted":
            raise PermanentError(
                "erp_refused",
                {"number": invoice.number, "state": str(state["state"])},
                text="error.erp_invoice_unposted",
            )
        start = {
            "payee": state["party"],
            "amount": amount,
            "currency": self._cached("currency"),
            "description": reference,
            "payment_method": self._cached("payment_method"),
            "company": self.rpc.context.get("company"),
        }

        def answer(result: Any) -> list[tuple[str, dict[str, Any]]]:
            state = _wizard_state(result)
            if state == "start":
                defaults = result["view"].get("defaults", {})
                start["date"] = defaults.get("date") or dt.datetime.now(dt.UTC).date()
                return [("choice", {"start": start})]
            if state == "ask":
                # Less than the amount due: Tryton asks whether to write the rest off; keep it open (partial).
                ask = {**result["view"].get("defaults", {}), "type": "partial"}
                return [("pay", {"start": start, "ask": ask})]
            return []

        try:
            self.rpc.wizard("account.invoice.pay", "account.invoice", invoice_id, [("start", {})], follow=answer)
        except UncertainOutcome:
            if not already():
                raise
        log.info(
            "tryton: payment recorded on %s on invoice %s for order %s (store %s; paid in the store on %s)",
            start.get("date"),
            invoice.number,
            order.order_id,
            order.store_id,
            paid_at.date(),
        )


def _wizard_state(result: Any) -> str:
    if isinstance(result, dict) and "view" in result:
        return str(result["view"].get("state", ""))
    return "end"
