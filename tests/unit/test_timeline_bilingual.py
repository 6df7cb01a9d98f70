"""Every order timeline sentence (TimelineEntry.detail) has a Spanish twin (detail_es) for the Spanish dashboard.

The source check walks the code, so a new `entry(...)` without `detail_es=` fails here; the behavioural tests run
orders through the real pipeline (intake → dispatch → handlers) and read the timeline a merchant would see.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from shared.bootstrap import Services
from shared.dashboard.page import render_dashboard
from shared.domain.order import OrderState
from shared.domain.records import TimelineEntry
from shared.errors import RetryableError
from shared.handlers.intake import receive_webhook
from shared.handlers.operations import retry_order
from tests.bilingual import assignments, calls_named, spanish_faults
from tests.support import (
    FakeErpTarget,
    fixture_bytes,
    fixture_json,
    http_status,
    make_services,
    store_settings,
    webhook_headers,
)

SHOP, SHOP_ORDER = "demo-shopify", "9007199254740993"  # tests/fixtures/shopify/orders_create.json
WOO, WOO_ORDER = "demo-woo", "5123"  # tests/fixtures/woocommerce/order_created.json


# -- the source check ----------------------------------------------------------------------------------


ENTRY_CALLS = calls_named("entry")


def _faults(call: ast.Call, names: dict[str, ast.expr] | None = None) -> list[str]:
    return spanish_faults(call, english_position=2, english_keyword="detail", spanish_keyword="detail_es", names=names)


def test_the_source_check_finds_the_timeline_entries_it_is_meant_to_guard() -> None:
    files = {where.split(":")[0] for where, _, _ in ENTRY_CALLS}
    assert len(ENTRY_CALLS) >= 18
    assert {
        "shared/handlers/common.py",
        "shared/handlers/orders.py",
        "shared/handlers/invoicing.py",
        "shared/handlers/fulfilment.py",
        "shared/handlers/operations.py",
    } <= files


@pytest.mark.parametrize(("where", "call", "names"), ENTRY_CALLS, ids=[where for where, _, _ in ENTRY_CALLS])
def test_every_timeline_entry_has_a_spanish_detail_with_the_same_figures(
    where: str, call: ast.Call, names: dict[str, ast.expr]
) -> None:
    assert _faults(call, names) == [], where


@pytest.mark.parametrize(
    ("source", "fault"),
    [
        ('entry(ACTOR, "paid", f"Payment of {order.total} {order.currency} recorded.")', "no detail_es="),
        (
            'entry(ACTOR, "validated", "All checks passed.", detail_es="All checks passed.")',
            "detail_es repeats the English text",
        ),
        ('entry(ACTOR, "validated", "All checks passed.", detail_es="")', "detail_es is empty"),
        (
            'entry(ACTOR, "invoiced", f"Invoice {doc.number}: {doc.total}", detail_es=f"Factura {doc.number}")',
            "the Spanish text does not show doc.total",
        ),
        (
            'entry(stage, "failed", f"Failed: {reason[:200]}", detail_es=f"Falló: {reason}")',
            "the Spanish text does not show reason[:200]",
        ),
    ],
)
def test_the_source_check_catches_a_forgotten_or_incomplete_spanish_detail(source: str, fault: str) -> None:
    call = ast.parse(source, mode="eval").body
    assert isinstance(call, ast.Call)
    assert _faults(call) == [fault]


def test_the_source_check_reads_a_sentence_built_before_the_call() -> None:
    function = ast.parse(
        "def covered():\n"
        '    detail = f"Refund {refund.refund_id} of {refund.amount} is covered."\n'
        '    detail_es = f"La devolución {refund.refund_id} ya está cubierta."\n'
        '    return entry(ACTOR, "refund.covered", detail, detail_es=detail_es)\n'
    )
    call = next(n for n in ast.walk(function) if isinstance(n, ast.Call) and ast.unparse(n.func) == "entry")

    assert _faults(call, assignments(function)) == ["the Spanish text does not show refund.amount"]


# -- through the pipeline ------------------------------------------------------------------------------


def deliver(services: Services, channel: str, store_id: str, topic: str, body: bytes | dict[str, Any]) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    result = receive_webhook(services, channel, store_id, raw, webhook_headers(channel, topic, raw))
    assert http_status(result) == 202, result


def drain(services: Services) -> None:
    services.bus.drain(services)  # type: ignore[attr-defined]


def figures(text: str) -> list[str]:
    return sorted(re.findall(r"\d+(?:\.\d+)?", text))


@pytest.fixture
def target() -> FakeErpTarget:
    return FakeErpTarget()


@pytest.fixture
def services(tmp_path: Path, target: FakeErpTarget) -> Services:
    """An ERP-like target (ships and records payments) and a WooCommerce store that first invoices only in USD."""
    return make_services(
        tmp_path,
        target,
        woo=store_settings(WOO, "woocommerce", currency="USD", language="es"),
        shopify=store_settings(SHOP, "shopify"),
    )


@pytest.fixture
def lived(services: Services, target: FakeErpTarget) -> Services:
    """Two orders with a full life: invoiced, shipped, paid, refunded, cancelled; held, retried, failed, retried."""
    deliver(services, "shopify", SHOP, "orders/create", fixture_bytes("shopify", "orders_create"))
    drain(services)
    deliver(services, "shopify", SHOP, "refunds/create", fixture_bytes("shopify", "refunds_create"))
    drain(services)
    deliver(services, "shopify", SHOP, "orders/cancelled", fixture_json("shopify", "orders_cancelled"))
    drain(services)

    deliver(services, "woocommerce", WOO, "order.created", fixture_bytes("woocommerce", "order_created"))
    drain(services)  # held: the store invoices only in USD
    services.stores[WOO] = store_settings(WOO, "woocommerce", language="es")
    target.fail_with = lambda: RetryableError("ERP timed out")
    retry_order(services, WOO, WOO_ORDER)
    drain(services)  # failed after repeated errors
    target.fail_with = None
    retry_order(services, WOO, WOO_ORDER)
    drain(services)
    return services


def test_every_timeline_entry_of_a_full_order_life_reads_in_both_languages_with_the_same_figures(
    lived: Services,
) -> None:
    timeline = lived.state.get_timeline(SHOP, SHOP_ORDER) + lived.state.get_timeline(WOO, WOO_ORDER)

    seen = {t.action for t in timeline}
    assert {
        "order.received",
        "order.updated",
        "validated",
        "invoiced",
        "stock_synced",
        "paid",
        "refund.received",
        "credit_note.issued",
        "cancel.requested",
        "held",
        "retry.requested",
        "failed",
    } <= seen
    for t in timeline:
        assert t.detail and t.detail_es and t.detail_es != t.detail, (t.action, t.detail, t.detail_es)
        assert figures(t.detail_es) == figures(t.detail), (t.action, t.detail, t.detail_es)
    assert lived.state.get_order(SHOP, SHOP_ORDER).state == OrderState.CANCELLED  # type: ignore[union-attr]
    assert lived.state.get_order(WOO, WOO_ORDER).state == OrderState.PAID  # type: ignore[union-attr]


def test_timeline_sentences_use_the_accounting_words_and_the_documents_numbers(lived: Services) -> None:
    details = {t.action: t.detail_es for t in lived.state.get_timeline(SHOP, SHOP_ORDER)}

    assert details["invoiced"] == "Factura INV-000001 emitida en fake-erp por 53.97 EUR."
    assert details["paid"] == "Cobro de 53.97 EUR registrado."
    assert details["credit_note.issued"].startswith("Factura rectificativa CN-0000")
    assert details["cancel.requested"] == (
        "El pedido se canceló en la tienda después de facturarlo; se emitirá una factura rectificativa."
    )
    assert details["refund.received"] == "Devolución 1003942314261 de 19.12."


def test_the_json_api_gives_both_sentences(lived: Services) -> None:
    from shared.handlers.operations import order_detail

    timeline = order_detail(lived, WOO, WOO_ORDER)["timeline"]

    held = next(t for t in timeline if t["action"] == "held")
    assert (held["detail"], held["detail_es"]) == ("Held: currency_not_allowed", "Retenido: currency_not_allowed")


def test_spanish_dashboard_shows_the_spanish_timeline_and_the_english_page_the_english_one(lived: Services) -> None:
    spanish = render_dashboard(lived, {"lang": "es", "store": SHOP, "order": SHOP_ORDER}, "")
    english = render_dashboard(lived, {"lang": "en", "store": SHOP, "order": SHOP_ORDER}, "es-ES")

    spanish_timeline = spanish.split('<table class="timeline">')[1].split("</table>")[0]
    english_timeline = english.split('<table class="timeline">')[1].split("</table>")[0]
    assert "<td>Factura INV-000001 emitida en fake-erp por 53.97 EUR.</td>" in spanish_timeline
    assert "<td>La tienda envió orders/create (pedido #1001).</td>" in spanish_timeline
    assert "Invoice INV-000001 issued" not in spanish_timeline
    assert "<td>Invoice INV-000001 issued in fake-erp for 53.97 EUR.</td>" in english_timeline
    assert "Factura INV-000001" not in english_timeline


def test_an_entry_stored_before_spanish_details_loads_and_shows_its_english_text_marked_as_english(
    services: Services,
) -> None:
    deliver(services, "shopify", SHOP, "orders/create", fixture_bytes("shopify", "orders_create"))
    drain(services)
    stored_long_ago = json.dumps(
        {
            "at": "2026-11-27T08:00:00+00:00",
            "actor": "operator:lucia",
            "action": "retry.requested",
            "detail": "Released for another try.",
            "data": {"attempt": 1},
        }
    )
    old = TimelineEntry.model_validate_json(stored_long_ago)
    services.state.append_timeline(SHOP, SHOP_ORDER, old)

    assert old.detail_es == ""
    page = render_dashboard(services, {"lang": "es", "store": SHOP, "order": SHOP_ORDER}, "")
    assert '<td lang="en">Released for another try.</td>' in page
    assert "<td>Todas las comprobaciones son correctas; el siguiente paso es la factura.</td>" in page
