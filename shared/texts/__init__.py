"""Texts in every language: one catalog module per language (`en.py`, `es.py`, …), rendered when read.

Stored problems, timeline entries and errors keep a key and data; `render` turns them into the reader's
language. A new language is one new module here with a `TEXTS` dict: it is discovered at import.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from string import Formatter
from typing import Any

from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

DEFAULT_LANGUAGE = "en"


def discover() -> dict[str, dict[str, str]]:
    """Every module of this package named like a language code ("fr", "pt") with a TEXTS dict; English first."""
    found: dict[str, dict[str, str]] = {}
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: (m.name != DEFAULT_LANGUAGE, m.name)):
        if module.ispkg or not module.name.isalpha() or not 2 <= len(module.name) <= 3:
            continue
        texts = getattr(importlib.import_module(f"{__name__}.{module.name}"), "TEXTS", None)
        if isinstance(texts, dict):
            found[module.name] = texts
    return found


CATALOGS: dict[str, dict[str, str]] = discover()
LANGUAGES: tuple[str, ...] = tuple(CATALOGS)


class _Blank(dict[str, Any]):
    # A missing placeholder must never break a page or a stage; it shows as "?" and the catalog tests catch it.
    def __missing__(self, key: str) -> str:
        return "?"


def template(key: str, lang: str) -> str | None:
    """The catalog template for key in lang, else in English, else None."""
    return CATALOGS.get(lang, {}).get(key) or CATALOGS[DEFAULT_LANGUAGE].get(key)


def has(key: str) -> bool:
    return key in CATALOGS[DEFAULT_LANGUAGE]


def _values(data: Mapping[str, object], lang: str) -> _Blank:
    # Words that differ by language are stored as keys too: `<name>_text` holds one key, `<name>_texts` a list.
    # A key's own template may name the other values, `_text` ones included (each level leaves its own name out).
    plain = {k: v for k, v in data.items() if not k.endswith(("_text", "_texts"))}
    values = _Blank(plain)
    for name, value in plain.items():
        # Rows stored before a word became a key carry it as `<name>` (English) with `<name>_es` (Spanish).
        if not data.get(f"{name}_text"):
            values[f"{name}_text"] = plain.get(f"{name}_{lang}") or value
    for name, value in data.items():
        rest = {k: v for k, v in data.items() if k != name}
        if name.endswith("_text") and isinstance(value, str):
            values.setdefault(name, render(value, rest, lang) if value else "")
        elif name.endswith("_texts") and isinstance(value, list | tuple):
            values[name] = ", ".join(render(str(item), rest, lang) for item in value)
    return values


def render(key: str, data: Mapping[str, object] | None = None, lang: str = DEFAULT_LANGUAGE) -> str:
    """The text for key in lang with data filled in: English when lang lacks the key, the key itself last.

    A missing placeholder shows as "?", never raises. A value named `<name>_text` is itself a key, rendered in
    lang first with the same data (`<name>_texts`: a list of keys, joined with ", "). An old row's `<name>` with
    its `<name>_es` twin stands in for a missing `<name>_text`.
    """
    text = template(key, lang)
    if text is None:
        return key
    try:
        return text.format_map(_values(data or {}, lang))
    except (ValueError, IndexError, AttributeError, KeyError):
        # A value that does not fit its format spec (e.g. "{n:d}" given text): show the template, never fail.
        return text


def placeholders(text: str) -> set[str]:
    """The named fields of a template, e.g. {"found", "line"}."""
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in Formatter().parse(text) if name}


def choose_language(requested: str | None, accept_language: str, fallback: str = DEFAULT_LANGUAGE) -> str:
    """`?lang=` when it names a language we have, else the Accept-Language best match, else fallback."""
    if requested and requested.strip().lower() in LANGUAGES:
        return requested.strip().lower()
    if accept_language:
        # werkzeug handles q-values and region fallbacks ("es-MX" matches "es").
        best = parse_accept_header(accept_language, LanguageAccept).best_match(LANGUAGES)
        if best:
            return best
    return fallback if fallback in LANGUAGES else DEFAULT_LANGUAGE
