"""How the dashboard writes times, money, states and timeline actions, in the reader's language."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from shared import texts
from shared.domain.order import OrderState

STATES = frozenset(s.value for s in OrderState)


def translate(key: str, lang: str, **values: object) -> str:
    """The dashboard's word for key (`ui.<key>` in the catalogs) in lang; English, then the key, when missing.

    Named values fill `{placeholders}`; without values the template comes back as it is (the page's script fills it).
    """
    template = texts.template(f"ui.{key}", lang)
    if template is None:
        return key
    return texts.render(f"ui.{key}", values, lang) if values else template


@dataclass(frozen=True)
class Time:
    """A moment for a <time> element: ISO 8601 for machines, UTC with the zone written for people."""

    iso: str
    text: str


def format_time(value: datetime | None, seconds: bool = False) -> str:
    """UTC with the zone written: 2026-11-28 10:00 UTC (the same for every language)."""
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def time_of(value: datetime | None, seconds: bool = False) -> Time | None:
    return None if value is None else Time(value.isoformat(), format_time(value, seconds))


def format_money(amount: Decimal, currency: str, lang: str) -> str:
    """1,234.50 EUR in English, 1.234,50 EUR in Spanish; the ISO code, never a symbol, for accountants."""
    text = f"{amount:,.2f}"
    if lang == "es":
        text = text.translate(str.maketrans(",.", ".,"))
    return f"{text} {currency}".strip()


def state_label(state: str, lang: str) -> str:
    return translate(f"state_{state}", lang) if state in STATES else state


def action_label(action: str, lang: str) -> str:
    """A timeline action in words ("retry.requested" → "Retry requested"); unknown actions stay as written."""
    key = "action_" + action.replace(".", "_")
    text = translate(key, lang)
    return action if text == key else text


def file_name(location: str) -> str:
    """The last part of an outbox path (either slash) or blob URL."""
    return location.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
