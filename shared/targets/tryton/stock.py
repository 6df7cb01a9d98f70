"""Tryton's sellable stock (shared.ports.ReportsStock): per warehouse, what a shop may still promise.

Sellable is the lower of the quantity on hand and the forecast quantity: the forecast takes off what confirmed
sales will take out but have not shipped yet, and on-hand caps what is promised to arrive later.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from shared.targets.tryton.rpc import TrytonRpc


def sellable_stock(rpc: TrytonRpc, warehouse_id: int, item_codes: Sequence[str]) -> dict[str, Decimal]:
    """Item code → sellable quantity in the warehouse; codes Tryton does not know are left out."""
    codes = sorted({code for code in item_codes if code})
    if not codes:
        return {}
    found = rpc.search_read(
        "product.product",
        [("code", "in", codes)],
        ["code", "quantity", "forecast_quantity"],
        context={"locations": [warehouse_id], "with_childs": True},
    )
    return {str(p["code"]): min(Decimal(str(p["quantity"])), Decimal(str(p["forecast_quantity"]))) for p in found}
