"""Timeline entries store a catalog key and data and read in the reader's language (dashboard and API).

The tests run orders through the real pipeline (intake → dispatch → handlers) and read the timeline a merchant
would see; entries stored in the older shapes (detail/detail_es, or English only) still read.
"""

from __future__ import annotations

import json
import re
import sqlite3
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
        english, spanish = t.describe("en"), t.describe("es")
        assert t.text.startswith("timeline.") and not t.detail and not t.detail_es, t  # stored as key + data
        assert english and spanish and spanish != english and "?" not in english + spanish, (t.action, english, spanish)
        assert figures(spanish) == figures(english), (t.action, english, spanish)
    assert lived.state.get_order(SHOP, SHOP_ORDER).state == OrderState.CANCELLED  # type: ignore[union-attr]
    assert lived.state.get_order(WOO, WOO_ORDER).state == OrderState.PAID  # type: ignore[union-attr]


def test_timeline_sentences_use_the_accounting_words_and_the_documents_numbers(lived: Services) -> None:
    details = {t.action: t.describe("es") for t in lived.state.get_timeline(SHOP, SHOP_ORDER)}

    assert details["invoiced"] == "Factura INV-000001 emitida en fake-erp por 53.97 EUR."
    assert details["paid"] == "Cobro de 53.97 EUR registrado."
    assert details["credit_note.issued"].startswith("Factura rectificativa CN-0000")
    assert details["cancel.requested"] == (
        "El pedido se canceló en la tienda después de facturarlo; se emitirá una factura rectificativa."
    )
    assert details["refund.received"] == "Devolución 1003942314261 de 19.12."


def test_the_json_api_gives_both_sentences_and_one_in_the_readers_language(lived: Services) -> None:
    from shared.handlers.operations import order_detail

    english = order_detail(lived, WOO, WOO_ORDER)
    spanish = order_detail(lived, WOO, WOO_ORDER, "es")

    held = next(t for t in english["timeline"] if t["action"] == "held")
    assert (held["detail"], held["detail_es"]) == ("Held: currency_not_allowed", "Retenido: currency_not_allowed")
    assert held["description"] == "Held: currency_not_allowed"
    assert held["text"] == "timeline.held" and held["data"]["codes"] == "currency_not_allowed"
    held_es = next(t for t in spanish["timeline"] if t["action"] == "held")
    assert (spanish["lang"], held_es["description"]) == ("es", "Retenido: currency_not_allowed")


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

    assert (old.detail_es, old.text) == ("", "")
    page = render_dashboard(services, {"lang": "es", "store": SHOP, "order": SHOP_ORDER}, "")
    assert '<td lang="en">Released for another try.</td>' in page
    assert "<td>Todas las comprobaciones son correctas; el siguiente paso es la factura.</td>" in page


def test_rows_stored_in_the_old_shape_in_sqlite_read_in_both_languages_through_the_api(tmp_path: Path) -> None:
    from shared.adapters.sqlite_state import SqliteStateStore
    from shared.handlers.operations import order_detail

    path = tmp_path / "state.db"
    store = SqliteStateStore(path)
    assert store.get_order(WOO, "77") is None  # the schema exists
    old_record = {
        "store_id": WOO,
        "order_id": "77",
        "state": "held",
        "problems": [
            {
                "code": "unmapped_sku",
                "field": "lines[0].sku",
                "found": "TEA-X",
                "message_en": "The SKU TEA-X on line 1 is not mapped to an item in the invoicing system.",
                "message_es": "El SKU TEA-X de la línea 1 no está asociado a ningún artículo.",
            }
        ],
    }
    old_entry = {"at": "2026-11-27T08:00:00+00:00", "actor": "validation", "action": "held",
                 "detail": "Held: unmapped_sku", "detail_es": "Retenido: unmapped_sku", "data": {}}  # fmt: skip
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO orders VALUES (?, ?, 'held', '2026-11-27T08:00:00+00:00', 1, ?)",
            (WOO, "77", json.dumps(old_record)),
        )
        db.execute(
            "INSERT INTO timeline (store_id, order_id, entry) VALUES (?, ?, ?)", (WOO, "77", json.dumps(old_entry))
        )
    services = make_services(tmp_path, FakeErpTarget(), woo=store_settings(WOO, "woocommerce"))
    services.state = store

    spanish = order_detail(services, WOO, "77", "es")

    assert spanish["problems"][0]["message"] == "El SKU TEA-X de la línea 1 no está asociado a ningún artículo."
    assert spanish["problems"][0]["message_en"].startswith("The SKU TEA-X on line 1 is not mapped")
    assert [t["description"] for t in spanish["timeline"]] == ["Retenido: unmapped_sku"]
    assert order_detail(services, WOO, "77")["timeline"][0]["description"] == "Held: unmapped_sku"
