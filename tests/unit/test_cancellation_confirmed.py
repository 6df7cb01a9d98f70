"""A deletion or cancellation notice is confirmed with the store API, when one is configured, before anything is
credited. The store is a local HTTP server (pytest-httpserver on 127.0.0.1) answering in the documented shapes:
WooCommerce REST v3 GET /wp-json/wc/v3/orders/<id> (HTTP Basic; 404 woocommerce_rest_shop_order_invalid_id once
deleted, status "trash" once trashed) and Shopify Admin GET /admin/api/<version>/orders/<id>.json
(X-Shopify-Access-Token; {"order": {...}} with cancelled_at once cancelled). The rest is the real pipeline.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from shared.bootstrap import Services
from shared.domain.order import OrderState
from shared.handlers.intake import receive_webhook
from tests.support import fixture_bytes, fixture_json, http_status, make_services, store_settings, webhook_headers

WOO_ORDER = "5123"
SHOP_ORDER = "9007199254740993"
WOO_PATH = f"/wp-json/wc/v3/orders/{WOO_ORDER}"
SHOP_PATH = f"/admin/api/2025-07/orders/{SHOP_ORDER}.json"
WOO_AUTH = {"Authorization": "Basic " + base64.b64encode(b"ck_test_key:cs_test_secret").decode()}
SHOP_AUTH = {"X-Shopify-Access-Token": "shpat_test_token"}
# WooCommerce's answer for an id that names no order (WC_REST_CRUD_Controller::get_item), as the REST API sends it.
INVALID_ID = fixture_json("woocommerce", "get_order_invalid_id")


@pytest.fixture(scope="module")
def api_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def store_api(api_server: HTTPServer) -> Iterator[HTTPServer]:
    """The store for one test: its answers and request log start empty."""
    api_server.clear()
    yield api_server
    api_server.clear()


def services_for(tmp_path: Path, base_url: str) -> Services:
    api_woo = {"base_url": base_url, "consumer_key": "ck_test_key", "consumer_secret": "cs_test_secret"}
    api_shop = {"base_url": base_url, "access_token": "shpat_test_token"}
    return make_services(
        tmp_path,
        None,
        woo=store_settings("demo-woo", "woocommerce", api=api_woo),
        shop=store_settings("demo-shopify", "shopify", api=api_shop),
    )


def deliver(services: Services, channel: str, topic: str, body: bytes, max_delivery: int = 10) -> None:
    store_id = "demo-woo" if channel == "woocommerce" else "demo-shopify"
    result = receive_webhook(services, channel, store_id, body, webhook_headers(channel, topic, body))
    assert http_status(result) == 202
    services.bus.drain(services, max_delivery=max_delivery)  # type: ignore[attr-defined]


def invoiced_woo_order(services: Services) -> None:
    deliver(services, "woocommerce", "order.created", fixture_bytes("woocommerce", "order_created"))
    assert kinds(services, "demo-woo", WOO_ORDER) == ["invoice"]


def kinds(services: Services, store_id: str, order_id: str) -> list[str]:
    record = services.state.get_order(store_id, order_id)
    assert record is not None
    return [d.kind for d in record.documents]


def timeline(services: Services, store_id: str, order_id: str) -> list[Any]:
    return list(services.state.get_timeline(store_id, order_id))


def woo_order_in_store(status: str) -> dict[str, Any]:
    order = fixture_json("woocommerce", "order_created")
    order["status"] = status
    return order


def delete_woo_order(services: Services, max_delivery: int = 10) -> None:
    deliver(services, "woocommerce", "order.deleted", fixture_bytes("woocommerce", "order_deleted"), max_delivery)


@pytest.mark.parametrize(
    "answer",
    [
        Response(json.dumps(INVALID_ID), status=404, content_type="application/json"),
        Response(json.dumps(woo_order_in_store("trash")), status=200, content_type="application/json"),
        Response(json.dumps(woo_order_in_store("cancelled")), status=200, content_type="application/json"),
    ],
    ids=["deleted-404", "trash", "cancelled"],
)
def test_woocommerce_deletion_the_store_confirms_credits_the_invoice(
    tmp_path: Path, store_api: HTTPServer, answer: Response
) -> None:
    services = services_for(tmp_path, store_api.url_for("/"))
    invoiced_woo_order(services)
    store_api.expect_request(WOO_PATH, method="GET", headers=WOO_AUTH).respond_with_response(answer)
    delete_woo_order(services)
    assert kinds(services, "demo-woo", WOO_ORDER) == ["invoice", "credit_note"]
    assert len(store_api.log) == 1


def test_woocommerce_deletion_of_an_order_the_store_still_sells_is_ignored_with_a_bilingual_note(
    tmp_path: Path, store_api: HTTPServer
) -> None:
    services = services_for(tmp_path, store_api.url_for("/"))
    invoiced_woo_order(services)
    store_api.expect_request(WOO_PATH, method="GET", headers=WOO_AUTH).respond_with_json(
        woo_order_in_store("processing")
    )
    delete_woo_order(services)
    record = services.state.get_order("demo-woo", WOO_ORDER)
    assert record is not None and record.state == OrderState.INVOICED
    assert record.order is not None and not record.order.cancelled
    assert kinds(services, "demo-woo", WOO_ORDER) == ["invoice"]
    note = timeline(services, "demo-woo", WOO_ORDER)[-1]
    assert note.action == "cancel.ignored"
    assert "5123" in note.describe("en") and "order.deleted" in note.describe("en")
    assert "5123" in note.describe("es") and "eliminado ni cancelado" in note.describe("es")


def test_store_api_fault_is_retried_and_the_confirmed_deletion_then_credits(
    tmp_path: Path, store_api: HTTPServer
) -> None:
    services = services_for(tmp_path, store_api.url_for("/"))
    invoiced_woo_order(services)
    store_api.expect_oneshot_request(WOO_PATH, method="GET").respond_with_data("busy", status=503)
    store_api.expect_request(WOO_PATH, method="GET", headers=WOO_AUTH).respond_with_json(INVALID_ID, status=404)
    delete_woo_order(services)
    assert [entry[1].status_code for entry in store_api.log] == [503, 404]
    assert kinds(services, "demo-woo", WOO_ORDER) == ["invoice", "credit_note"]
    assert services.bus.dead_letters == []  # type: ignore[attr-defined]


def test_unreachable_store_api_credits_nothing_and_leaves_the_notice_to_the_bus(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    services = services_for(tmp_path, f"http://127.0.0.1:{closed_port}/")
    invoiced_woo_order(services)
    delete_woo_order(services, max_delivery=3)
    record = services.state.get_order("demo-woo", WOO_ORDER)
    assert record is not None and record.state == OrderState.INVOICED
    assert kinds(services, "demo-woo", WOO_ORDER) == ["invoice"]
    dead = services.bus.dead_letters  # type: ignore[attr-defined]
    assert len(dead) == 1 and dead[0].delivery_count == 3 and dead[0].queue == "order-events"


@pytest.mark.parametrize(
    "answer",
    [
        Response('{"code": "woocommerce_rest_cannot_view"}', status=401, content_type="application/json"),
        Response("<html><h1>Not Found</h1></html>", status=404, content_type="text/html"),
    ],
    ids=["unauthorised", "wrong-base-url"],
)
def test_store_api_refusal_holds_the_order_with_a_bilingual_reason_and_credits_nothing(
    tmp_path: Path, store_api: HTTPServer, answer: Response
) -> None:
    services = services_for(tmp_path, store_api.url_for("/"))
    invoiced_woo_order(services)
    store_api.expect_request(WOO_PATH, method="GET").respond_with_response(answer)
    delete_woo_order(services)
    record = services.state.get_order("demo-woo", WOO_ORDER)
    assert record is not None and record.state == OrderState.HELD
    assert kinds(services, "demo-woo", WOO_ORDER) == ["invoice"]
    [problem] = record.problems
    assert problem.code == "cancellation_unconfirmed"
    english, spanish = problem.message("en"), problem.message("es")
    assert f"HTTP {answer.status_code}" in english and f"HTTP {answer.status_code}" in spanish
    assert "order.deleted" in problem.message("en") and "order.deleted" in problem.message("es")
    assert problem.message("es") != problem.message("en")


def shopify_cancelled_in_store(cancelled_at: str | None) -> dict[str, Any]:
    order = fixture_json("shopify", "orders_cancelled")
    order["cancelled_at"] = cancelled_at
    return {"order": order}


def test_shopify_cancellation_the_store_confirms_credits_the_invoice(tmp_path: Path, store_api: HTTPServer) -> None:
    services = services_for(tmp_path, store_api.url_for("/"))
    deliver(services, "shopify", "orders/create", fixture_bytes("shopify", "orders_create"))
    store_api.expect_request(SHOP_PATH, method="GET", headers=SHOP_AUTH).respond_with_json(
        shopify_cancelled_in_store("2024-03-15T18:05:00+01:00")
    )
    deliver(services, "shopify", "orders/cancelled", fixture_bytes("shopify", "orders_cancelled"))
    assert kinds(services, "demo-shopify", SHOP_ORDER) == ["invoice", "credit_note"]
    assert len(store_api.log) == 1


def test_shopify_cancellation_the_store_does_not_show_is_ignored(tmp_path: Path, store_api: HTTPServer) -> None:
    services = services_for(tmp_path, store_api.url_for("/"))
    deliver(services, "shopify", "orders/create", fixture_bytes("shopify", "orders_create"))
    store_api.expect_request(SHOP_PATH, method="GET", headers=SHOP_AUTH).respond_with_json(
        shopify_cancelled_in_store(None)
    )
    deliver(services, "shopify", "orders/cancelled", fixture_bytes("shopify", "orders_cancelled"))
    record = services.state.get_order("demo-shopify", SHOP_ORDER)
    assert record is not None and record.state == OrderState.INVOICED
    assert record.order is not None and not record.order.cancelled
    assert kinds(services, "demo-shopify", SHOP_ORDER) == ["invoice"]
    assert timeline(services, "demo-shopify", SHOP_ORDER)[-1].action == "cancel.ignored"


def test_notice_for_an_order_already_cancelled_asks_the_store_nothing(tmp_path: Path, store_api: HTTPServer) -> None:
    services = services_for(tmp_path, store_api.url_for("/"))
    invoiced_woo_order(services)
    store_api.expect_request(WOO_PATH, method="GET").respond_with_json(INVALID_ID, status=404)
    delete_woo_order(services)
    services.clock = lambda: datetime(2026, 11, 28, 11, 0, tzinfo=UTC)  # the same notice resent an hour later
    delete_woo_order(services)
    assert len(store_api.log) == 1
    assert kinds(services, "demo-woo", WOO_ORDER) == ["invoice", "credit_note"]


def test_stale_cancellation_snapshot_is_ignored_without_asking_the_store(tmp_path: Path, store_api: HTTPServer) -> None:
    services = services_for(tmp_path, store_api.url_for("/"))
    newer = fixture_json("shopify", "orders_create")
    newer["updated_at"] = "2024-03-16T09:00:00+01:00"  # after the cancellation snapshot below (2024-03-15 18:05)
    deliver(services, "shopify", "orders/create", json.dumps(newer).encode())
    deliver(services, "shopify", "orders/cancelled", fixture_bytes("shopify", "orders_cancelled"))
    assert store_api.log == []
    assert kinds(services, "demo-shopify", SHOP_ORDER) == ["invoice"]
    assert timeline(services, "demo-shopify", SHOP_ORDER)[-1].action == "event.stale"


@pytest.mark.parametrize(
    ("in_store", "documents"), [("cancelled", ["invoice", "credit_note"]), ("processing", ["invoice"])]
)
def test_cancelled_snapshot_under_order_updated_is_confirmed_too(
    tmp_path: Path, store_api: HTTPServer, in_store: str, documents: list[str]
) -> None:
    services = services_for(tmp_path, store_api.url_for("/"))
    invoiced_woo_order(services)
    store_api.expect_request(WOO_PATH, method="GET", headers=WOO_AUTH).respond_with_json(woo_order_in_store(in_store))
    cancelled = woo_order_in_store("cancelled")
    cancelled["date_modified_gmt"] = "2024-03-15T12:00:00"
    deliver(services, "woocommerce", "order.updated", json.dumps(cancelled).encode())
    assert len(store_api.log) == 1
    assert kinds(services, "demo-woo", WOO_ORDER) == documents
