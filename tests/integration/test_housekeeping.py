"""Catch-up poll and stuck-order sweep.

No store can run here, so the store APIs are loopback HTTP servers answering in the documented shapes
(WooCommerce REST v3 paging with X-WP-TotalPages; Shopify cursor paging with a Link header); the
requests they receive are asserted.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from shared.domain.order import OrderState
from shared.handlers.housekeeping import catch_up, sweep_stuck_orders
from shared.handlers.intake import receive_webhook
from tests.support import fixture_json, http_status, make_services, store_settings, webhook_headers


@pytest.fixture
def store_api() -> Iterator[tuple[str, list[str]]]:
    """WooCommerce: two pages of one order each. Shopify: two pages linked by page_info."""
    seen: list[str] = []
    woo_pages = []
    for order_id in (7001, 7002):
        order = fixture_json("woocommerce", "order_created")
        order["id"], order["number"] = order_id, str(order_id)
        woo_pages.append([order])
    shop = fixture_json("shopify", "orders_create")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            url = urlparse(self.path)
            query = parse_qs(url.query)
            headers: dict[str, str] = {}
            if url.path == "/wp-json/wc/v3/orders":
                body = woo_pages[int(query["page"][0]) - 1]
                headers["X-WP-TotalPages"] = str(len(woo_pages))
            elif url.path.endswith("/orders.json") and "page_info" not in query:
                body = {"orders": [shop]}
                next_url = f"http://127.0.0.1:{self.server.server_address[1]}{url.path}?page_info=abc&limit=250"
                headers["Link"] = f'<{next_url}>; rel="next"'
            elif url.path.endswith("/orders.json"):
                body = {"orders": []}
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(json.dumps(body).encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def services(tmp_path: Path, store_api):
    base_url, _ = store_api
    woo = store_settings(
        "demo-woo", "woocommerce", api={"base_url": base_url, "consumer_key": "ck", "consumer_secret": "cs"}
    )
    shop = store_settings("demo-shopify", "shopify", api={"base_url": base_url, "access_token": "shpat_x"})
    return make_services(tmp_path, None, woo=woo, shop=shop)


def test_catch_up_finds_orders_whose_webhook_never_came_and_invoices_them_once(services, store_api):
    _, seen = store_api
    first = catch_up(services)
    assert {s["store_id"]: s["new"] for s in first} == {"demo-woo": 2, "demo-shopify": 1}
    assert any("modified_after=" in path and "page=2" in path for path in seen)
    assert any("page_info=abc" in path for path in seen)
    services.bus.drain(services)
    assert services.state.get_order("demo-woo", "7001").state == OrderState.INVOICED
    assert services.state.get_order("demo-woo", "7002").state == OrderState.INVOICED
    # The next poll sees the same orders again: nothing new, nothing issued twice.
    second = catch_up(services)
    assert {s["store_id"]: s["new"] for s in second} == {"demo-woo": 0, "demo-shopify": 0}
    services.bus.drain(services)
    assert services.state.get_order("demo-woo", "7001").documents[0].number == "INV-000001"
    assert len(services.state.list_orders("demo-woo", "invoiced")) == 2
    assert services.state.get_watermark("catch-up:demo-woo") is not None


def test_catch_up_and_webhook_for_the_same_change_make_one_event(services, store_api):
    order = fixture_json("woocommerce", "order_created")
    order["id"], order["number"] = 7001, "7001"
    body = json.dumps(order).encode()
    result = receive_webhook(
        services, "woocommerce", "demo-woo", body, webhook_headers("woocommerce", "order.updated", body)
    )
    assert http_status(result) == 202
    summary = {s["store_id"]: s for s in catch_up(services)}
    assert summary["demo-woo"]["seen"] == 2 and summary["demo-woo"]["new"] == 1


def test_sweep_nudges_orders_that_made_no_progress(services):
    services.clock = lambda: datetime.now(UTC)  # records carry real change times
    body = json.dumps(fixture_json("woocommerce", "order_created")).encode()
    receive_webhook(services, "woocommerce", "demo-woo", body, webhook_headers("woocommerce", "order.created", body))
    services.bus.drain(services, limit=1)  # validated; the invoice command is then lost from the queue
    services.bus.messages.clear()
    services.bus.seen.clear()  # as if the duplicate-detection window had passed
    assert sweep_stuck_orders(services, older_than=timedelta(hours=1)) == []
    later = services.clock() + timedelta(hours=2)
    services.clock = lambda: later
    stuck = sweep_stuck_orders(services, older_than=timedelta(hours=1))
    assert stuck == [{"store_id": "demo-woo", "order_id": str(json.loads(body)["id"]), "state": "validated"}]
    services.bus.drain(services)
    assert services.state.get_order("demo-woo", stuck[0]["order_id"]).state == OrderState.INVOICED
