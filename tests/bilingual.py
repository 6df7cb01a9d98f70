"""Source checks that keep business-facing text bilingual: find the calls that write a sentence for people
(PermanentError → held reason, entry → timeline) and check that each passes a Spanish twin that shows the
same figures. Used by tests/unit/test_messages_bilingual.py and tests/unit/test_timeline_bilingual.py."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*(ROOT / "shared").rglob("*.py"), *(ROOT / "functions").rglob("*.py")])


def assignments(function: ast.AST) -> dict[str, ast.expr]:
    """`detail = f"..."` inside a function: the text a later call writes through that name."""
    return {
        target.id: node.value
        for node in ast.walk(function)
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def calls_named(name: str) -> list[tuple[str, ast.Call, dict[str, ast.expr]]]:
    """Every call of `name(...)` under shared/ and functions/: (file:line, call, names assigned in its function).

    A call inside a nested function is found from its outer function too: one is kept, with the innermost names.
    """
    found: dict[str, tuple[str, ast.Call, dict[str, ast.expr]]] = {}
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        scopes = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))]
        for scope in scopes:
            names = assignments(scope) if scope is not tree else {}
            for node in ast.walk(scope):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                if called == name:
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    found[where] = (where, node, names)
    return list(found.values())


def shown_values(node: ast.AST) -> set[str]:
    """The variables and attributes a sentence shows (`order.number`, `reason[:200]`), without method names."""
    if isinstance(node, ast.Name | ast.Attribute | ast.Subscript):
        return {ast.unparse(node)}
    if isinstance(node, ast.Call):
        inner = node.func.value if isinstance(node.func, ast.Attribute) else None
        parts = [*node.args, *(k.value for k in node.keywords)] + ([inner] if inner is not None else [])
        return set().union(*(shown_values(p) for p in parts))
    return set().union(*(shown_values(child) for child in ast.iter_child_nodes(node)))


def language_neutral(names: set[str]) -> set[str]:
    # what_en / what_es name the same thing in two languages.
    return {re.sub(r"_(en|es)\b", "", name) for name in names}


def spanish_faults(
    call: ast.Call,
    *,
    english_position: int,
    english_keyword: str,
    spanish_keyword: str,
    names: dict[str, ast.expr] | None = None,
) -> list[str]:
    """What is wrong with the call's Spanish text: missing, empty, a copy of the English, or a figure short."""
    names = names or {}
    keywords = {k.arg: k.value for k in call.keywords}
    if spanish_keyword not in keywords:
        return [f"no {spanish_keyword}="]
    english = call.args[english_position] if len(call.args) > english_position else keywords.get(english_keyword)
    if english is None:
        return [f"no English {english_keyword}"]
    spanish = keywords[spanish_keyword]
    # A sentence built just above the call (`detail = f"..."`) is checked as written there.
    if isinstance(english, ast.Name) and english.id in names:
        english = names[english.id]
    if isinstance(spanish, ast.Name) and spanish.id in names:
        spanish = names[spanish.id]
    if isinstance(spanish, ast.Constant) and not spanish.value:
        return [f"{spanish_keyword} is empty"]
    if ast.dump(spanish) == ast.dump(english):
        return [f"{spanish_keyword} repeats the English text"]
    missing = language_neutral(shown_values(english)) - language_neutral(shown_values(spanish))
    return [f"the Spanish text does not show {name}" for name in sorted(missing)]
