"""SKU map import/export, unmapped SKUs, and the dry run that changes nothing."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from shared.errors import BadRequest
from shared.handlers.catalog import export_sku_map, import_sku_map, parse_sku_map, unmapped_skus
from shared.handlers.intake import receive_webhook
from shared.handlers.operations import retry_order
from shared.handlers.simulate import simulate_order
from tests.support import FakeTarget, fixture_bytes, http_status, make_services, webhook_headers


@pytest.fixture
def services(tmp_path: Path):
    return make_services(tmp_path, FakeTarget())


def files_digest(folder: Path) -> dict[str, str]:
    """Every state file byte for byte; SQLite's -shm is a shared-memory index that readers touch, not state."""
    files = [p for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith("-shm")]
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_csv_round_trip(services):
    csv_body = b"sku,variant_id,item_code\nBLUE-MUG-350ML,,MUG-BLUE-350\nTEE-ORG-M,815,TEE-ORGANIC-M-BLACK\n"
    assert import_sku_map(services, "demo-woo", csv_body, "text/csv") == {
        "store_id": "demo-woo",
        "count": 2,
        "uploaded_by": "operator",
    }
    body, content_type = export_sku_map(services, "demo-woo", as_json=False)
    assert content_type.startswith("text/csv")
    assert body == (
        "sku,variant_id,product_id,item_code\n"
        '"BLUE-MUG-350ML","","","MUG-BLUE-350"\n"TEE-ORG-M","815","","TEE-ORGANIC-M-BLACK"\n'
    )
    assert parse_sku_map(body.encode(), "text/csv") == services.state.get_sku_map("demo-woo")
    as_json, _ = export_sku_map(services, "demo-woo", as_json=True)
    assert json.loads(as_json) == {"BLUE-MUG-350ML": "MUG-BLUE-350", "TEE-ORG-M:815": "TEE-ORGANIC-M-BLACK"}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"code,name\nA,B\n", "header row"),
        (b"sku,item_code\nA,\n", "item_code is empty for SKU A"),
        (b"sku,item_code\nA,X\nA,Y\n", "appears twice"),
        (b'{"A": ""}', "entry 1: item_code is empty for SKU A"),
        (b"[1]", "list of objects"),
        (b"{oops", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_bad_sku_maps_are_refused_and_nothing_is_stored(services, body, detail):
    before = services.state.get_sku_map("demo-woo")
    with pytest.raises(BadRequest) as refused:
        import_sku_map(services, "demo-woo", body, "")
    assert http_status(refused.value) == 400 and detail in refused.value.detail
    assert services.state.get_sku_map("demo-woo") == before


def test_json_list_form_is_accepted():
    assert parse_sku_map(b'[{"sku": "A", "item_code": "X"}]', "application/json") == {"A": "X"}


def test_unmapped_sku_holds_the_order_until_the_map_is_uploaded_and_retried(services):
    services.state.put_sku_map("demo-woo", {}, replace=True)
    body = fixture_bytes("woocommerce", "order_created")
    receive_webhook(services, "woocommerce", "demo-woo", body, webhook_headers("woocommerce", "order.created", body))
    services.bus.drain(services)
    order_id = str(json.loads(body)["id"])
    record = services.state.get_order("demo-woo", order_id)
    assert record.state == "held"
    waiting = unmapped_skus(services, "demo-woo")
    assert {w["sku"] for w in waiting} >= {"BLUE-MUG-350ML"}
    assert all(order_id in w["orders"] for w in waiting)
    csv_lines = "\n".join(f"{w['sku']},,CODE-{i}" for i, w in enumerate(waiting))
    import_sku_map(services, "demo-woo", f"sku,variant_id,item_code\n{csv_lines}\n".encode(), "text/csv")
    retry_order(services, "demo-woo", order_id)
    services.bus.drain(services)
    assert services.state.get_order("demo-woo", order_id).state == "invoiced"
    assert unmapped_skus(services, "demo-woo") == []


def test_simulate_returns_order_problems_and_invoice_and_changes_nothing(services, tmp_path):
    body = fixture_bytes("woocommerce", "order_created")
    receive_webhook(services, "woocommerce", "demo-woo", body, webhook_headers("woocommerce", "order.created", body))
    services.bus.drain(services)
    before = files_digest(tmp_path)
    result = simulate_order(services, "demo-woo", body)
    assert files_digest(tmp_path) == before
    assert result["order"]["order_id"] == str(json.loads(body)["id"])
    assert result["problems"] == [] and result["would_hold"] is False
    assert result["invoice"]["xml"].startswith("<?xml")
    assert result["invoice"]["payable"] in {str(json.loads(body)["total"]), "0.00"}


def test_simulate_explains_problems_without_holding_anything(services):
    services.state.put_sku_map("demo-woo", {}, replace=True)
    before = services.state.dump()
    result = simulate_order(services, "demo-woo", fixture_bytes("woocommerce", "order_created"))
    assert services.state.dump() == before
    assert "unmapped_sku" in {p["code"] for p in result["problems"]}
    assert all(p["message_es"] for p in result["problems"])


@pytest.mark.parametrize(("store_id", "body", "status"), [("nowhere", b"{}", 404), ("demo-woo", b"[]", 400)])
def test_simulate_refuses_bad_input(services, store_id, body, status):
    with pytest.raises(BadRequest) as refused:
        simulate_order(services, store_id, body)
    assert http_status(refused.value) == status


def test_payment_method_transform_sets_the_invoice_payment_means(tmp_path):
    from tests.support import store_settings

    transforms = {"transforms": {"payment_terms": {"stripe": "48", "*": "58"}}}
    settings = store_settings("demo-woo", "woocommerce", rules=transforms)  # default means: ZZZ
    services = make_services(tmp_path, None, woo=settings)
    order = json.loads(fixture_bytes("woocommerce", "order_created"))
    order["payment_method"] = "stripe"
    xml = simulate_order(services, "demo-woo", json.dumps(order).encode())["invoice"]["xml"]
    assert re.search(r"<cbc:PaymentMeansCode[^>]*>48</cbc:PaymentMeansCode>", xml)
    # 58 (SEPA credit transfer) needs the seller's IBAN: the dry run says so instead of writing a bad invoice.
    order["payment_method"] = "bacs"
    result = simulate_order(services, "demo-woo", json.dumps(order).encode())
    assert result["invoice"] is None and result["invoice_problem"]["code"] == "seller_iban_missing"


def test_simulate_names_the_kind_of_document_a_consumer_and_a_company_on_peppol_get(services):
    company = json.loads(fixture_bytes("woocommerce", "order_created"))  # a Spanish company with its VAT id
    consumer = json.loads(json.dumps(company))
    consumer["meta_data"], consumer["billing"]["company"] = [], ""

    on_peppol = simulate_order(services, "demo-woo", json.dumps(company).encode())["invoice"]
    plain = simulate_order(services, "demo-woo", json.dumps(consumer).encode())["invoice"]

    assert on_peppol["format"] == "UBL 2.1 / Peppol BIS Billing 3.0"
    assert plain["format"] == "UBL 2.1 / EN 16931"
