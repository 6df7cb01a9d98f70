"""The dashboard's words, read from the catalogs in shared/texts (`ui.<key>`), and the request's language.

Kept while callers move to shared.texts: `translate(key, lang)` is `texts.render("ui." + key, …)`.
"""

from __future__ import annotations

from shared import texts
from shared.texts import DEFAULT_LANGUAGE, LANGUAGES, choose_language

__all__ = ["DEFAULT_LANGUAGE", "EN", "ES", "LANGUAGES", "STRINGS", "choose_language", "translate"]

STRINGS: dict[str, dict[str, str]] = {
    lang: {key.removeprefix("ui."): text for key, text in catalog.items() if key.startswith("ui.")}
    for lang, catalog in texts.CATALOGS.items()
}
EN = STRINGS["en"]
ES = STRINGS["es"]


def translate(key: str, lang: str, **values: object) -> str:
    """The UI string for key in lang (English when lang or the key is missing; the key itself as a last resort).

    Named values fill `{placeholders}`; without values the template comes back as it is (the page's script fills it).
    """
    if texts.template(f"ui.{key}", lang) is None:
        return key
    if not values:
        return texts.template(f"ui.{key}", lang) or key
    return texts.render(f"ui.{key}", values, lang)
