"""The store API port against fake stores in the documented shapes (tests/fake_store.py): paging, 429 and GraphQL
cost throttling; stock back to the store; webhook health and its repair."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from pytest_httpserver import HTTPServer

from local.cli import main as cli_main
from local.registry import registered_functions
from shared.bootstrap import override_services, services
from shared.channels.shopify.store_api import ShopifyApi
from shared.channels.store_api import store_api
from shared.dashboard.page import render_dashboard
from shared.dashboard.view import dashboard_view
from shared.domain.order import OrderState
from shared.errors import RetryableError
from shared.handlers import stock, webhook_health
from shared.handlers.health import health_report
from shared.handlers.housekeeping import catch_up
from shared.handlers.intake import receive_webhook
from shared.handlers.stock import StockReading
from shared.ports import ReportsStock
from tests.fake_store import FakeShopify, FakeWooCommerce, Product, throttled, too_many
from tests.support import FakeErpTarget, fixture_json, make_services, store_settings, webhook_headers, write_store_file

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
BASE = "https://o2c.example.net"


class StockTarget(FakeErpTarget, ReportsStock):
    """A target that keeps stock: a unit-test stand-in for Tryton (the live test is test_tryton_stock_sync.py)."""

    def __init__(self, quantities: dict[str, Decimal]) -> None:
        super().__init__()
        self.quantities = quantities

    def sellable_stock(self, item_codes: Sequence[str]) -> dict[str, Decimal]:
        return {code: self.quantities[code] for code in item_codes if code in self.quantities}


@pytest.fixture
def woo(httpserver: HTTPServer) -> Iterator[FakeWooCommerce]:
    store = FakeWooCommerce(httpserver)
    store.products = [
        Product(11, "BLUE-MUG-350ML", 40),
        Product(12, "COFFEE-COL-1KG", 9),
        Product(13, "MOLCAJETE-8IN", None, managed=False),
        Product(31, "TEE-ORG-M", 5, parent_id=30),
    ]
    yield store


@pytest.fixture
def shop(httpserver: HTTPServer) -> Iterator[FakeShopify]:
    store = FakeShopify(httpserver)
    store.products = [Product(11, "BLUE-MUG-350ML", 40), Product(12, "COFFEE-COL-1KG", 9)]
    yield store


def _woo_settings(url: str, **extra: Any) -> Any:
    return store_settings(
        "demo-woo", "woocommerce", api={"base_url": url, "consumer_key": "ck", "consumer_secret": "cs"}, **extra
    )


def _shop_settings(url: str) -> Any:
    return store_settings("demo-shopify", "shopify", api={"base_url": url, "access_token": "shpat_x"})


def _services(tmp_path: Path, settings: Any, target: Any) -> Any:
    return make_services(tmp_path, target, store=settings)


# -- orders: paging and limits -------------------------------------------------------------------------------------


def test_woocommerce_order_list_follows_x_wp_totalpages_across_pages(woo: FakeWooCommerce) -> None:
    woo.per_page = 2
    for order_id in range(5001, 5006):
        order = fixture_json("woocommerce", "order_created")
        order["id"], order["number"], order["total"] = order_id, str(order_id), "12.10"
        woo.orders.append(order)
    api = store_api(_woo_settings(woo.url))
    orders = list(api.iter_orders(NOW - timedelta(days=1), NOW, by="created"))
    assert [o.order_id for o in orders] == ["5001", "5002", "5003", "5004", "5005"]
    assert orders[0].total == Decimal("12.10")
    pages = [path for method, path, _ in woo.requests if path.startswith("/wp-json/wc/v3/orders")]
    assert len(pages) == 3 and all("after=2026-11-27T10%3A00%3A00" in p and "before=" in p for p in pages)


def test_woocommerce_429_is_waited_out_and_the_list_still_arrives(woo: FakeWooCommerce) -> None:
    woo.orders.append(fixture_json("woocommerce", "order_created"))
    woo.fail_next(too_many("0"))
    woo.fail_next(too_many("0"))
    orders = list(store_api(_woo_settings(woo.url)).iter_orders(NOW - timedelta(days=1)))
    assert len(orders) == 1
    assert len(woo.requests) == 3


def test_woocommerce_deleted_order_reads_back_as_none(woo: FakeWooCommerce) -> None:
    assert store_api(_woo_settings(woo.url)).get_order("999") is None


def test_shopify_orders_follow_the_page_info_cursor(shop: FakeShopify) -> None:
    shop.per_page = 1
    for order_id in (820982911946154500, 820982911946154501):
        order = fixture_json("shopify", "orders_create")
        order["id"] = order_id
        shop.orders.append(order)
    orders = list(store_api(_shop_settings(shop.url)).iter_orders(NOW - timedelta(days=1)))
    assert [o.order_id for o in orders] == ["820982911946154500", "820982911946154501"]
    assert any("page_info=1" in path for _, path, _ in shop.requests)


def test_shopify_throttled_graphql_waits_as_long_as_the_cost_bucket_needs(shop: FakeShopify) -> None:
    shop.fail_next(throttled(requested=100, available=40, restore=50.0))
    waits: list[float] = []
    api = ShopifyApi(_shop_settings(shop.url), sleep=waits.append)
    items = api.read_stock(["BLUE-MUG-350ML"])
    assert items["BLUE-MUG-350ML"].quantity == 40
    assert waits == [pytest.approx(1.2)]  # (100 - 40) / 50 points per second


# -- stock back to the store ---------------------------------------------------------------------------------------


def test_store_stock_follows_the_target_after_a_burst_of_sales(tmp_path: Path, woo: FakeWooCommerce) -> None:
    target = StockTarget({"MUG-BLUE-350": Decimal("40"), "COF-COL-1000": Decimal("9"), "TEE-ORGANIC-M": Decimal("5")})
    services = _services(tmp_path, _woo_settings(woo.url), target)
    settings = services.stores["demo-woo"]
    for _ in range(7):  # seven sales shipped in the target
        target.quantities["MUG-BLUE-350"] -= 3
        target.quantities["TEE-ORGANIC-M"] -= Decimal("0.5")
    report = stock.sync_store_stock(services, settings)
    assert woo.stock("BLUE-MUG-350ML") == 19
    assert woo.stock("TEE-ORG-M") == 1  # 1.5 units: only whole ones are sold
    assert sorted(report.written) == ["BLUE-MUG-350ML", "TEE-ORG-M"] and report.unchanged == 1
    variation_batch = [
        body for method, path, body in woo.requests if path == "/wp-json/wc/v3/products/30/variations/batch"
    ]
    assert variation_batch == [{"update": [{"id": 31, "stock_quantity": 1}]}]


def test_products_without_stock_management_are_skipped_and_listed(tmp_path: Path, woo: FakeWooCommerce) -> None:
    target = StockTarget({"MOLC-8": Decimal("3"), "OIL-EVOO-500": Decimal("2")})
    services = _services(tmp_path, _woo_settings(woo.url), target)
    report = stock.sync_store_stock(services, services.stores["demo-woo"])
    assert report.not_managed == ["MOLCAJETE-8IN"]
    assert report.not_in_store == ["OLIVE-OIL-500ML"]
    assert not any(path.endswith("/batch") for _, path, _ in woo.requests)
    assert stock.last_report(services, "demo-woo")["not_managed"] == ["MOLCAJETE-8IN"]


def test_product_id_keys_of_the_sku_map_name_no_sku_to_read_or_write(tmp_path: Path, woo: FakeWooCommerce) -> None:
    target = StockTarget({"MUG-BLUE-350": Decimal("12"), "ITEM-93": Decimal("5")})
    services = _services(tmp_path, _woo_settings(woo.url), target)
    services.state.put_sku_map("demo-woo", {"product:93": "ITEM-93", "BLUE-MUG-350ML:77": "MUG-BLUE-350"})
    report = stock.sync_store_stock(services, services.stores["demo-woo"])
    assert report.written == ["BLUE-MUG-350ML"] and woo.stock("BLUE-MUG-350ML") == 12
    asked = [path for method, path, _ in woo.requests if method == "GET" and "/products?" in path]
    assert asked and all("product" not in path.partition("sku=")[2].lower() for path in asked)


def test_safety_buffer_is_held_back_and_never_goes_below_zero(tmp_path: Path, woo: FakeWooCommerce) -> None:
    target = StockTarget({"MUG-BLUE-350": Decimal("12"), "COF-COL-1000": Decimal("2")})
    services = _services(tmp_path, _woo_settings(woo.url, stock_sync={"safety_buffer": 3}), target)
    stock.sync_store_stock(services, services.stores["demo-woo"])
    assert (woo.stock("BLUE-MUG-350ML"), woo.stock("COFFEE-COL-1KG")) == (9, 0)


def test_an_older_reading_never_overwrites_a_newer_one(tmp_path: Path, woo: FakeWooCommerce) -> None:
    target = StockTarget({})
    services = _services(tmp_path, _woo_settings(woo.url), target)
    settings = services.stores["demo-woo"]
    api = store_api(settings)
    mapped = {"BLUE-MUG-350ML": "MUG-BLUE-350"}
    newer = stock.apply_reading(services, settings, api, mapped, StockReading(NOW, {"MUG-BLUE-350": Decimal("7")}))
    older = StockReading(NOW - timedelta(seconds=5), {"MUG-BLUE-350": Decimal("30")})
    late = stock.apply_reading(services, settings, api, mapped, older)
    assert newer.written == ["BLUE-MUG-350ML"] and late.skipped == "older_reading"
    assert woo.stock("BLUE-MUG-350ML") == 7


def test_shopify_stock_write_names_the_quantity_it_replaces_and_survives_a_sale_in_between(
    tmp_path: Path, shop: FakeShopify
) -> None:
    target = StockTarget({"MUG-BLUE-350": Decimal("25"), "COF-COL-1000": Decimal("4")})
    services = _services(tmp_path, _shop_settings(shop.url), target)
    settings = services.stores["demo-shopify"]
    api = store_api(settings)
    original = api.read_stock

    def read_then_sell(skus: Sequence[str]) -> Any:
        items = original(skus)
        if len(shop.requests) < 4:
            shop.sell("BLUE-MUG-350ML", 1)  # a checkout between our read and our write
        return items

    api.read_stock = read_then_sell  # type: ignore[method-assign]
    report = stock.sync_store_stock(services, settings, api=api)
    assert (shop.stock("BLUE-MUG-350ML"), shop.stock("COFFEE-COL-1KG")) == (25, 4)
    sets = [
        body["variables"]["input"] for _, _, body in shop.requests if body and "inventorySetQuantities" in body["query"]
    ]
    assert sets[0]["quantities"][0]["compareQuantity"] == 40 and sets[0]["name"] == "available"
    assert sorted(report.written) == ["BLUE-MUG-350ML", "COFFEE-COL-1KG"] and report.conflicts == []


def test_shipping_an_order_pushes_its_products_stock_to_the_store(tmp_path: Path, woo: FakeWooCommerce) -> None:
    target = StockTarget({"MUG-BLUE-350": Decimal("17"), "COF-COL-1000": Decimal("9")})
    services = _services(tmp_path, _woo_settings(woo.url), target)
    body = fixture_json("woocommerce", "order_created")
    raw = json.dumps(body).encode()
    receive_webhook(services, "woocommerce", "demo-woo", raw, webhook_headers("woocommerce", "order.created", raw))
    services.bus.drain(services)
    assert services.state.get_order("demo-woo", str(body["id"])).state == OrderState.PAID  # shipped, then paid
    assert woo.stock("BLUE-MUG-350ML") == 17
    batches = [b for _, path, b in woo.requests if path == "/wp-json/wc/v3/products/batch"]
    assert batches == [{"update": [{"id": 11, "stock_quantity": 17}]}]  # only the order's products were read


# -- webhook health --------------------------------------------------------------------------------------------------


def test_disabled_webhook_is_reported_and_repaired(tmp_path: Path, woo: FakeWooCommerce) -> None:
    settings = _woo_settings(woo.url)
    url = f"{BASE}/api/webhooks/woocommerce/demo-woo"
    woo.webhooks = [
        {"id": 1, "status": "active", "topic": "order.created", "delivery_url": url},
        {"id": 2, "status": "disabled", "topic": "order.updated", "delivery_url": url},  # five failures in a row
        {"id": 3, "status": "active", "topic": "order.deleted", "delivery_url": url},
    ]
    services = _services(tmp_path, settings, None)
    found = webhook_health.check_store(services, settings, BASE)
    assert found["unhealthy"] == 2
    assert {c["topic"]: c["finding"] for c in found["checks"]} == {
        "order.created": "ok",
        "order.deleted": "ok",
        "order.restored": "missing",
        "order.updated": "disabled",
    }
    repaired = webhook_health.repair(services, settings, BASE)
    assert sorted(repaired["created"]) == ["order.restored", "order.updated"] and repaired["unhealthy"] == 0
    assert sorted((h["topic"], h["status"]) for h in woo.webhooks) == [
        ("order.created", "active"),
        ("order.deleted", "active"),
        ("order.restored", "active"),
        ("order.updated", "active"),
    ]
    assert {h["secret"] for h in woo.webhooks if h["id"] > 3} == {settings.webhook_secret}
    assert webhook_health.last_checks(services)["demo-woo"]["unhealthy"] == 0


def test_shopify_missing_and_misdirected_subscriptions_are_reported_and_repaired(
    tmp_path: Path, shop: FakeShopify
) -> None:
    settings = _shop_settings(shop.url)
    url = f"{BASE}/api/webhooks/shopify/demo-shopify"
    shop.webhooks = [
        {"id": "gid://shopify/WebhookSubscription/1", "topic": "ORDERS_CREATE", "uri": url},
        {"id": "gid://shopify/WebhookSubscription/2", "topic": "ORDERS_UPDATED", "uri": url},
        {"id": "gid://shopify/WebhookSubscription/3", "topic": "ORDERS_PAID", "uri": "https://old.example.net/hook"},
    ]
    services = _services(tmp_path, settings, None)
    found = webhook_health.check_store(services, settings, BASE)
    findings = {c["topic"]: c["finding"] for c in found["checks"]}
    assert findings == {
        "orders/cancelled": "missing",
        "orders/create": "ok",
        "orders/paid": "wrong_url",
        "orders/updated": "ok",
        "refunds/create": "missing",
    }
    webhook_health.repair(services, settings, BASE)
    topics_at_url = sorted(w["topic"] for w in shop.webhooks if w["uri"] == url)
    assert topics_at_url == ["ORDERS_CANCELLED", "ORDERS_CREATE", "ORDERS_PAID", "ORDERS_UPDATED", "REFUNDS_CREATE"]
    assert webhook_health.check_store(services, settings, BASE)["unhealthy"] == 0


def test_cli_repairs_a_disabled_webhook_and_health_names_it_until_then(
    tmp_path: Path, woo: FakeWooCommerce, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stores = tmp_path / "stores"
    stores.mkdir()
    api = {"base_url": woo.url, "consumer_key": "ck", "consumer_secret": "cs"}
    write_store_file(stores, "demo-woo", "woocommerce", api=api)
    monkeypatch.setenv("LOCAL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("STORES_DIR", str(stores))
    monkeypatch.setenv("PUBLIC_BASE_URL", BASE)
    url = f"{BASE}/api/webhooks/woocommerce/demo-woo"
    woo.webhooks = [
        {"id": n, "status": "active", "topic": topic, "delivery_url": url}
        for n, topic in enumerate(("order.created", "order.deleted", "order.restored"), 1)
    ] + [{"id": 4, "status": "disabled", "topic": "order.updated", "delivery_url": url}]
    override_services(None)
    try:
        assert cli_main(["webhooks", "check", "demo-woo"]) == 1
        report = health_report(services())
        assert report["warnings"] == ["webhooks"] and report["status"] == "ok"
        assert report["checks"]["webhooks"]["demo-woo"]["problems"] == [
            {"topic": "order.updated", "finding": "disabled"}
        ]
        assert cli_main(["webhooks", "repair", "demo-woo"]) == 0
        assert "warnings" not in health_report(services())
        assert [(h["topic"], h["status"]) for h in woo.webhooks if h["topic"] == "order.updated"] == [
            ("order.updated", "active")
        ]
    finally:
        override_services(None)


@pytest.mark.parametrize(
    ("lang", "summary", "finding"),
    [
        ("en", "Notifications not reaching this service: 1.", "disabled by the store after failed deliveries"),
        ("es", "Avisos que no llegan a este servicio: 1.", "desactivada por la tienda tras entregas fallidas"),
    ],
)
def test_dashboard_shows_a_disabled_webhook_and_skipped_stock_in_english_and_spanish(
    tmp_path: Path, woo: FakeWooCommerce, lang: str, summary: str, finding: str
) -> None:
    url = f"{BASE}/api/webhooks/woocommerce/demo-woo"
    woo.webhooks = [
        {"id": n, "status": "active", "topic": topic, "delivery_url": url}
        for n, topic in enumerate(("order.created", "order.deleted", "order.restored"), 1)
    ] + [{"id": 4, "status": "disabled", "topic": "order.updated", "delivery_url": url}]
    target = StockTarget({"MOLC-8": Decimal("3"), "MUG-BLUE-350": Decimal("8")})
    services = _services(tmp_path, _woo_settings(woo.url), target)
    webhook_health.check_store(services, services.stores["demo-woo"], BASE)
    stock.sync_store_stock(services, services.stores["demo-woo"])
    (panel,) = dashboard_view(services, {"lang": lang}, "").overview.panels
    assert panel.webhooks is not None and panel.webhooks.summary == summary
    assert [(p.topic, p.label) for p in panel.webhooks.problems] == [("order.updated", finding)]
    assert panel.stock is not None and panel.stock.not_managed == ("MOLCAJETE-8IN",) and panel.stock.written == 1
    html = render_dashboard(services, {"lang": lang}, "")
    assert finding in html and "MOLCAJETE-8IN" in html and "webhooks repair demo-woo" in html


def test_with_webhooks_off_orders_placed_in_the_store_are_invoiced_exactly_once_by_the_poll(
    tmp_path: Path, woo: FakeWooCommerce
) -> None:
    woo.per_page = 2  # three orders on two pages
    for order_id in (6001, 6002, 6003):
        order = fixture_json("woocommerce", "order_created")
        order["id"], order["number"] = order_id, str(order_id)
        order["date_modified_gmt"] = (NOW - timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%S")
        woo.orders.append(order)
    services = _services(tmp_path, _woo_settings(woo.url), None)
    woo.fail_next(too_many("0"))  # the store is busy at first: waited out within the same poll
    first = catch_up(services)
    services.bus.drain(services)
    second = catch_up(services)  # the next poll interval sees the same orders again (overlap)
    services.bus.drain(services)
    assert [(s["seen"], s["new"]) for s in first] == [(3, 3)] and [(s["seen"], s["new"]) for s in second] == [(3, 0)]
    invoiced = services.state.list_orders("demo-woo", "invoiced")
    assert sorted(r.order_id for r in invoiced) == ["6001", "6002", "6003"]
    assert sorted(d.number for r in invoiced for d in r.documents) == ["INV-000001", "INV-000002", "INV-000003"]


def _put_stock(store_id: str, body: bytes, content_type: str = "text/csv") -> func.HttpResponse:
    import function_app

    request = func.HttpRequest(
        "PUT",
        f"http://127.0.0.1:7071/api/stores/{store_id}/stock",
        headers={"content-type": content_type},
        route_params={"store_id": store_id},
        body=body,
    )
    return registered_functions(function_app.app)["stock_table"].get_user_function()(request)


def test_ubl_store_follows_its_uploaded_stock_table_and_an_older_count_is_kept_out(
    tmp_path: Path, woo: FakeWooCommerce
) -> None:
    services = make_services(tmp_path, None, store=_woo_settings(woo.url))  # the UBL outbox target
    override_services(services)
    try:
        assert stock.sync_store_stock(services, services.stores["demo-woo"]).skipped == "no_stock_reported"
        counted = "2026-11-28T09:00:00+00:00"
        csv_body = f"item_code,quantity,counted_at\nMUG-BLUE-350,14,{counted}\nCOF-COL-1000,3.5,{counted}\n".encode()
        first = _put_stock("demo-woo", csv_body)
        assert first.status_code == 200 and json.loads(first.get_body())["written"] == 2
        older = json.dumps({"counted_at": "2026-11-28T08:00:00+00:00", "stock": {"MUG-BLUE-350": 99}}).encode()
        late = json.loads(_put_stock("demo-woo", older, "application/json").get_body())
        assert late["written"] == 0 and late["kept_newer"] == 1
        report = stock.sync_store_stock(services, services.stores["demo-woo"])
        assert (woo.stock("BLUE-MUG-350ML"), woo.stock("COFFEE-COL-1KG")) == (14, 3)
        assert sorted(report.written) == ["BLUE-MUG-350ML", "COFFEE-COL-1KG"]
    finally:
        override_services(None)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"sku,qty\nA,1\n", "header item_code,quantity"),
        (b"item_code,quantity\nMUG,lots\n", "is not a number"),
        (b"item_code,quantity\nMUG,1\nMUG,2\n", "listed twice"),
        (b"item_code,quantity,counted_at\nMUG,1,2026-11-28T09:00:00\n", "time zone"),
    ],
)
def test_a_bad_stock_table_is_a_clear_400_and_stores_nothing(
    tmp_path: Path, woo: FakeWooCommerce, body: bytes, reason: str
) -> None:
    services = make_services(tmp_path, None, store=_woo_settings(woo.url))
    override_services(services)
    try:
        response = _put_stock("demo-woo", body)
        assert response.status_code == 400 and response.headers["Content-Type"].startswith("application/problem+json")
        assert reason in json.loads(response.get_body())["detail"]
        assert services.state.get_stock_table("demo-woo") == {}
    finally:
        override_services(None)


def test_cli_imports_a_stock_table_and_syncs_the_store(
    tmp_path: Path, woo: FakeWooCommerce, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stores = tmp_path / "stores"
    stores.mkdir()
    api = {"base_url": woo.url, "consumer_key": "ck", "consumer_secret": "cs"}
    write_store_file(stores, "demo-woo", "woocommerce", api=api, sku_map={"BLUE-MUG-350ML": "MUG-BLUE-350"})
    monkeypatch.setenv("LOCAL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("STORES_DIR", str(stores))
    table = tmp_path / "stock.csv"
    table.write_text("item_code,quantity\nMUG-BLUE-350,6\n", encoding="utf-8")
    override_services(None)
    try:
        assert cli_main(["stock", "import", "demo-woo", str(table)]) == 0
        assert cli_main(["stock", "sync", "demo-woo"]) == 0
        assert '"written": [\n    "BLUE-MUG-350ML"\n  ]' in capsys.readouterr().out
        assert woo.stock("BLUE-MUG-350ML") == 6
    finally:
        override_services(None)


def test_woocommerce_5xx_is_backed_off_and_a_store_that_stays_down_is_a_retryable_error(woo: FakeWooCommerce) -> None:
    api = store_api(_woo_settings(woo.url))
    woo.fail_next(_json_error(503))
    assert api.list_webhooks() == []  # the second attempt answered
    for _ in range(4):  # the first call and its three retries
        woo.fail_next(_json_error(502))
    with pytest.raises(RetryableError):
        api.list_webhooks()
    assert len(woo.requests) == 6


def _json_error(status: int) -> Any:
    from werkzeug import Response

    return Response('{"code": "internal_server_error"}', status=status, content_type="application/json")


def test_a_retry_after_of_an_hour_is_waited_only_up_to_the_cap() -> None:
    from urllib3 import HTTPResponse

    from shared.channels.store_api import MAX_RETRY_AFTER_SECONDS, CappedRetry

    retry = CappedRetry(total=3)
    assert retry.get_retry_after(HTTPResponse(headers={"Retry-After": "3600"}, status=429)) == MAX_RETRY_AFTER_SECONDS
    assert retry.get_retry_after(HTTPResponse(headers={"Retry-After": "2"}, status=429)) == 2
    assert isinstance(retry.increment("GET", "/", HTTPResponse(status=429)), CappedRetry)  # kept across attempts


def test_a_reading_overtaken_while_it_read_the_store_writes_nothing(tmp_path: Path, woo: FakeWooCommerce) -> None:
    services = _services(tmp_path, _woo_settings(woo.url), StockTarget({}))
    settings = services.stores["demo-woo"]
    api = store_api(settings)
    original = api.read_stock

    def overtaken(skus: Sequence[str]) -> Any:
        items = original(skus)
        newer = StockReading(NOW + timedelta(seconds=1), {"MUG-BLUE-350": Decimal("5")})
        stock.apply_reading(services, settings, store_api(settings), {"BLUE-MUG-350ML": "MUG-BLUE-350"}, newer)
        return items

    api.read_stock = overtaken  # type: ignore[method-assign]
    report = stock.apply_reading(
        services, settings, api, {"BLUE-MUG-350ML": "MUG-BLUE-350"}, StockReading(NOW, {"MUG-BLUE-350": Decimal("30")})
    )
    assert report.skipped == "older_reading" and report.written == []
    assert woo.stock("BLUE-MUG-350ML") == 5
    assert services.state.get_watermark(stock.reading_mark("demo-woo")) == (NOW + timedelta(seconds=1)).isoformat()
