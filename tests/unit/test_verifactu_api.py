"""GET /api/stores/{store_id}/verifactu through the registered function with a real func.HttpRequest: the
issuer's records in chain order, paged with after/limit; problem+json for bad parameters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from local.registry import registered_functions
from shared.bootstrap import Services, override_services
from shared.fiscal.verifactu import chain_breaks
from shared.fiscal.verifactu.records import validation_errors
from shared.handlers.intake import receive_webhook
from shared.store_files import load_store
from tests.support import SECRETS, fixture_bytes, http_status, make_services, store_settings, webhook_headers

ROOT = Path(__file__).resolve().parents[2]
SHOP = "demo-shopify"
SYSTEM = {"producer_name": "Integraciones Demo S.L.", "producer_nif": "B12345674", "installation_number": "1"}
FIELDS = {"seq", "invoice_number", "kind", "hash", "previous_hash", "state", "csv", "xml"}


@pytest.fixture
def functions() -> dict[str, Any]:
    import function_app

    return registered_functions(function_app.app)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    built = make_services(
        tmp_path, **{SHOP: store_settings(SHOP, "shopify", verifactu={"enabled": True, "system": SYSTEM})}
    )
    for topic, name in (("orders/create", "orders_create"), ("refunds/create", "refunds_create")):
        raw = fixture_bytes("shopify", name)
        assert http_status(receive_webhook(built, "shopify", SHOP, raw, webhook_headers("shopify", topic, raw))) == 202
        built.bus.drain(built)  # type: ignore[attr-defined]
    override_services(built)
    yield built
    override_services(None)


def get(functions: dict[str, Any], store_id: str, **params: str) -> func.HttpResponse:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    request = func.HttpRequest(
        "GET",
        f"http://127.0.0.1/api/stores/{store_id}/verifactu?{query}",
        route_params={"store_id": store_id},
        params=params,
        body=b"",
    )
    return functions["verifactu_records"].get_user_function()(request)


def test_the_records_of_an_invoice_and_its_credit_note_read_in_chain_order(functions, services) -> None:
    response = get(functions, SHOP)
    assert response.status_code == 200
    records = json.loads(response.get_body())["records"]
    assert [set(r) for r in records] == [FIELDS, FIELDS]
    assert [(r["seq"], r["kind"], r["state"], r["csv"]) for r in records] == [
        (1, "alta", "pending", ""),
        (2, "alta", "pending", ""),
    ]
    assert records[1]["previous_hash"] == records[0]["hash"] and records[0]["previous_hash"] == ""
    order = services.state.get_order(SHOP, "9007199254740993")
    assert [r["invoice_number"] for r in records] == [d.number for d in order.documents]
    assert "<sf:RegistroAlta" in records[0]["xml"]
    kept = services.state.list_verifactu_records("B12345674")
    assert chain_breaks(kept) == []


def test_after_and_limit_page_through_the_chain(functions, services) -> None:
    assert [r["seq"] for r in json.loads(get(functions, SHOP, after="1").get_body())["records"]] == [2]
    assert [r["seq"] for r in json.loads(get(functions, SHOP, limit="1").get_body())["records"]] == [1]
    assert json.loads(get(functions, SHOP, after="2").get_body())["records"] == []


@pytest.mark.parametrize(
    "params", [{"after": "-1"}, {"after": "x"}, {"limit": "0"}, {"limit": "1001"}, {"limit": "1.5"}]
)
def test_bad_parameters_get_a_problem_not_an_error(functions, services, params: dict[str, str]) -> None:
    response = get(functions, SHOP, **params)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert json.loads(response.get_body())["title"] in {"Bad after", "Bad limit"}


def test_an_unknown_store_is_404(functions, services) -> None:
    response = get(functions, "no-such-store")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"


def test_the_demo_spanish_store_invoices_two_orders_and_a_refund_into_one_valid_chain(
    tmp_path: Path, functions: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMO_WOO_SECRET", SECRETS["woocommerce"])
    settings = load_store(ROOT / "config" / "stores" / "demo-woo.yaml")
    assert settings.verifactu.enabled
    services = make_services(tmp_path, **{"demo-woo": settings})
    first = json.loads(fixture_bytes("woocommerce", "order_created"))
    second = {**first, "id": first["id"] + 1, "number": f"{first['number']}-2", "order_key": "wc_order_second"}
    refunded = fixture_bytes("woocommerce", "order_updated_refunded")
    for topic, raw in (
        ("order.created", json.dumps(first).encode()),
        ("order.created", json.dumps(second).encode()),
        ("order.updated", refunded),
    ):
        assert (
            http_status(
                receive_webhook(services, "woocommerce", "demo-woo", raw, webhook_headers("woocommerce", topic, raw))
            )
            == 202
        )
        services.bus.drain(services)  # type: ignore[attr-defined]
    override_services(services)
    try:
        records = json.loads(get(functions, "demo-woo").get_body())["records"]
    finally:
        override_services(None)
    invoices = [d.number for o in (first, second) for d in services.state.get_order("demo-woo", str(o["id"])).documents]
    assert sorted(r["invoice_number"] for r in records) == sorted(invoices)
    assert len(records) == 3  # two invoices and the refund's credit note
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert all(validation_errors(r["xml"]) == [] for r in records)
    kept = services.state.list_verifactu_records("B12345674")
    assert chain_breaks(kept) == []
    credit = next(r for r in kept if r.invoice_type in ("R1", "R5"))
    assert "<sf:TipoRectificativa>I</sf:TipoRectificativa>" in credit.xml and credit.total < 0
