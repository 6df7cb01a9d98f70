"""Three-way reconciliation against a fake store API on loopback (documented WooCommerce and Shopify list shapes and
paging), our real SQLite state and the real UBL outbox: a seeded mismatch gives exactly the seeded differences.

Stock: the store's side is read through the real store API adapters (WooCommerce GET /products?sku=…, Shopify GraphQL
productVariants) from the same fake store; the target's side is the UBL outbox with a stock table.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import azure.functions as func
import pytest
from lxml import etree

from function_app import app
from local.registry import registered_functions
from shared.bootstrap import override_services
from shared.domain.order import OrderState
from shared.errors import PermanentError
from shared.handlers.intake import accept
from shared.handlers.reconciliation import PollingStoreReader, StoreReading, reconcile, report_csv
from shared.targets.ubl import codes
from shared.targets.ubl.outbox import UblOutboxTarget
from tests.fake_order_store import SHOPIFY_VERSION, FakeStore, shopify_order, woo_order
from tests.support import make_services, store_settings

NOV_20 = date(2026, 11, 20)
NS = {"cac": codes.NS_CAC, "cbc": codes.NS_CBC}


class StockedOutbox(UblOutboxTarget):
    levels: ClassVar[dict[str, Decimal]] = {}

    def sellable_stock(self, item_codes: Sequence[str]) -> dict[str, Decimal]:
        return {code: self.levels[code] for code in item_codes if code in self.levels}


@pytest.fixture
def fake_store(httpserver) -> FakeStore:
    return FakeStore(httpserver)


@pytest.fixture
def services(tmp_path: Path, fake_store: FakeStore):
    woo = store_settings(
        "demo-woo", "woocommerce", api={"base_url": fake_store.base_url, "consumer_key": "ck", "consumer_secret": "cs"}
    )
    shop = store_settings(
        "demo-shopify",
        "shopify",
        api={"base_url": fake_store.base_url, "access_token": "shpat_x", "api_version": SHOPIFY_VERSION},
    )
    return make_services(tmp_path, None, woo=woo, shop=shop)


def _take_in(services, store_id: str, channel: str, orders: list[dict]) -> None:
    """Orders through intake (as their webhooks would) and the whole pipeline."""
    topic = {"woocommerce": ("x-wc-webhook-topic", "order.created"), "shopify": ("x-shopify-topic", "orders/create")}
    name, value = topic[channel]
    for order in orders:
        accept(services, channel, store_id, json.dumps(order).encode(), {name: value})
    services.bus.drain(services)


def _invoice_file(services, store_id: str, order_number: str) -> Path:
    for path in sorted((services.state_dir / "outbox" / store_id).glob("*.xml")):
        if etree.parse(path).findtext("cac:OrderReference/cbc:ID", namespaces=NS) == order_number:
            return path
    raise AssertionError(f"no invoice for order {order_number}")


def _rewrite(path: Path, target: Path, element: str, value: str) -> None:
    """Someone edits a document by hand (the outbox never does): `element` (a path from the root) gets `value`."""
    tree = etree.parse(path)
    tree.find(element, namespaces=NS).text = value
    tree.write(target, xml_declaration=True, encoding="UTF-8")


def _seed_woo(services, fake_store: FakeStore) -> None:
    """Six orders created on 20 November and one before; the service and the outbox get 7001-7005, then each is put
    out of line in one way."""
    fake_store.woo = [woo_order(order_id, f"2026-11-20T0{order_id - 7000}:15:00") for order_id in range(7001, 7007)]
    fake_store.woo.append(woo_order(6990, "2026-11-10T10:00:00", date_modified_gmt="2026-11-21T10:00:00"))
    _take_in(services, "demo-woo", "woocommerce", fake_store.woo[:5])
    # 7006 never reached the service (a webhook lost): missing_in_service.
    # 7002's invoice is gone from the outbox: missing_in_target.
    _invoice_file(services, "demo-woo", "7002").unlink()
    # 7003 was invoiced twice (someone issued it by hand): duplicated_in_target.
    first = _invoice_file(services, "demo-woo", "7003")
    _rewrite(first, first.parent / "MANUAL-1.xml", "cbc:ID", "MANUAL-1")
    # 7004's invoice says another amount than the store: amount_differs.
    fourth = _invoice_file(services, "demo-woo", "7004")
    _rewrite(fourth, fourth, "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount", "63.97")
    # 7005 was cancelled in the store after it was invoiced here: state_differs.
    fake_store.woo[4]["status"] = "cancelled"


def _found(report) -> set[tuple[str, str]]:
    return {(d.kind, d.order_id or d.sku) for d in report.differences}


def _stocked(services, fake_store: FakeStore) -> None:
    """The target holds 12 mugs and 4 tees; the store 9 mugs, 4 tees, an unmapped product and an oil whose stock it
    does not manage (not compared)."""
    StockedOutbox.levels = {"MUG-BLUE-350": Decimal("12"), "TEE-ORGANIC-M": Decimal("4")}
    services.target_factory = lambda settings, s: StockedOutbox(
        s.document_store, settings, s.sku_map(settings.store_id)
    )
    fake_store.stock({"BLUE-MUG-350ML": 9, "TEE-ORG-M": 4, "UNMAPPED-X": 1, "OLIVE-OIL-500ML": None})


def test_seeded_mismatch_gives_exactly_the_seeded_differences(services, fake_store):
    _seed_woo(services, fake_store)
    _stocked(services, fake_store)

    report = reconcile(services, "demo-woo", NOV_20, NOV_20)

    assert _found(report) == {
        ("missing_in_service", "7006"),
        ("missing_in_target", "7002"),
        ("duplicated_in_target", "7003"),
        ("amount_differs", "7004"),
        ("state_differs", "7005"),
        ("stock_differs", "BLUE-MUG-350ML"),
    }
    by_kind = {d.kind: d for d in report.differences}
    assert (by_kind["amount_differs"].store, by_kind["amount_differs"].target) == ("53.97", "63.97")
    assert sorted(by_kind["duplicated_in_target"].documents) == [
        _invoice_file(services, "demo-woo", "7003").stem,
        "MANUAL-1",
    ]
    assert (by_kind["state_differs"].store, by_kind["state_differs"].service) == ("cancelled", "invoiced")
    assert (by_kind["stock_differs"].store, by_kind["stock_differs"].target) == ("9", "12")
    stock_reads = [path for path in fake_store.requests if path.startswith("/wp-json/wc/v3/products")]
    assert stock_reads and all("UNMAPPED-X" not in path for path in stock_reads)
    assert "BLUE-MUG-350ML" in stock_reads[0] and "OLIVE-OIL-500ML" in stock_reads[0]
    assert report.stock_compared is True
    assert by_kind["missing_in_target"].service == "invoiced"
    assert report.counts == dict.fromkeys(by_kind, 1)
    assert report.compared == {"store_orders": 6, "service_orders": 5, "target_invoices": 5}
    # The list was read page by page (2 per page here) from the range's first day on.
    order_reads = [path for path in fake_store.requests if path.startswith("/wp-json/wc/v3/orders")]
    assert sum("page=" in path for path in order_reads) == 4
    assert all("modified_after=2026-11-19T23:59:59" in path for path in order_reads)


def test_a_store_that_agrees_gives_no_differences(services, fake_store):
    fake_store.woo = [woo_order(order_id, f"2026-11-20T0{order_id - 7000}:15:00") for order_id in (7001, 7002, 7003)]
    _take_in(services, "demo-woo", "woocommerce", fake_store.woo)

    report = reconcile(services, "demo-woo", NOV_20, NOV_20)

    assert report.differences == []
    assert report.compared == {"store_orders": 3, "service_orders": 3, "target_invoices": 3}
    # No stock table uploaded: the outbox reports no stock, so the store's stock is not even read.
    assert report.stock_compared is False
    assert not any("/products" in path for path in fake_store.requests)


def test_shopify_orders_are_read_through_cursor_pages(services, fake_store):
    ids = [9007199254740993 + n for n in range(3)]
    fake_store.shopify = [shopify_order(order_id, f"2026-11-20T1{n}:00:00") for n, order_id in enumerate(ids)]
    _take_in(services, "demo-shopify", "shopify", fake_store.shopify[:2])

    report = reconcile(services, "demo-shopify", NOV_20, NOV_20)

    assert _found(report) == {("missing_in_service", str(ids[2]))}
    assert any("page_info=" in path for path in fake_store.requests)


def test_shopify_stock_is_read_at_the_primary_location_through_graphql(services, fake_store):
    _stocked(services, fake_store)

    report = reconcile(services, "demo-shopify", NOV_20, NOV_20)

    assert report.stock_compared is True
    assert [(d.kind, d.sku, d.item_code, d.store, d.target) for d in report.differences] == [
        ("stock_differs", "BLUE-MUG-350ML", "MUG-BLUE-350", "9", "12")
    ]
    assert sum("/graphql.json" in path for path in fake_store.requests) == 2  # the primary location, then the SKUs


def test_store_stock_a_failing_store_api_cannot_read_is_an_error_not_a_clean_report(services, fake_store, httpserver):
    _stocked(services, fake_store)
    fake_store.products.clear()
    httpserver.clear_all_handlers()
    httpserver.expect_request("/wp-json/wc/v3/orders").respond_with_json([], headers={"X-WP-TotalPages": "1"})
    httpserver.expect_request("/wp-json/wc/v3/products").respond_with_json({"code": "rest_forbidden"}, status=403)

    with pytest.raises(PermanentError):
        reconcile(services, "demo-woo", NOV_20, NOV_20)


def test_redrive_takes_a_missing_order_in_and_leaves_the_rest_to_a_person(services, fake_store):
    _seed_woo(services, fake_store)

    first = reconcile(services, "demo-woo", NOV_20, NOV_20, redrive=True, actor="operator:ana")
    services.bus.drain(services)
    second = reconcile(services, "demo-woo", NOV_20, NOV_20)

    outcomes = {(d.kind, d.order_id): d.outcome for d in first.differences}
    assert outcomes[("missing_in_service", "7006")] == "redriven"
    assert outcomes[("missing_in_target", "7002")] == "needs_person"  # our record says invoiced: someone must look
    assert outcomes[("duplicated_in_target", "7003")] == "needs_person"
    record = services.state.get_order("demo-woo", "7006")
    assert record is not None and record.state == OrderState.INVOICED
    assert ("missing_in_service", "7006") not in _found(second)
    assert _found(second) == _found(first) - {("missing_in_service", "7006")}


def test_redrive_retries_a_held_order_that_has_no_invoice(services, fake_store):
    fake_store.woo = [woo_order(7001, "2026-11-20T01:15:00")]
    services.state.put_sku_map("demo-woo", {"TEE-ORG-M": "TEE-ORGANIC-M"}, replace=True)  # the mug is unmapped
    _take_in(services, "demo-woo", "woocommerce", fake_store.woo)
    assert services.state.get_order("demo-woo", "7001").state == OrderState.HELD
    services.state.put_sku_map("demo-woo", {"BLUE-MUG-350ML": "MUG-BLUE-350"}, replace=False)

    report = reconcile(services, "demo-woo", NOV_20, NOV_20, redrive=True)
    services.bus.drain(services)

    assert [(d.kind, d.remedy, d.outcome) for d in report.differences] == [("missing_in_target", "retry", "redriven")]
    assert services.state.get_order("demo-woo", "7001").state == OrderState.INVOICED
    assert reconcile(services, "demo-woo", NOV_20, NOV_20).differences == []


def test_csv_has_one_row_per_difference_in_the_readers_language(services, fake_store):
    _seed_woo(services, fake_store)

    rows = list(csv.DictReader(io.StringIO(report_csv(reconcile(services, "demo-woo", NOV_20, NOV_20), "es"))))

    assert sorted(r["kind"] for r in rows) == sorted(
        ["missing_in_service", "missing_in_target", "duplicated_in_target", "amount_differs", "state_differs"]
    )
    missing = next(r for r in rows if r["kind"] == "missing_in_service")
    assert missing["explanation"] == "El pedido 7006 está en la tienda pero nunca llegó a este servicio."
    assert missing["remedy"] == "reintake"


# -- the route, through the real function ------------------------------------------------------------------------


def _call(services, query: str, method: str = "GET", store: str = "demo-woo") -> func.HttpResponse:
    override_services(services)
    try:
        function = registered_functions(app)["reconciliation"]
        request = func.HttpRequest(
            method,
            f"http://127.0.0.1/api/stores/{store}/reconciliation?{query}",
            body=b"",
            route_params={"store_id": store},
            params=dict(p.split("=", 1) for p in query.split("&") if "=" in p),
        )
        return function.get_user_function()(request)
    finally:
        override_services(None)


def test_route_answers_differences_and_counts_as_json(services, fake_store):
    _seed_woo(services, fake_store)

    response = _call(services, "from=2026-11-20&to=2026-11-20")

    assert response.status_code == 200
    body = json.loads(response.get_body())
    assert {(d["kind"], d.get("order_id")) for d in body["differences"]} == {
        ("missing_in_service", "7006"),
        ("missing_in_target", "7002"),
        ("duplicated_in_target", "7003"),
        ("amount_differs", "7004"),
        ("state_differs", "7005"),
    }
    assert body["counts"]["stock_differs"] == 0 and body["counts"]["amount_differs"] == 1
    assert body["stock_compared"] is False  # no stock table: the outbox reports no stock
    amount = next(d for d in body["differences"] if d["kind"] == "amount_differs")
    assert (amount["store"], amount["target"]) == ("53.97", "63.97")


def test_route_reads_the_stores_stock_and_answers_where_it_differs(services, fake_store):
    _seed_woo(services, fake_store)
    _stocked(services, fake_store)

    response = _call(services, "from=2026-11-20&to=2026-11-20&lang=es")

    body = json.loads(response.get_body())
    assert response.status_code == 200
    assert body["stock_compared"] is True and body["counts"]["stock_differs"] == 1
    stock = next(d for d in body["differences"] if d["kind"] == "stock_differs")
    assert (stock["sku"], stock["item_code"], stock["store"], stock["target"]) == (
        "BLUE-MUG-350ML",
        "MUG-BLUE-350",
        "9",
        "12",
    )
    assert stock["explanation"].startswith("BLUE-MUG-350ML (MUG-BLUE-350): la tienda muestra 9")


def test_a_get_never_redrives(services, fake_store):
    _seed_woo(services, fake_store)

    _call(services, "from=2026-11-20&to=2026-11-20&redrive=true")

    assert services.state.get_order("demo-woo", "7006") is None


@pytest.mark.parametrize(
    "query",
    [
        "from=2026-11-20",
        "from=20/11/2026&to=2026-11-21",
        "from=2026-11-21&to=2026-11-20",
        "from=2024-01-01&to=2026-01-01",
    ],
)
def test_bad_dates_are_a_problem_json_400_that_reads_nothing(services, fake_store, query):
    response = _call(services, query)

    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert json.loads(response.get_body())["title"] == "Bad date range"
    assert fake_store.requests == []


def test_unknown_store_is_a_404(services):
    response = _call(services, "from=2026-11-20&to=2026-11-20", store="nowhere")

    assert response.status_code == 404


def test_reader_keeps_orders_created_in_the_range_only(services, fake_store):
    fake_store.woo = [
        woo_order(7001, "2026-11-19T23:59:59"),
        woo_order(7002, "2026-11-20T00:00:00"),
        woo_order(7003, "2026-11-21T23:59:59"),
        woo_order(7004, "2026-11-22T00:00:00"),
    ]
    from shared.handlers.reconciliation import day_bounds

    start, end = day_bounds(date(2026, 11, 20), date(2026, 11, 21))
    found: list[StoreReading] = PollingStoreReader().orders(services.stores["demo-woo"], start, end)

    assert [s.order.order_id for s in found] == ["7002", "7003"]


# -- the dashboard page ----------------------------------------------------------------------------------------


def _page(services, query: str, accept_language: str = "") -> func.HttpResponse:
    override_services(services)
    try:
        request = func.HttpRequest(
            "GET",
            f"http://127.0.0.1/api/dashboard/reconciliation?{query}",
            body=b"",
            headers={"accept-language": accept_language},
            params=dict(p.split("=", 1) for p in query.split("&") if "=" in p),
        )
        return registered_functions(app)["dashboard_reconciliation"].get_user_function()(request)
    finally:
        override_services(None)


def test_view_model_lists_each_difference_with_its_label_and_remedy_in_spanish(services, fake_store):
    from shared.dashboard.reconciliation import reconciliation_view

    _seed_woo(services, fake_store)

    page = reconciliation_view(reconcile(services, "demo-woo", NOV_20, NOV_20), "es", code="k1")

    rows = {row.kind: row for row in page.rows}
    assert rows["missing_in_service"].label == "No está en este servicio"
    assert rows["missing_in_service"].remedy == "Reenviar: leerlo de nuevo de la tienda"
    assert rows["duplicated_in_target"].remedy == "Necesita a una persona"
    assert (rows["amount_differs"].store, rows["amount_differs"].target) == ("53.97", "63.97")
    assert dict(page.counts)["Existencias distintas"] == 0 and dict(page.counts)["Facturado dos veces"] == 1
    assert page.compared.startswith("Comparados: 6 pedidos en la tienda, 5 en este servicio")
    assert "lang=en" in page.switch_href and "code=k1" in page.switch_href


def test_dashboard_page_shows_the_differences_in_the_readers_language(services, fake_store):
    _seed_woo(services, fake_store)

    english = _page(services, "store=demo-woo&from=2026-11-20&to=2026-11-20")
    spanish = _page(services, "store=demo-woo&from=2026-11-20&to=2026-11-20", "es-ES,es;q=0.9")

    assert english.status_code == 200 and "nonce-" in english.headers["Content-Security-Policy"]
    html = english.get_body().decode()
    assert html.count('<tr data-kind="') == 5
    assert "Order 7006 is in the store but never reached this service." in html
    assert 'href="/api/dashboard/static/dashboard.css"' in html
    assert "El pedido 7006 está en la tienda pero nunca llegó a este servicio." in spanish.get_body().decode()


def test_dashboard_page_refuses_bad_dates_as_problem_json(services, fake_store):
    response = _page(services, "store=demo-woo&from=2026-13-01&to=2026-11-20")

    assert response.status_code == 400 and response.headers["Content-Type"] == "application/problem+json"


def test_a_store_api_that_refuses_the_key_is_a_502_naming_it_not_a_500(services, fake_store):
    fake_store.server.clear()  # the store no longer takes the key (revoked in WooCommerce)
    fake_store.server.expect_request("/wp-json/wc/v3/orders").respond_with_json({"code": "unauthorized"}, status=401)

    response = _call(services, "from=2026-11-20&to=2026-11-20")

    assert response.status_code == 502
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "HTTP 401" in json.loads(response.get_body())["detail"]


def test_a_store_api_that_is_down_is_a_503(services, fake_store):
    fake_store.server.clear()
    fake_store.server.expect_request("/wp-json/wc/v3/orders").respond_with_data("busy", status=503)

    response = _call(services, "from=2026-11-20&to=2026-11-20")

    assert response.status_code == 503


def test_dashboard_page_with_the_store_down_is_a_503_problem(services, fake_store):
    fake_store.server.clear()
    fake_store.server.expect_request("/wp-json/wc/v3/orders").respond_with_data("busy", status=503)

    response = _page(services, "store=demo-woo&from=2026-11-20&to=2026-11-20")

    assert response.status_code == 503 and response.headers["Content-Type"] == "application/problem+json"


def test_dashboard_page_for_a_store_whose_file_was_refused_answers_503_with_the_reason(services, fake_store):
    from shared.stores import StoreProblem

    services.broken["demo-woo"] = [StoreProblem(file="demo-woo.yaml", key="webhook_secret", reason="too short")]

    response = _page(services, "store=demo-woo&from=2026-11-20&to=2026-11-20")

    assert response.status_code == 503
    assert "webhook_secret" in json.loads(response.get_body())["detail"]
    assert fake_store.requests == []
