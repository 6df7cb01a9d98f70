"""Build the rules' problems: a stable code and its data; the sentences live in shared/texts as `problem.<code>`.

Codes are stable (dashboards, tests and people's filters rely on them); sentences may improve. The
templates take `{field}`, `{expected}`, `{found}` and the named extras each rule passes.
"""

from __future__ import annotations

from shared import texts
from shared.domain.records import Problem

# code: (English, Spanish) — read from the catalogs; kept for the callers that list every code.
MESSAGES: dict[str, tuple[str, str]] = {
    key.removeprefix("problem."): (english, texts.CATALOGS["es"].get(key, english))
    for key, english in texts.CATALOGS[texts.DEFAULT_LANGUAGE].items()
    if key.startswith("problem.")
}


def problem(code: str, *, field: str = "", expected: object = "", found: object = "", **extra: object) -> Problem:
    """The Problem for a code: its fields and extras, rendered in the reader's language when read."""
    if f"problem.{code}" not in texts.CATALOGS[texts.DEFAULT_LANGUAGE]:
        raise KeyError(code)
    data = {k: str(v) for k, v in extra.items()}
    return Problem(code=code, field=field, expected=str(expected), found=str(found), data=data)
