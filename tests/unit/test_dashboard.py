"""The dashboard page rendered from real handler state (SQLite, in-memory bus, recording target): both
languages, held orders first with their reasons, filters, the order detail, and escaping of store data."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from local.registry import registered_functions
from shared.bootstrap import Services, override_services
from shared.handlers.dashboard import format_money, render_dashboard
from shared.handlers.intake import receive_webhook
from shared.handlers.operations import mark_failed
from shared.i18n import EN, ES, choose_language, translate
from tests.support import FakeTarget, fixture_bytes, http_status, make_services, store_settings, webhook_headers

WOO_ORDER = "5123"  # tests/fixtures/woocommerce/order_created.json
SHOPIFY_ORDER = "9007199254740993"  # tests/fixtures/shopify/orders_create.json, id above 2^53
HOSTILE_ORDER = "6001"
HOSTILE_NAME = "<script>alert('mug')</script>"
HOSTILE_SKU = '"><img src=x onerror=alert(1)>'


class Elements(HTMLParser):
    """Every start tag with its attributes: proves what the browser would build, not what a regex sees."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def named(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def deliver(services: Services, channel: str, store_id: str, topic: str, body: bytes) -> None:
    result = receive_webhook(services, channel, store_id, body, webhook_headers(channel, topic, body))
    assert http_status(result) == 202


@pytest.fixture
def services(tmp_path: Path) -> Services:
    """demo-woo invoices in EUR; demo-shopify only in USD, so its EUR order is held; one hostile order."""
    services = make_services(
        tmp_path,
        FakeTarget(),
        woo=store_settings("demo-woo", "woocommerce", name="Cerámica Azul", language="es"),
        shopify=store_settings("demo-shopify", "shopify", name="Té y Tetera", currency="USD"),
    )
    deliver(services, "woocommerce", "demo-woo", "order.created", fixture_bytes("woocommerce", "order_created"))
    hostile = json.loads(fixture_bytes("woocommerce", "order_created"))
    hostile["id"] = int(HOSTILE_ORDER)
    hostile["number"] = HOSTILE_ORDER
    hostile["line_items"][0]["name"] = HOSTILE_NAME
    hostile["line_items"][0]["sku"] = HOSTILE_SKU
    deliver(services, "woocommerce", "demo-woo", "order.created", json.dumps(hostile).encode())
    deliver(services, "shopify", "demo-shopify", "orders/create", fixture_bytes("shopify", "orders_create"))
    services.bus.drain(services)  # type: ignore[attr-defined]
    return services


def order_states(page: str) -> list[tuple[str, str]]:
    return [(str(a["data-order"]), str(a["data-state"])) for a in Elements(page).named("tbody")]


def test_spanish_page_lists_held_orders_first_with_their_spanish_reasons(services: Services) -> None:
    page = render_dashboard(services, {"lang": "es"}, "en-GB,en;q=0.9")

    assert '<html lang="es">' in page
    assert "2 pedidos necesitan a una persona." in page
    rows = order_states(page)
    assert rows[-1] == (WOO_ORDER, "invoiced")
    assert {state for _, state in rows[:2]} == {"held"}
    assert "El pedido está en EUR, pero esta tienda solo factura en USD." in page
    assert "campo: <code>currency</code> · esperado: <code>USD</code> · encontrado: <code>EUR</code>" in page
    assert "The order is in EUR" not in page
    assert ">Retenido</span>" in page and ">Facturado</span>" in page
    assert "Factura <strong>INV-000001</strong>" in page
    assert "53,97 EUR" in page  # Spanish decimal comma, ISO code
    assert "2024-03-15 09:30 UTC" in page  # the order's placing time, zone written


def test_language_comes_from_the_parameter_then_the_browser_then_the_store(services: Services) -> None:
    english = render_dashboard(services, {}, "en-US,en;q=0.9,es;q=0.5")
    browser_spanish = render_dashboard(services, {}, "es-MX,es;q=0.9")
    store_spanish = render_dashboard(services, {"store": "demo-woo"}, "")
    nobody_says = render_dashboard(services, {}, "")
    parameter_wins = render_dashboard(services, {"lang": "en"}, "es-ES")

    assert "The order is in EUR, but this store invoices only in USD." in english
    assert '<html lang="es">' in browser_spanish and '<html lang="es">' in store_spanish
    assert '<html lang="en">' in nobody_says and '<html lang="en">' in parameter_wins
    # The switch link offers the other language and keeps the filters.
    link = next(a for a in Elements(store_spanish).named("a") if "language" in (a.get("class") or ""))
    assert link["href"] == "?lang=en&store=demo-woo"


def test_hostile_store_data_is_shown_as_text_and_never_becomes_markup(services: Services) -> None:
    page = render_dashboard(services, {"lang": "en"}, "")

    elements = Elements(page)
    assert len(elements.named("script")) == 2  # the page's own JSON data and script, nothing from the store
    assert elements.named("img") == []
    assert not [attrs for _, attrs in elements.tags if any(name.startswith("on") for name in attrs)]
    # The unmapped hostile SKU is in the problem sentence, in the small print and in the store panel.
    assert page.count("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;") >= 3
    detail = render_dashboard(services, {"lang": "en", "store": "demo-woo", "order": HOSTILE_ORDER}, "")
    assert "&lt;script&gt;alert(&#x27;mug&#x27;)&lt;/script&gt;" in detail
    assert len(Elements(detail).named("script")) == 2


def test_hostile_store_name_and_function_key_are_escaped(tmp_path: Path) -> None:
    services = make_services(tmp_path, woo=store_settings("demo-woo", "woocommerce", name="</script><b>Shop</b>"))
    page = render_dashboard(services, {"code": '"></script><script>alert(1)</script>'}, "")

    assert "&lt;/script&gt;&lt;b&gt;Shop&lt;/b&gt;" in page
    assert len(Elements(page).named("script")) == 2
    data = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', page, re.S)
    assert data is not None
    assert json.loads(data.group(1))["code"] == '"></script><script>alert(1)</script>'


def test_state_filter_shows_only_that_state_and_counts_every_state(services: Services) -> None:
    page = render_dashboard(services, {"lang": "en", "state": "invoiced"}, "")

    assert order_states(page) == [(WOO_ORDER, "invoiced")]
    counts = {
        str(a["data-state"]): a for a in Elements(page).named("a") if a.get("data-state") and "count" in str(a["class"])
    }
    assert set(counts) == {"received", "validated", "invoiced", "stock_synced", "paid", "held", "credited"} | {
        "cancelled",
        "failed",
    }
    assert "active" in str(counts["invoiced"]["class"])
    assert counts["held"]["href"] == "?lang=en&state=held"
    assert re.search(r'data-state="held"><span class="number">2</span>', page)
    assert re.search(r'data-state="paid"><span class="number">0</span>', page)
    assert re.search(r'class="count all"[^>]*><span class="number">3</span>', page)


def test_store_filter_limits_orders_counts_and_store_panels(services: Services) -> None:
    page = render_dashboard(services, {"lang": "en", "store": "demo-shopify"}, "")

    assert order_states(page) == [(SHOPIFY_ORDER, "held")]
    assert re.search(r'data-state="held"><span class="number">1</span>', page)
    panels = [a["data-store"] for a in Elements(page).named("article")]
    assert panels == ["demo-shopify"]


def test_unknown_filters_are_ignored_rather_than_failing(services: Services) -> None:
    page = render_dashboard(services, {"state": "lost", "limit": "many", "lang": "fr"}, "")

    assert len(order_states(page)) == 3
    assert '<html lang="en">' in page
    unknown = render_dashboard(services, {"store": "nowhere"}, "")
    assert "Unknown store: nowhere" in unknown and order_states(unknown) == []


def test_retry_buttons_are_offered_only_for_held_and_failed_orders(services: Services) -> None:
    page = render_dashboard(services, {"lang": "en"}, "")

    groups = re.findall(r'<tbody class="order"[^>]*data-state="(\w+)">(.*?)</tbody>', page, re.S)
    offered = {state: 'class="retry">' in body for state, body in groups}
    assert offered == {"held": True, "invoiced": False}


def test_failed_order_without_a_snapshot_is_listed_with_its_reason_and_a_retry(services: Services) -> None:
    mark_failed(services, "demo-woo", "7001", "invoicing", "Tryton answered 503 Service Unavailable")
    page = render_dashboard(services, {"lang": "es", "state": "failed"}, "")

    assert order_states(page) == [("7001", "failed")]
    assert "El procesamiento se detuvo en la etapa invoicing tras errores repetidos" in page
    assert ">Fallido</span>" in page and 'class="retry">Reintentar</button>' in page
    assert '<a class="order-link" href="?lang=es&amp;store=demo-woo&amp;order=7001">#7001</a>' in page
    detail = render_dashboard(services, {"lang": "en", "store": "demo-woo", "order": "7001"}, "")
    assert "Failed after repeated errors: Tryton answered 503 Service Unavailable" in detail


def test_store_panel_lists_unmapped_skus_with_the_orders_waiting(services: Services) -> None:
    page = render_dashboard(services, {"lang": "es", "store": "demo-woo"}, "")

    assert "SKU pendientes de asociar" in page
    assert f'— en espera: <a href="?lang=es&amp;store=demo-woo&amp;order={HOSTILE_ORDER}">#{HOSTILE_ORDER}</a>' in page
    upload = Elements(page).named("form")
    assert [f["data-store"] for f in upload if f.get("class") == "sku-upload"] == ["demo-woo"]


def test_order_detail_shows_timeline_documents_and_lines(services: Services) -> None:
    page = render_dashboard(services, {"lang": "en", "store": "demo-woo", "order": WOO_ORDER}, "")

    assert "Order #5123" in page
    assert "<strong>INV-000001</strong>" in page
    assert "<code>BLUE-MUG-350ML</code>" in page
    timeline = page.split('<table class="timeline">')[1]
    assert '<span class="action">Order received</span><small class="code">order.received</small>' in timeline
    assert 'data-state="validated">Validated</span>' in timeline
    assert 'data-state="invoiced">Invoiced</span>' in timeline
    assert re.search(r"<time datetime=\"[^\"]+\+00:00\">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</time>", timeline)
    missing = render_dashboard(services, {"lang": "es", "store": "demo-woo", "order": "999"}, "")
    assert "Este pedido no se conoce aquí." in missing


def test_no_email_or_street_address_reaches_the_page(services: Services) -> None:
    billing = json.loads(fixture_bytes("woocommerce", "order_created"))["billing"]
    pages = [
        render_dashboard(services, {"lang": "en"}, ""),
        render_dashboard(services, {"lang": "en", "store": "demo-woo", "order": WOO_ORDER}, ""),
    ]
    for page in pages:
        for value in (billing["email"], billing["address_1"], billing["postcode"], billing["phone"]):
            assert value not in page
        assert "facturas@" not in page and "Calle Mayor" not in page  # the seller's, from store settings


def test_function_key_is_kept_in_links_and_given_to_the_script(services: Services) -> None:
    page = render_dashboard(services, {"lang": "en", "code": "k3y/Abc=="}, "")

    hrefs = [str(a["href"]) for a in Elements(page).named("a") if a.get("href", "").startswith("?")]
    assert hrefs and all("code=k3y%2FAbc%3D%3D" in href for href in hrefs)
    data = re.search(r'id="page-data">(.*?)</script>', page, re.S)
    assert data is not None and json.loads(data.group(1))["code"] == "k3y/Abc=="
    download = next(a for a in Elements(page).named("a") if a.get("data-api-path"))
    assert download["href"] == f"{download['data-api-path']}?code=k3y%2FAbc%3D%3D"


def test_queue_depths_are_shown_when_the_bus_reports_them(services: Services) -> None:
    class Stats:
        active, scheduled, locked, dead_lettered, oldest_enqueued_age_seconds = 3, 0, 1, 2, 41.6

    services.bus.stats = lambda queue: Stats()  # type: ignore[attr-defined]
    page = render_dashboard(services, {"lang": "es"}, "")

    assert "<h2>Colas</h2>" in page
    assert '<code>order-events</code><td class="num">3</td>' not in page  # cells are separate
    assert re.search(r"<code>order-events</code></td><td class=\"num\">3</td>.*?alarm\">2</td>", page)
    assert ">42</td>" in page
    services.bus.stats = None  # type: ignore[attr-defined]
    assert "<h2>Colas</h2>" not in render_dashboard(services, {"lang": "es"}, "")


def test_money_is_formatted_per_language_with_the_currency_code() -> None:
    assert format_money(Decimal("1234.5"), "EUR", "es") == "1.234,50 EUR"
    assert format_money(Decimal("1234.5"), "USD", "en") == "1,234.50 USD"
    assert format_money(Decimal("-0.10"), "EUR", "en") == "-0.10 EUR"


def test_both_languages_have_every_string_and_translation_falls_back() -> None:
    assert set(EN) == set(ES)
    assert all(ES[key] for key in ES)
    assert translate("retry", "es") == "Reintentar"
    assert translate("retry", "de") == "Retry"
    assert translate("showing", "es", count=3) == "Se muestran 3 pedidos, primero los que requieren atención."
    assert translate("no_such_key", "es") == "no_such_key"


@pytest.mark.parametrize(
    ("requested", "header", "fallback", "expected"),
    [
        ("es", "en", "en", "es"),
        ("EN", "es", "es", "en"),
        ("fr", "de-DE,de;q=0.9,es;q=0.4,en;q=0.3", "en", "es"),
        (None, "pt-BR", "es", "es"),
        (None, "", "en", "en"),
        (None, "*", "es", "en"),
    ],
)
def test_choose_language(requested: str | None, header: str, fallback: str, expected: str) -> None:
    assert choose_language(requested, header, fallback) == expected


def test_dashboard_function_answers_html_that_no_cache_or_referer_keeps(services: Services) -> None:
    import function_app

    # get_functions() refuses a second call (name validation); the registry caches the first.
    function = registered_functions(function_app.app)["dashboard"]
    override_services(services)
    try:
        request = func.HttpRequest(
            "GET",
            "http://127.0.0.1:7071/api/dashboard",
            headers={"accept-language": "es-ES,es;q=0.9"},
            params={"state": "held"},
            body=b"",
        )
        response: Any = function.get_user_function()(request)
    finally:
        override_services(None)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    body = response.get_body().decode()
    assert '<html lang="es">' in body and len(order_states(body)) == 2
