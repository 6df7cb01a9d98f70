"""May we invoice it? Pure rule functions over the canonical order, returning problems.

Each problem has a stable code, the field, the expected and found values and a sentence in English
and Spanish. No I/O here: the handler passes in the store settings and the SKU map.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.domain.order import Order
from shared.domain.records import Problem
from shared.stores import StoreSettings


def check_rules_settings(rules: Mapping[str, Any], filename: str) -> None:
    """Validate the `rules:` block of a store file; raise ConfigError naming file, key and reason."""


def validate_order(order: Order, settings: StoreSettings, sku_map: Mapping[str, str]) -> list[Problem]:
    """Every reason this order may not be invoiced yet; an empty list means it may."""
    problems: list[Problem] = []
    if not order.lines:
        problems.append(
            Problem(
                code="no_lines",
                field="lines",
                message_en="The order has no product lines, so there is nothing to invoice.",
                message_es="El pedido no tiene líneas de producto, así que no hay nada que facturar.",
            )
        )
    if order.currency != settings.currency:
        problems.append(
            Problem(
                code="currency_not_allowed",
                field="currency",
                expected=settings.currency,
                found=order.currency,
                message_en=f"The order is in {order.currency}, but this store invoices in {settings.currency}.",
                message_es=f"El pedido está en {order.currency}, pero esta tienda factura en {settings.currency}.",
            )
        )
    return problems
