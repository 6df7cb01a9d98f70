"""The text catalogs: rendering in the reader's language, fallbacks, old rows, and a new language as one file."""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared import texts
from shared.domain.records import OrderRecord, Problem, TimelineEntry
from shared.domain.rules.messages import problem
from shared.errors import PermanentError


def test_render_fills_the_template_in_the_readers_language() -> None:
    data = {"found": "USD", "expected": "EUR"}
    assert texts.render("problem.currency_not_allowed", data, "en") == (
        "The order is in USD, but this store invoices only in EUR."
    )
    assert texts.render("problem.currency_not_allowed", data, "es") == (
        "El pedido está en USD, pero esta tienda solo factura en EUR."
    )


def test_render_falls_back_to_english_then_to_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(texts.CATALOGS, "es", {k: v for k, v in texts.CATALOGS["es"].items() if k != "ui.title"})
    assert texts.render("ui.title", {}, "es") == "Orders"
    assert texts.render("ui.title", {}, "xx") == "Orders"
    assert texts.render("ui.no_such_key", {}, "es") == "ui.no_such_key"


def test_a_missing_placeholder_shows_a_question_mark_instead_of_raising() -> None:
    assert texts.render("ui.showing", {}, "en") == "Showing ? orders, those needing attention first."


def test_a_value_that_does_not_fit_the_format_spec_does_not_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(texts.CATALOGS["en"], "ui.test_spec", "{count:d} orders")
    assert texts.render("ui.test_spec", {"count": "many"}, "en") == "{count:d} orders"


def test_english_and_spanish_are_discovered_with_english_first() -> None:
    assert texts.LANGUAGES[0] == texts.DEFAULT_LANGUAGE == "en"
    assert "es" in texts.LANGUAGES


@pytest.fixture
def french(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A third language added the way the docs say: one module with a TEXTS dict next to en.py."""
    (tmp_path / "fr.py").write_text(
        'TEXTS = {"ui.title": "Commandes", "problem.currency_not_allowed": '
        '"La commande est en {found}, mais cette boutique ne facture qu\'en {expected}."}\n',
        encoding="utf-8",
    )
    # The package searches tmp_path too, as if fr.py had been dropped into shared/texts/.
    monkeypatch.setattr(texts, "__path__", [*texts.__path__, str(tmp_path)])
    catalogs = texts.discover()
    monkeypatch.setattr(texts, "CATALOGS", catalogs)
    monkeypatch.setattr(texts, "LANGUAGES", tuple(catalogs))
    yield
    sys.modules.pop("shared.texts.fr", None)


@pytest.mark.usefixtures("french")
def test_a_new_language_is_one_file() -> None:
    assert "fr" in texts.LANGUAGES
    assert texts.choose_language(None, "fr-CA,fr;q=0.9,en;q=0.5") == "fr"
    assert texts.render("ui.title", {}, "fr") == "Commandes"
    assert texts.render("ui.back", {}, "fr") == "Back to the list"  # not translated yet: English
    found = problem("currency_not_allowed", field="currency", expected="EUR", found="USD")
    assert found.message("fr") == "La commande est en USD, mais cette boutique ne facture qu'en EUR."


def test_a_problem_stores_its_code_and_data_and_renders_when_read() -> None:
    found = problem("unmapped_sku", field="lines[0].sku", found="TEA-X", line=1)
    assert found.data == {"line": "1"}
    assert found.message("en").startswith("The SKU TEA-X on line 1 is not mapped")
    assert found.message("es").startswith("El SKU TEA-X de la línea 1 no está asociado")


def test_a_problem_stored_before_the_catalog_still_reads_in_both_languages() -> None:
    # The shape rows had before this change: sentences stored, no data.
    row = {
        "store_id": "s1",
        "order_id": "1",
        "problems": [
            {
                "code": "unmapped_sku",
                "field": "lines[0].sku",
                "found": "TEA-X",
                "message_en": "The SKU TEA-X on line 1 is not mapped.",
                "message_es": "El SKU TEA-X de la línea 1 no está asociado.",
            },
            {"code": "retired_code", "message_en": "An old reason.", "message_es": "Un motivo antiguo."},
        ],
    }
    record = OrderRecord.model_validate(row)
    mapped, retired = record.problems
    assert mapped.message("en") == "The SKU TEA-X on line 1 is not mapped."
    assert mapped.message("es") == "El SKU TEA-X de la línea 1 no está asociado."
    assert retired.message("es") == "Un motivo antiguo."
    assert retired.message("fr") == "An old reason."


def test_a_problem_without_extras_renders_from_the_catalog_even_when_sentences_were_stored() -> None:
    stored = Problem(code="no_lines", message_en="An outdated sentence.", message_es="Una frase antigua.")
    assert stored.message("en") == "The order has no product lines, so there is nothing to invoice."


def test_a_timeline_entry_renders_its_key_and_an_old_entry_its_stored_sentences(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(texts.CATALOGS["en"], "timeline.test", "Invoice {number} issued.")
    monkeypatch.setitem(texts.CATALOGS["es"], "timeline.test", "Factura {number} emitida.")
    new = TimelineEntry(actor="invoicing", action="invoiced", text="timeline.test", data={"number": "F-1"})
    assert new.describe("es") == "Factura F-1 emitida."
    old = TimelineEntry.model_validate(
        {"actor": "invoicing", "action": "invoiced", "detail": "Invoice F-1 issued.", "detail_es": "Factura F-1."}
    )
    assert (old.describe("en"), old.describe("es")) == ("Invoice F-1 issued.", "Factura F-1.")
    older = TimelineEntry.model_validate({"actor": "intake", "action": "received", "detail": "Received."})
    assert older.describe("es") == "Received."


def test_a_permanent_error_renders_its_catalog_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(texts.CATALOGS["en"], "error.test", "Item {sku} is unknown.")
    monkeypatch.setitem(texts.CATALOGS["es"], "error.test", "El artículo {sku} no existe.")
    error = PermanentError("test", {"sku": "MUG"}, detail="trace")
    assert (error.message, error.text("es"), error.code, error.detail) == (
        "Item MUG is unknown.",
        "El artículo MUG no existe.",
        "test",
        "trace",
    )
    assert str(error) == "Item MUG is unknown."


def test_a_permanent_error_still_accepts_the_old_sentences() -> None:
    error = PermanentError("old_code", "Item is unknown.", message_es="El artículo no existe.")
    assert (error.message, error.message_es, error.text("es")) == (
        "Item is unknown.",
        "El artículo no existe.",
        "El artículo no existe.",
    )
    assert PermanentError("old_code", "Only English.").text("es") == "Only English."


# -- the catalogs against the source ---------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    p for folder in ("shared", "functions", "local") for p in (ROOT / folder).rglob("*.py") if "texts" not in p.parts
)
TEMPLATES = sorted((ROOT / "shared" / "dashboard" / "templates").rglob("*.html"))
LITERAL_KEY = re.compile(r"""["']((?:error|problem|timeline|ui|word)\.[a-z0-9_]+)["']""")


def _calls(name: str) -> Iterator[tuple[str, ast.Call]]:
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] == name:
                yield f"{path.relative_to(ROOT)}:{node.lineno}", node


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def keys_used_in_the_source() -> set[str]:
    """Every catalog key the code names: literal keys, `problem("<code>")`, `PermanentError("<code>", …)`, and the
    dashboard's `t("<key>")` / `translate("<key>")`."""
    keys = {m.group(1) for path in SOURCES for m in LITERAL_KEY.finditer(path.read_text(encoding="utf-8"))}
    keys -= {"error.type", "problem.codes"}  # OpenTelemetry attribute names in shared/telemetry.py, not texts
    for _, call in _calls("problem"):
        code = _literal(call.args[0]) if call.args else None
        if code:
            keys.add(f"problem.{code}")
    for _, call in _calls("PermanentError"):
        code = _literal(call.args[0]) if call.args else None
        legacy = len(call.args) > 1 and not isinstance(call.args[1], ast.Dict | ast.Name | ast.Call)
        named = {k.arg: k.value for k in call.keywords}
        if code and not legacy and "text" not in named:
            keys.add(f"error.{code}")
    dashboard = [*_calls("translate"), *_calls("t")]
    for where, call in dashboard:
        key = _literal(call.args[0]) if call.args else None
        if key and where.startswith("shared/dashboard/"):  # other `t` helpers add their own prefix
            keys.add(f"ui.{key}")
    for path in TEMPLATES:
        keys |= {f"ui.{k}" for k in re.findall(r"""\bt\(\s*["']([a-z0-9_]+)["']""", path.read_text(encoding="utf-8"))}
    return keys


def test_the_source_scan_finds_the_keys_it_is_meant_to_guard() -> None:
    used = keys_used_in_the_source()
    assert {"timeline.invoiced", "problem.unmapped_sku", "error.seller_iban_missing", "ui.retry"} <= used
    assert {"word.kind_email", "error.tax_category_mixed"} & used == {"error.tax_category_mixed"}  # dynamic: not seen


def test_every_key_used_in_the_source_is_in_every_catalog() -> None:
    used = keys_used_in_the_source()
    for lang, catalog in texts.CATALOGS.items():
        assert sorted(used - catalog.keys()) == [], lang


def test_every_catalog_has_the_same_keys_and_placeholders_as_english() -> None:
    english = texts.CATALOGS["en"]
    for lang, catalog in texts.CATALOGS.items():
        assert catalog.keys() == english.keys(), lang
        for key, text in catalog.items():
            # Words that differ by language are keys too (`<name>_text`), so every language takes the same values.
            assert texts.placeholders(text) == texts.placeholders(english[key]), (lang, key)


def test_the_words_of_the_privacy_kinds_and_document_kinds_are_in_every_catalog() -> None:
    from shared.handlers.privacy import KIND_KEYS

    wanted = {*KIND_KEYS, "word.kind_none", "word.document_invoice", "word.document_credit_note"}
    for catalog in texts.CATALOGS.values():
        assert wanted <= catalog.keys()


def test_every_catalog_is_sorted_in_blocks_by_kind() -> None:
    for lang in texts.LANGUAGES:
        keys = list(texts.CATALOGS[lang])
        assert keys == sorted(keys), lang


def test_a_refusal_still_written_as_sentences_gives_the_spanish_one_too() -> None:
    # The old form PermanentError(code, "English", message_es="Spanish") stays valid for branches written before.
    faults = []
    for where, call in _calls("PermanentError"):
        legacy = len(call.args) > 1 and isinstance(call.args[1], ast.Constant | ast.JoinedStr | ast.BoolOp)
        if legacy and "message_es" not in {k.arg for k in call.keywords}:
            faults.append(where)
    assert faults == []
