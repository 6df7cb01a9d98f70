"""One refused store file takes nothing else down: the registered functions (official azure.functions
objects, real SQLite state, in-memory bus drained through the real dispatch) answer 503 problem+json for
every route of the refused store, health names file, key and reason, and the good store keeps invoicing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from local.registry import registered_functions
from shared.bootstrap import Services, override_services
from shared.dashboard.page import render_dashboard
from shared.dashboard.view import dashboard_view
from shared.domain.order import OrderState
from shared.handlers.intake import receive_webhook
from shared.handlers.operations import retry_order
from shared.store_files import load_store_folder
from shared.stores import StoreNotLoaded
from tests.support import FakeTarget, fixture_bytes, make_services, webhook_headers, write_store_file

WOO_ORDER = "5123"  # tests/fixtures/woocommerce/order_created.json
SHOPIFY_ORDER = "9007199254740993"  # tests/fixtures/shopify/orders_create.json


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    """demo-woo is fine; demo-shopify's secret is too short, so its file is refused at load."""
    stores = tmp_path / "stores"
    stores.mkdir()
    write_store_file(stores, "demo-woo", "woocommerce")
    write_store_file(stores, "demo-shopify", "shopify", webhook_secret="shpss_short")
    loaded = load_store_folder(stores)
    services = make_services(tmp_path, FakeTarget(), **loaded.stores)
    services.broken = loaded.broken
    override_services(services)
    yield services
    override_services(None)


def call(
    name: str, method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None, **route: str
) -> Any:
    import function_app

    function = registered_functions(function_app.app)[name]
    request = func.HttpRequest(method, url, headers=headers or {}, route_params=route, body=body)
    return function.get_user_function()(request)


def webhook(channel: str, store_id: str, topic: str, fixture: str) -> Any:
    body = fixture_bytes(channel, fixture)
    url = f"http://127.0.0.1:7071/api/webhooks/{channel}/{store_id}"
    headers = webhook_headers(channel, topic, body, secret="shpss_short" if channel == "shopify" else None)
    return call("webhook", "POST", url, body, channel=channel, store_id=store_id, headers=headers)


def test_health_answers_503_naming_file_key_and_reason(services: Services) -> None:
    response = call("health", "GET", "http://127.0.0.1:7071/api/health")

    assert response.status_code == 503
    report = json.loads(response.get_body())
    assert report["checks"]["stores"] == ["demo-woo"]
    [refused] = report["checks"]["store_files"]
    assert refused["store_id"] == "demo-shopify" and refused["file"] == "demo-shopify.yaml"
    assert refused["key"] == "webhook_secret" and "shorter than 16 characters" in refused["reason"]
    assert "shpss_short" not in response.get_body().decode()


def test_the_refused_stores_webhook_answers_503_problem_and_changes_nothing(services: Services) -> None:
    response = webhook("shopify", "demo-shopify", "orders/create", "orders_create")

    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = json.loads(response.get_body())
    assert problem["status"] == 503 and "demo-shopify.yaml: webhook_secret: is shorter than 16" in problem["detail"]
    assert services.state.get_order("demo-shopify", SHOPIFY_ORDER) is None
    assert services.state.list_orders("demo-shopify", None, 10) == [] and services.bus.messages == []


def test_the_good_store_keeps_invoicing_next_to_a_refused_one(services: Services) -> None:
    response = webhook("woocommerce", "demo-woo", "order.created", "order_created")

    assert response.status_code == 202
    services.bus.drain(services)
    record = services.state.get_order("demo-woo", WOO_ORDER)
    assert record is not None and record.state == OrderState.INVOICED


@pytest.mark.parametrize(
    ("name", "method", "path", "route"),
    [
        ("get_order", "GET", "orders/demo-shopify/1", {"order_id": "1"}),
        ("retry_order", "POST", "orders/demo-shopify/1/retry", {"order_id": "1"}),
        ("sku_map", "GET", "stores/demo-shopify/sku-map", {}),
        ("sku_map", "PUT", "stores/demo-shopify/sku-map", {}),
        ("unmapped_skus", "GET", "stores/demo-shopify/unmapped-skus", {}),
        ("simulate", "POST", "simulate/demo-shopify", {}),
        ("reconciliation", "GET", "stores/demo-shopify/reconciliation?from=2026-11-20&to=2026-11-20", {}),
        ("backfill", "POST", "stores/demo-shopify/backfill?from=2026-11-20&to=2026-11-20", {}),
    ],
)
def test_every_route_naming_the_refused_store_answers_503_with_the_reason(
    services: Services, name: str, method: str, path: str, route: dict[str, str]
) -> None:
    body = b"sku,item_code\nTEE-ORG-M,TEE-ORGANIC-M\n" if method == "PUT" else b"{}"
    response = call(name, method, f"http://127.0.0.1:7071/api/{path}", body, store_id="demo-shopify", **route)

    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "demo-shopify.yaml: webhook_secret" in json.loads(response.get_body())["detail"]
    assert services.state.get_sku_map("demo-shopify") == {}


def test_an_unknown_store_is_still_404_and_the_good_stores_routes_answer(services: Services) -> None:
    unknown = call("sku_map", "GET", "http://127.0.0.1:7071/api/stores/nowhere/sku-map", store_id="nowhere")
    good = call("sku_map", "GET", "http://127.0.0.1:7071/api/stores/demo-woo/sku-map", store_id="demo-woo")

    assert unknown.status_code == 404 and good.status_code == 200


def test_intake_refuses_the_refused_store_as_not_loaded(services: Services) -> None:
    body = fixture_bytes("shopify", "orders_create")
    headers = webhook_headers("shopify", "orders/create", body, secret="shpss_short")

    with pytest.raises(StoreNotLoaded) as refused:
        receive_webhook(services, "shopify", "demo-shopify", body, headers)

    assert refused.value.status == 503 and refused.value.problems[0].key == "webhook_secret"


@pytest.mark.parametrize(
    ("lang", "heading"), [("en", "Store settings not loaded"), ("es", "Configuración de tienda no cargada")]
)
def test_the_dashboard_shows_the_refused_file_in_both_languages(services: Services, lang: str, heading: str) -> None:
    page = dashboard_view(services, {"lang": lang}, "")

    [refused] = page.refused
    assert (refused.store_id, refused.file, refused.key) == ("demo-shopify", "demo-shopify.yaml", "webhook_secret")
    assert "shorter than 16 characters" in refused.reason  # the loader's words, English, never the secret
    assert "shpss_short" not in refused.reason
    banner = page_text(render_dashboard(services, {"lang": lang}, ""), "store-files")
    assert heading in banner and "demo-shopify.yaml" in banner and "shorter than 16 characters" in banner
    assert ("Shopify los reenvía" if lang == "es" else "Shopify sends them again") in banner


def test_the_dashboard_has_no_banner_when_every_store_loaded(tmp_path: Path) -> None:
    services = make_services(tmp_path)

    assert dashboard_view(services, {"lang": "en"}, "").refused == ()
    assert page_text(render_dashboard(services, {"lang": "en"}, ""), "store-files") == ""


VOID = {"br", "img", "input", "meta", "link", "hr"}  # elements with no end tag


def page_text(html: str, section_class: str) -> str:
    """The text a browser shows inside the <section> whose classes include section_class ("" if none)."""

    class Section(HTMLParser):
        depth = 0
        text = ""

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            classes = (dict(attrs).get("class") or "").split()
            if self.depth or (tag == "section" and section_class in classes):
                self.depth += 1 if tag not in VOID else 0

        def handle_endtag(self, tag: str) -> None:
            if self.depth and tag not in VOID:
                self.depth -= 1

        def handle_data(self, data: str) -> None:
            if self.depth:
                self.text += data

    parser = Section()
    parser.feed(html)
    return parser.text


def test_an_order_already_queued_when_its_store_file_is_refused_waits_and_is_not_lost(tmp_path: Path) -> None:
    services = make_services(tmp_path, FakeTarget())
    body = fixture_bytes("shopify", "orders_create")
    receive_webhook(services, "shopify", "demo-shopify", body, webhook_headers("shopify", "orders/create", body))
    good = services.stores.pop("demo-shopify")  # restarted with a refused file while the event was queued
    stores = tmp_path / "stores"
    stores.mkdir()
    write_store_file(stores, "demo-shopify", "shopify", webhook_secret="shpss_short")
    services.broken = load_store_folder(stores).broken

    services.bus.drain(services)

    record = services.state.get_order("demo-shopify", SHOPIFY_ORDER)
    assert record is not None and record.state == OrderState.FAILED  # dead-lettered after retries, replayable
    assert "demo-shopify.yaml: webhook_secret" in record.problems[0].found
    services.stores["demo-shopify"], services.broken = good, {}  # the file is fixed and the host restarted
    [letter] = services.bus.dead_letters  # resubmitted, as `python -m local.cli resubmit` does
    services.bus.dead_letters.clear()
    letter.delivery_count = 0
    services.bus.messages.append(letter)
    services.bus.drain(services)
    retry_order(services, "demo-shopify", SHOPIFY_ORDER)  # the dashboard's Retry on the failed order
    services.bus.drain(services)
    record = services.state.get_order("demo-shopify", SHOPIFY_ORDER)
    assert record is not None and record.state == OrderState.INVOICED
