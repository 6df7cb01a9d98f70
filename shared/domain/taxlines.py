"""Which rate a line or charge was taxed at, from the store's tax lines: one rate per distinct tax.

Stores split one tax over several tax lines (Shopify's Canadian GST in two lines of 1.75; WooCommerce rates with
the same label), so tax lines with the same name and rate are one tax and different taxes add (GST 5% + QST
9.975% = 14.975%). Pure; used by the order model, the validation rules and the targets alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Protocol

ZERO = Decimal(0)
HUNDRED = Decimal(100)
CENT = Decimal("0.01")


class StatedTax(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def rate(self) -> Decimal | None: ...
    @property
    def amount(self) -> Decimal: ...


def distinct_rate(taxes: Iterable[StatedTax]) -> Decimal | None:
    """The sum of the rates of the distinct taxes (same name, case-insensitive, and same rate = one tax);
    None when no tax line states a rate."""
    distinct = {(t.name.strip().casefold(), t.rate) for t in taxes if t.rate is not None}
    if not distinct:
        return None
    return sum((rate for _, rate in distinct if rate is not None), ZERO)


def explains(rate: Decimal, base: Decimal, tax: Decimal, tolerance: Decimal) -> bool:
    """Does `rate` percent of `base` give `tax` within `tolerance`?"""
    return abs(base * rate / HUNDRED - tax) <= tolerance


def applied_rate(taxes: Sequence[StatedTax], base: Decimal, tax: Decimal) -> Decimal | None:
    """The rate the store applied: the distinct taxes' rate, unless the amounts say that several lines of one
    name were different taxes (then the sum of every line's rate). A cent of rounding per tax line is allowed.
    When neither explains the amounts the distinct rate is returned, and validation holds the order
    (tax_amount_mismatch)."""
    distinct = distinct_rate(taxes)
    if distinct is None or not base:
        return distinct
    tolerance = CENT * max(1, len(taxes))
    if explains(distinct, base, tax, tolerance):
        return distinct
    every = sum((t.rate for t in taxes if t.rate is not None), ZERO)
    if every != distinct and explains(every, base, tax, tolerance):
        return every
    return distinct
