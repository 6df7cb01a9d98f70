"""The dashboard's view model built from real handler state (SQLite, in-memory bus, recording target):
both languages, held orders first with their reasons, filters, store panels, queues, the order detail;
then what the templates and the function add: escaping, the CSP nonce, the static files."""

from __future__ import annotations

import json
from dataclasses import asdict
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from local.registry import registered_functions
from shared.bootstrap import Services, override_services
from shared.dashboard.formats import format_money, translate
from shared.dashboard.page import render_dashboard
from shared.dashboard.view import Detail, Overview, Page, dashboard_view
from shared.handlers.intake import receive_webhook
from shared.handlers.operations import mark_failed
from shared.texts import CATALOGS, choose_language
from tests.support import FakeTarget, fixture_bytes, http_status, make_services, store_settings, webhook_headers

WOO_ORDER = "5123"  # tests/fixtures/woocommerce/order_created.json
SHOPIFY_ORDER = "9007199254740993"  # tests/fixtures/shopify/orders_create.json, id above 2^53
HOSTILE_ORDER = "6001"
HOSTILE_NAME = "<script>alert('mug')</script>"
HOSTILE_SKU = '"><img src=x onerror=alert(1)>'


class Elements(HTMLParser):
    """Every start tag with its attributes and the text of the page: what the browser would build."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

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


def overview(services: Services, params: dict[str, str], accept_language: str = "") -> Overview:
    view = dashboard_view(services, params, accept_language).overview
    assert view is not None
    return view


def detail(services: Services, params: dict[str, str]) -> Detail:
    view = dashboard_view(services, params, "").detail
    assert view is not None
    return view


def rows(view: Overview) -> list[tuple[str, str]]:
    return [(row.order_id, row.state.value) for row in view.orders]


def test_spanish_page_lists_held_orders_first_with_their_spanish_reasons(services: Services) -> None:
    page = dashboard_view(services, {"lang": "es"}, "en-GB,en;q=0.9")
    view = page.overview
    assert page.lang == "es" and view is not None

    assert view.waiting == 2
    assert rows(view)[-1] == (WOO_ORDER, "invoiced")
    assert {state for _, state in rows(view)[:2]} == {"held"}
    held = next(row for row in view.orders if row.order_id == SHOPIFY_ORDER)
    assert held.state.label == "Retenido" and held.retryable
    [problem] = held.problems
    assert problem.message == "El pedido está en EUR, pero esta tienda solo factura en USD."
    assert problem.facts == (("field", "currency"), ("expected", "USD"), ("found", "EUR"))
    invoiced = view.orders[-1]
    assert invoiced.state.label == "Facturado" and not invoiced.retryable and invoiced.problems == ()
    assert [(d.kind, d.number) for d in invoiced.documents] == [("invoice", "INV-000001")]
    assert invoiced.total == "53,97 EUR"  # Spanish decimal comma, ISO code
    assert invoiced.created is not None and invoiced.created.text == "2024-03-15 09:30 UTC"
    assert invoiced.number == "#5123" and held.number == "#1001"  # one "#" whatever the channel sends


def test_language_comes_from_the_parameter_then_the_browser_then_the_store(services: Services) -> None:
    assert dashboard_view(services, {}, "en-US,en;q=0.9,es;q=0.5").lang == "en"
    assert dashboard_view(services, {}, "es-MX,es;q=0.9").lang == "es"
    assert dashboard_view(services, {"store": "demo-woo"}, "").lang == "es"
    assert dashboard_view(services, {}, "").lang == "en"
    assert dashboard_view(services, {"lang": "en"}, "es-ES").lang == "en"
    english = overview(services, {"lang": "en"})
    held = next(row for row in english.orders if row.order_id == SHOPIFY_ORDER)
    assert held.problems[0].message == "The order is in EUR, but this store invoices only in USD."
    # The switch offers the other language and keeps the filters.
    page = dashboard_view(services, {"store": "demo-woo"}, "")
    assert (page.other_lang, page.switch_href) == ("en", "?lang=en&store=demo-woo")


def test_state_filter_shows_only_that_state_and_counts_every_state(services: Services) -> None:
    view = overview(services, {"lang": "en", "state": "invoiced"})

    assert rows(view) == [(WOO_ORDER, "invoiced")]
    counts = {count.state: count for count in view.counts}
    every_state = ["", "received", "validated", "invoiced", "stock_synced", "paid", "held", "credited"]
    assert list(counts) == [*every_state, "cancelled", "failed"]
    assert [state for state, count in counts.items() if count.active] == ["invoiced"]
    assert counts["held"].href == "?lang=en&state=held" and counts["held"].label == "Held"
    assert (counts["held"].number, counts["paid"].number, counts[""].number) == (2, 0, 3)
    assert view.hidden == (("lang", "en"), ("state", "invoiced"))  # the store filter form keeps them
    assert overview(services, {"lang": "en"}).counts[0].active  # "every state" when none is chosen


def test_store_filter_limits_orders_counts_and_store_panels(services: Services) -> None:
    view = overview(services, {"lang": "en", "store": "demo-shopify"})

    assert rows(view) == [(SHOPIFY_ORDER, "held")]
    assert {c.state: c.number for c in view.counts}["held"] == 1
    assert [panel.store_id for panel in view.panels] == ["demo-shopify"]
    assert [(o.store_id, o.name, o.selected) for o in view.stores] == [
        ("demo-shopify", "Té y Tetera", True),
        ("demo-woo", "Cerámica Azul", False),
    ]


def test_unknown_filters_are_ignored_rather_than_failing(services: Services) -> None:
    page = dashboard_view(services, {"state": "lost", "limit": "many", "lang": "fr"}, "")

    assert page.lang == "en" and page.overview is not None and len(page.overview.orders) == 3
    unknown = overview(services, {"store": "nowhere"})
    assert unknown.unknown_store == "nowhere" and unknown.orders == ()
    assert rows(overview(services, {"limit": "1"})) == [(SHOPIFY_ORDER, "held")]


def test_failed_order_without_a_snapshot_is_listed_with_its_reason_and_a_retry(services: Services) -> None:
    mark_failed(services, "demo-woo", "7001", "invoicing", "Tryton answered 503 Service Unavailable")
    view = overview(services, {"lang": "es", "state": "failed"})

    [row] = view.orders
    assert (row.order_id, row.state.label, row.retryable, row.number) == ("7001", "Fallido", True, "#7001")
    assert row.problems[0].message.startswith("El procesamiento se detuvo en la etapa invoicing tras errores repetidos")
    assert row.href == "?lang=es&store=demo-woo&order=7001"
    english = detail(services, {"lang": "en", "store": "demo-woo", "order": "7001"})
    assert english.order is not None
    assert english.order.problems[0].facts == (
        ("field", "invoicing"),
        ("found", "Tryton answered 503 Service Unavailable"),
    )
    details = [entry.detail for entry in english.timeline]
    assert "Failed after repeated errors: Tryton answered 503 Service Unavailable" in " ".join(details)


def test_store_panel_lists_unmapped_skus_with_the_orders_waiting(services: Services) -> None:
    [panel] = overview(services, {"lang": "es", "store": "demo-woo"}).panels

    assert [(item.sku, item.orders) for item in panel.unmapped] == [
        (HOSTILE_SKU, ((f"#{HOSTILE_ORDER}", f"?lang=es&store=demo-woo&order={HOSTILE_ORDER}"),))
    ]
    assert (panel.name, panel.channel, panel.currency, panel.writes_paused) == (
        "Cerámica Azul",
        "woocommerce",
        "EUR",
        False,
    )
    assert panel.sku_map_path == "stores/demo-woo/sku-map"


def test_order_detail_shows_timeline_documents_and_lines(services: Services) -> None:
    view = detail(services, {"lang": "en", "store": "demo-woo", "order": WOO_ORDER})

    assert view.order is not None and view.order.number == "#5123"
    assert [d.number for d in view.order.documents] == ["INV-000001"]
    assert "BLUE-MUG-350ML" in [line.sku for line in view.lines]
    steps = [(entry.action, entry.state.label if entry.state else entry.label) for entry in view.timeline]
    assert steps == [("order.received", "Order received"), ("validated", "Validated"), ("invoiced", "Invoiced")]
    first = view.timeline[0].at
    assert first is not None and first.iso.endswith("+00:00") and first.text.endswith(" UTC")
    assert dict(view.facts)["order_id"] == WOO_ORDER
    assert view.back_href == "?lang=en&store=demo-woo"
    assert detail(services, {"lang": "es", "store": "demo-woo", "order": "999"}).order is None


def test_no_email_or_street_address_reaches_the_page(services: Services) -> None:
    billing = json.loads(fixture_bytes("woocommerce", "order_created"))["billing"]
    views: list[Page] = [
        dashboard_view(services, {"lang": "en"}, ""),
        dashboard_view(services, {"lang": "en", "store": "demo-woo", "order": WOO_ORDER}, ""),
    ]
    for view in views:
        for text in (json.dumps(asdict(view), default=str), render_dashboard(services, {"lang": "en"}, "")):
            for value in (billing["email"], billing["address_1"], billing["postcode"], billing["phone"]):
                assert value not in text
            assert "facturas@" not in text and "Calle Mayor" not in text  # the seller's, from store settings


def test_function_key_is_kept_in_links_and_given_to_the_script(services: Services) -> None:
    page = dashboard_view(services, {"lang": "en", "code": "k3y/Abc=="}, "")
    view = page.overview
    assert view is not None

    links = [page.switch_href, page.home_href, *(c.href for c in view.counts), *(r.href for r in view.orders)]
    assert all("code=k3y%2FAbc%3D%3D" in link for link in links)
    assert page.script["code"] == "k3y/Abc=="
    assert ("code", "k3y/Abc==") in view.hidden
    assert view.panels[0].sku_map_href == f"{view.panels[0].sku_map_path}?code=k3y%2FAbc%3D%3D"


def test_ubl_documents_link_to_the_documents_route(services: Services) -> None:
    view = detail(services, {"lang": "en", "store": "demo-woo", "order": WOO_ORDER, "code": "k3y"})
    assert view.order is not None
    [document] = view.order.documents

    # FakeTarget is not the UBL outbox: no link, its external id shown as written.
    assert document.href == ""
    page = dashboard_view(services, {"lang": "en"}, "")
    assert page.script["retryable"] == ["failed", "held"]


def test_queue_depths_are_shown_when_the_bus_reports_them(services: Services) -> None:
    class Stats:
        active, scheduled, locked, dead_lettered, oldest_enqueued_age_seconds = 3, 0, 1, 2, 41.6

    services.bus.stats = lambda queue: Stats()  # type: ignore[attr-defined]
    queues = overview(services, {"lang": "es"}).queues

    assert queues is not None and queues.state_problem == ""
    row = next(row for row in queues.rows if row.name == "order-events")
    assert (row.active, row.scheduled, row.locked, row.dead_lettered, row.oldest_seconds) == (3, 0, 1, 2, 42)
    services.bus.stats = None  # type: ignore[attr-defined]
    assert overview(services, {"lang": "es"}).queues is None


def test_hostile_store_data_is_shown_as_text_and_never_becomes_markup(services: Services) -> None:
    for params in ({"lang": "en"}, {"lang": "en", "store": "demo-woo", "order": HOSTILE_ORDER}):
        page = Elements(render_dashboard(services, params, ""))

        assert len(page.named("script")) == 2  # the page's own JSON data and script file, nothing from the store
        assert page.named("img") == []
        assert not [attrs for _, attrs in page.tags if any(name.startswith("on") for name in attrs)]
        text = "".join(page.text)
        assert HOSTILE_SKU in text
    assert HOSTILE_NAME in text  # the line's product name, in the detail view, as text


def test_hostile_store_name_and_function_key_are_escaped(tmp_path: Path) -> None:
    services = make_services(tmp_path, woo=store_settings("demo-woo", "woocommerce", name="</script><b>Shop</b>"))
    page = Elements(render_dashboard(services, {"code": '"></script><script>alert(1)</script>'}, ""))

    assert len(page.named("script")) == 2 and page.named("b") == []
    assert "</script><b>Shop</b>" in "".join(page.text)
    data = next(t for t in page.text if t.startswith("{"))
    assert json.loads(data)["code"] == '"></script><script>alert(1)</script>'


def test_money_is_formatted_per_language_with_the_currency_code() -> None:
    assert format_money(Decimal("1234.5"), "EUR", "es") == "1.234,50 EUR"
    assert format_money(Decimal("1234.5"), "USD", "en") == "1,234.50 USD"
    assert format_money(Decimal("-0.10"), "EUR", "en") == "-0.10 EUR"


def test_both_languages_have_every_string_and_translation_falls_back() -> None:
    ui = {lang: {k for k in catalog if k.startswith("ui.")} for lang, catalog in CATALOGS.items()}
    assert ui["en"] == ui["es"] and all(CATALOGS["es"][key] for key in ui["es"])
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


def call(services: Services, name: str, url: str, **kwargs: Any) -> Any:
    import function_app

    # get_functions() refuses a second call (name validation); the registry caches the first.
    function = registered_functions(function_app.app)[name]
    override_services(services)
    try:
        return function.get_user_function()(func.HttpRequest("GET", url, body=b"", **kwargs))
    finally:
        override_services(None)


def test_dashboard_function_answers_html_that_no_cache_or_referer_keeps(services: Services) -> None:
    response = call(
        services,
        "dashboard",
        "http://127.0.0.1:7071/api/dashboard/",
        headers={"accept-language": "es-ES,es;q=0.9"},
        params={"state": "held"},
    )

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    page = Elements(response.get_body().decode())
    assert page.named("html")[0]["lang"] == "es"
    assert len([t for t in page.named("tbody") if t.get("class") == "order"]) == 2
    # One nonce per response, in the header and on the page's own script and style files only.
    policy = response.headers["Content-Security-Policy"]
    [script] = [s for s in page.named("script") if s.get("src")]
    [style] = [link for link in page.named("link") if link.get("rel") == "stylesheet"]
    assert f"script-src 'nonce-{script['nonce']}'" in policy and f"style-src 'nonce-{style['nonce']}'" in policy
    assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    # Absolute from the request's own path, so a trailing slash does not shift it.
    assert (script["src"], style["href"]) == (
        "/api/dashboard/static/dashboard.js",
        "/api/dashboard/static/dashboard.css",
    )
    again = call(services, "dashboard", "http://127.0.0.1:7071/api/dashboard")
    assert again.headers["Content-Security-Policy"] != policy


@pytest.mark.parametrize(
    ("name", "content_type", "sample"),
    [
        ("dashboard.js", "text/javascript; charset=utf-8", b"textContent"),
        ("dashboard.css", "text/css; charset=utf-8", b"[hidden]"),
    ],
)
def test_static_files_are_served_with_their_types(services: Services, name: str, content_type: str, sample: bytes):
    response = call(
        services, "dashboard_static", f"http://127.0.0.1:7071/api/dashboard/static/{name}", route_params={"name": name}
    )

    assert response.status_code == 200 and response.headers["Content-Type"] == content_type
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert sample in response.get_body()


@pytest.mark.parametrize("name", ["view.py", "..%2Fview.py", "../page.py", "", "DASHBOARD.JS"])
def test_only_the_pages_own_files_are_served(services: Services, name: str) -> None:
    response = call(
        services, "dashboard_static", "http://127.0.0.1:7071/api/dashboard/static/x", route_params={"name": name}
    )

    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
