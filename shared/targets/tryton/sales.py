"""Sales: the Tryton sale of an order, found by our reference or created, and taken through quote, confirm and
process until Tryton has made its invoice."""

from __future__ import annotations

import logging
import time
from typing import Any

from shared.domain.order import Order
from shared.errors import PermanentError, RetryableError
from shared.targets.tryton import mapper
from shared.targets.tryton.customers import Customers

log = logging.getLogger(__name__)


class Sales(Customers):
    def sale_ids(self, order: Order) -> list[int]:
        """Every sale carrying the order's reference (one, unless someone made another by hand)."""
        found = self.rpc.search_read("sale.sale", [("reference", "=", mapper.external_reference(order))], ["id"])
        return [int(s["id"]) for s in found]

    def _find_sale(self, order: Order) -> dict[str, Any] | None:
        found = self.rpc.search_read(
            "sale.sale",
            [("reference", "=", mapper.external_reference(order)), ("company", "=", self.rpc.context.get("company"))],
            ["id", "state", "number", "invoices", "shipments", "total_amount", "tax_amount"],
            order=[("id", "ASC")],
        )
        return found[0] if found else None

    def _create_sale(self, order: Order) -> int:
        if order.currency != self.store.currency:
            # The sale is booked in the store's currency: amounts in the one the customer paid would be wrong there.
            raise PermanentError("erp_currency_differs", {"currency": order.currency, "store": self.store.currency})
        lines = mapper.sale_lines(order, self._item_codes(), self.store.rules)
        products = self._products({line.product_code for line in lines})
        missing = mapper.missing_products(lines, products)
        if missing:
            raise PermanentError("erp_unmapped_product", {"codes": ", ".join(missing)})
        taxes = self._cached("taxes")
        missing_rates = mapper.missing_taxes(lines, taxes)
        if missing_rates:
            rates = ", ".join(f"{r}%" for r in missing_rates)
            raise PermanentError("erp_tax_unmapped", {"rates": rates})
        party_id, address_id = self._party(order)
        values = mapper.sale_values(
            order,
            lines,
            party_id=party_id,
            address_id=address_id,
            products=products,
            taxes=taxes,
            currency_id=self._cached("currency"),
            payment_term_id=self._cached("payment_term"),
            warehouse_id=int(self._cached("warehouse")["id"]),
        )

        def lookup() -> int | None:
            sale = self._find_sale(order)
            return int(sale["id"]) if sale else None

        (sale_id,) = self._create_once("sale.sale", values, lookup)
        log.info("tryton: created sale %s for order %s (store %s)", sale_id, order.order_id, order.store_id)
        return sale_id

    def _processed_sale(self, order: Order) -> dict[str, Any]:
        """The order's sale, created if missing, taken through quote → confirm → process until it has an invoice."""
        sale = self._find_sale(order)
        if sale is None:
            self._create_sale(order)
            sale = self._find_sale(order)
            if sale is None:
                raise RetryableError("Tryton sale created but not found yet")
        sale_id = int(sale["id"])
        if sale["state"] == "cancelled":
            raise PermanentError(
                "erp_refused", {"sale": str(sale["number"] or sale_id)}, text="error.erp_sale_cancelled"
            )
        if sale["state"] == "draft":
            self.rpc.button("sale.sale", "quote", [sale_id])
        if sale["state"] in ("draft", "quotation"):
            self.rpc.button("sale.sale", "confirm", [sale_id])
        deadline = time.monotonic() + self.invoice_wait_seconds
        while True:
            # confirm queues `process`; without a queue worker Tryton runs it at commit, with one it runs later.
            self.rpc.button("sale.sale", "process", [sale_id])
            sale = self._find_sale(order) or sale
            if sale["invoices"] or time.monotonic() > deadline:
                return sale
            time.sleep(0.5)
