"""Stock and shipments: the sale's customer shipments taken to done, returned items received back into the
warehouse, and quantities on hand."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from shared.domain.order import Order, Refund
from shared.errors import PermanentError
from shared.targets.tryton import mapper, stock
from shared.targets.tryton.sales import Sales


class Shipments(Sales):
    def ship_order(self, order: Order) -> None:
        """Take the sale's customer shipments to done so stock moves out of the warehouse. Idempotent."""
        sale = self._find_sale(order)
        if sale is None:
            raise PermanentError("erp_refused", {"number": order.number}, text="error.erp_no_sale")
        for shipment_id in sale["shipments"]:
            (shipment,) = self.rpc.read("stock.shipment.out", [int(shipment_id)], ["state"])
            if shipment["state"] in ("done", "cancelled"):
                continue
            if shipment["state"] in ("draft", "waiting"):
                self.rpc.button("stock.shipment.out", "wait", [int(shipment_id)])
                self.rpc.button("stock.shipment.out", "assign_try", [int(shipment_id)])
                (shipment,) = self.rpc.read("stock.shipment.out", [int(shipment_id)], ["state"])
                if shipment["state"] == "waiting":
                    raise PermanentError("erp_stock_short", {"number": order.number})
            for button in ("pick", "pack", "do"):
                self.rpc.button("stock.shipment.out", button, [int(shipment_id)])

    def sellable_stock(self, item_codes: Sequence[str]) -> dict[str, Decimal]:
        """Per product code, what a shop may sell from the warehouse now (shared.targets.tryton.stock)."""
        return stock.sellable_stock(self.rpc, int(self._cached("warehouse")["id"]), item_codes)

    def stock_levels(self, item_codes: list[str]) -> dict[str, Decimal]:
        """Quantity on hand per product code in the warehouse today; codes Tryton does not know are left out."""
        warehouse = self._cached("warehouse")
        found = self.rpc.search_read(
            "product.product",
            [("code", "in", list(item_codes))],
            ["code", "quantity"],
            context={"locations": [int(warehouse["id"])], "with_childs": True},
        )
        return {p["code"]: Decimal(str(p["quantity"])) for p in found}

    def _return_items(self, order: Order, refund: Refund, quantities: dict[str, Decimal]) -> None:
        """A customer return shipment, received and done, so returned items are back in stock. Idempotent."""
        reference = mapper.refund_reference(order, refund.refund_id)
        if self.rpc.search_read("stock.shipment.out.return", [("reference", "=", reference)], ["id"], limit=1):
            return
        sale = self._find_sale(order)
        if sale is None:
            return
        codes = self._item_codes()
        skus = {line.line_id: mapper.product_code(line, codes) for line in order.lines}
        prices = {line.line_id: line.unit_price for line in order.lines}
        # Tryton warns about moves from a customer without an origin: point each at the delivery it returns.
        sale_lines = {
            s["note"]: s["id"] for s in self.rpc.search_read("sale.line", [("sale", "=", sale["id"])], ["id", "note"])
        }
        products = self._products(set(skus.values()))
        warehouse = self._cached("warehouse")
        (customer,) = self.rpc.search_read("stock.location", [("type", "=", "customer")], ["id"], limit=1)
        (locations,) = self.rpc.read("stock.location", [int(warehouse["id"])], ["input_location", "storage_location"])
        (header,) = self.rpc.read("sale.sale", [int(sale["id"])], ["party", "shipment_address"])
        moves = []
        for line_id, quantity in quantities.items():
            product_id, unit_id = products[skus[line_id]]
            moves.append(
                {
                    "product": product_id,
                    "unit": unit_id,
                    "quantity": float(quantity),
                    "from_location": customer["id"],
                    "to_location": locations["input_location"],
                    "company": self.rpc.context.get("company"),
                    # Moves in from a customer carry a value (Tryton requires it): the price the line was sold at.
                    "unit_price": prices[line_id],
                    "origin": self._returned_move(sale_lines.get(f"line:{line_id}")),
                    "currency": self._cached("currency"),
                }
            )
        values = {
            "reference": reference,
            "customer": header["party"],
            "contact_address": header["shipment_address"],
            "warehouse_input": locations["input_location"],
            "warehouse_storage": locations["storage_location"],
            "warehouse": warehouse["id"],
            "company": self.rpc.context.get("company"),
            "incoming_moves": [("create", moves)],
        }

        def lookup() -> int | None:
            found = self.rpc.search_read("stock.shipment.out.return", [("reference", "=", reference)], ["id"])
            return int(found[0]["id"]) if found else None

        (shipment_id,) = self._create_once("stock.shipment.out.return", values, lookup)
        for button in ("receive", "do"):
            self.rpc.button("stock.shipment.out.return", button, [shipment_id])

    def _returned_move(self, sale_line_id: int | None) -> str | None:
        if sale_line_id is None:
            return None
        found = self.rpc.search_read(
            "stock.move",
            [("origin", "=", f"sale.line,{sale_line_id}"), ("to_location.type", "=", "customer")],
            ["id"],
            order=[("id", "ASC")],
            limit=1,
        )
        # Not delivered yet: the sale line itself (Tryton then counts the return against the quantity sold).
        return f"stock.move,{found[0]['id']}" if found else f"sale.line,{sale_line_id}"
