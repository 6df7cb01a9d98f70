"""Words inside stored reasons (what the store API refused, which line has no tax rate, which total is off) are
catalog keys with data, so a third language is one catalog: nothing English or Spanish leaks from stored data.
Rows stored before, with the words in both languages as data, still read."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from shared import texts
from shared.channels.store_api import order_json, subject
from shared.channels.woocommerce.parsing import parse_order
from shared.domain.order import Order, OrderLine
from shared.domain.records import Problem
from shared.domain.rules.settings import RulesSettings
from shared.domain.rules.totals import discount_problems, line_problems
from shared.errors import PermanentError
from shared.handlers.common import problem_from_error
from shared.targets.ubl import taxes

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "woocommerce"

# Only the keys these refusals and problems use: the rest of a new catalog falls back to English.
FRENCH = {
    "error.store_api_refused": "L'API de la boutique a refusé de donner {what_text} (HTTP {status}).",
    "error.tax_rate_unknown": "Le taux de taxe de {where_text} est inconnu.",
    "problem.discount_mismatch": "Les remises ne concordent pas : {detail_text}.",
    "problem.totals_mismatch": "Le {what_text} ne concorde pas : {expected} attendu, {found} trouvé.",
    "word.discount_line_exceeds": "la remise de {line_text} dépasse la ligne elle-même",
    "word.line": "la ligne {line} ({label})",
    "word.line_id": "la ligne {line_id}",
    "word.store_order": "la commande {order_id}",
    "word.total_line_subtotal": "sous-total de {line_text} ({quantity} x {unit_price})",
}

ENGLISH_OR_SPANISH = ("order", "pedido", "line ", "línea", "subtotal of", "discount on", "descuento")


@pytest.fixture
def french(monkeypatch: pytest.MonkeyPatch) -> None:
    catalogs = {**texts.CATALOGS, "fr": FRENCH}
    monkeypatch.setattr(texts, "CATALOGS", catalogs)
    monkeypatch.setattr(texts, "LANGUAGES", tuple(catalogs))


def refused_order(status: int) -> PermanentError:
    response = requests.Response()
    response.status_code = status
    with pytest.raises(PermanentError) as raised:
        order_json(response, subject("word.store_order", order_id="5123"))
    return raised.value


def with_first_line(change: Callable[[OrderLine], dict[str, object]]) -> tuple[Order, OrderLine]:
    """The WooCommerce fixture order with only its first line, changed; and that line as it was."""
    order = parse_order(json.loads((FIXTURES / "order_created.json").read_bytes()), "demo-woo")
    first = order.lines[0]
    return order.model_copy(update={"lines": [first.model_copy(update=change(first))]}), first


def stored(problems: list[Problem], field: str) -> Problem:
    """The problem on `field`, as read back from a stored row."""
    return Problem.model_validate(next(p for p in problems if p.field == field).model_dump(mode="json"))


def assert_french(sentence: str) -> None:
    assert not [word for word in ENGLISH_OR_SPANISH if word in sentence], sentence
    assert "?" not in sentence, sentence


@pytest.mark.usefixtures("french")
def test_a_store_api_refusal_reads_entirely_in_a_third_language() -> None:
    refusal = refused_order(401)
    assert refusal.data == {"what_text": "word.store_order", "order_id": "5123", "status": "401"}
    assert refusal.text("fr") == "L'API de la boutique a refusé de donner la commande 5123 (HTTP 401)."
    stored = Problem.model_validate(problem_from_error(refusal).model_dump(mode="json"))
    assert stored.message("fr") == refusal.text("fr")
    assert stored.message("es").startswith("La API de la tienda no entregó el pedido 5123 (HTTP 401)")
    assert stored.message("en").startswith("The store API refused to give order 5123 (HTTP 401)")


@pytest.mark.usefixtures("french")
def test_an_unknown_tax_rate_names_its_line_in_a_third_language() -> None:
    with pytest.raises(PermanentError) as raised:
        taxes.rate(None, True, Decimal("0"), Decimal("2.10"), taxes.line_where("7"))
    assert raised.value.text("fr") == "Le taux de taxe de la ligne 7 est inconnu."
    assert raised.value.text("es").startswith("El tipo de impuesto de la línea 7 no se conoce")


@pytest.mark.usefixtures("french")
def test_a_totals_problem_with_a_line_label_reads_entirely_in_a_third_language() -> None:
    broken, first = with_first_line(lambda line: {"subtotal": line.subtotal + 5})
    mismatch = stored(line_problems(broken, RulesSettings()), "lines[0].subtotal")
    french = mismatch.message("fr")
    assert french.startswith(f"Le sous-total de la ligne 1 ({first.sku}) ({first.quantity} x {first.unit_price})")
    assert_french(french)
    assert mismatch.message("es").startswith(f"El subtotal de la línea 1 ({first.sku})")
    assert mismatch.message("en").startswith(f"The subtotal of line 1 ({first.sku})")


@pytest.mark.usefixtures("french")
def test_a_discount_problem_reads_entirely_in_a_third_language() -> None:
    broken, first = with_first_line(lambda line: {"discount": line.subtotal + 1})
    french = stored(discount_problems(broken, RulesSettings()), "lines[0].discount").message("fr")
    assert_french(french)
    assert french.startswith(f"Les remises ne concordent pas : la remise de la ligne 1 ({first.sku})")


def test_rows_stored_with_the_words_in_both_languages_still_read() -> None:
    # The shapes stored before the words became keys: `<name>` in English with its `<name>_es` twin.
    refused = Problem(
        code="store_api_refused",
        text="error.store_api_refused",
        data={"what": "order 5123", "what_es": "el pedido 5123", "status": "401"},
    )
    assert refused.message("en").startswith("The store API refused to give order 5123 (HTTP 401)")
    assert refused.message("es").startswith("La API de la tienda no entregó el pedido 5123 (HTTP 401)")
    totals = Problem(
        code="totals_mismatch",
        expected="10.00",
        found="12.00",
        data={"what": "shipping total", "what_es": "El total de envío"},
    )
    assert totals.message("en") == "The shipping total does not add up: it should be 10.00 but the store says 12.00."
    assert totals.message("es").startswith("El total de envío no cuadra")
    unknown_rate = Problem(
        code="tax_rate_unknown", text="error.tax_rate_unknown", data={"where": "line 7", "where_es": "la línea 7"}
    )
    assert unknown_rate.message("es").startswith("El tipo de impuesto de la línea 7 no se conoce")


def test_an_unconfirmed_cancellation_stored_before_still_reads_its_refusal() -> None:
    keyed = {"refusal_text": "error.store_api_refused", "refusal": "", "refusal_es": "", "topic": "order.deleted"}
    old_keyed = Problem(
        code="cancellation_unconfirmed",
        data={**keyed, "what": "order 5123", "what_es": "el pedido 5123", "status": "403"},
    )
    assert old_keyed.message("es").startswith("La API de la tienda no entregó el pedido 5123 (HTTP 403)")
    sentences = {"refusal_text": "", "refusal": "The store said no.", "refusal_es": "La tienda dijo que no."}
    old_sentences = Problem(code="cancellation_unconfirmed", data={**sentences, "topic": "order.deleted"})
    assert old_sentences.message("en").startswith("The store said no. The store's order.deleted notice")
    assert old_sentences.message("es").startswith("La tienda dijo que no. No se aplicó el aviso order.deleted")
