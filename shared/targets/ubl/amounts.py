"""Money and number arithmetic the UBL documents share: cents rounded half up, numbers as plain decimal text."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0")


def money(value: Decimal) -> Decimal:
    """Round an amount to cents, half up (BR-DEC-*: at most two decimals)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def amount_text(value: Decimal) -> str:
    """An amount as the document shows it: cents, half up."""
    return f"{money(value):f}"


def number_text(value: Decimal) -> str:
    """Quantities, prices and percentages: as many decimals as needed, never exponent notation."""
    text = f"{value.normalize():f}"
    return text if text != "-0" else "0"
