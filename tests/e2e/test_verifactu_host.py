"""End to end through the local host: the demo Spanish store (config/stores/demo-woo.yaml, VERI*FACTU on) gets
an order and its refund over HTTP, and its chained records are read back through the API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local.host import RunningHost
from shared.fiscal.verifactu.records import recomputed_hash, validation_errors
from tests.support import demo_store_host, fixture_bytes, webhook_headers

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningHost]:
    with demo_store_host(tmp_path, monkeypatch) as running:
        yield running


def post(host: RunningHost, topic: str, fixture: str) -> None:
    body = fixture_bytes("woocommerce", fixture)
    headers = {**webhook_headers("woocommerce", topic, body), "Content-Type": "application/json"}
    response = requests.post(f"{host.url}/api/webhooks/woocommerce/demo-woo", data=body, headers=headers, timeout=10)
    assert response.status_code == 202, response.text


def records_when(host: RunningHost, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while True:
        found = requests.get(f"{host.url}/api/stores/demo-woo/verifactu", timeout=10).json()["records"]
        if len(found) >= count or time.monotonic() > deadline:
            return list(found)
        time.sleep(0.1)


def test_an_order_and_its_refund_become_two_chained_records_read_through_the_api(host: RunningHost) -> None:
    post(host, "order.created", "order_created")
    assert len(records_when(host, 1)) == 1
    post(host, "order.updated", "order_updated_refunded")
    first, second = records_when(host, 2)
    assert (first["seq"], second["seq"]) == (1, 2)
    assert first["previous_hash"] == "" and second["previous_hash"] == first["hash"]
    assert validation_errors(first["xml"]) == [] and validation_errors(second["xml"]) == []
    assert recomputed_hash(second["xml"])[1] == second["hash"]
    order_id = str(json.loads(fixture_bytes("woocommerce", "order_created"))["id"])
    order = requests.get(f"{host.url}/api/orders/demo-woo/{order_id}", timeout=10).json()
    assert [d["number"] for d in order["documents"]] == [first["invoice_number"], second["invoice_number"]]
    assert sum(t["action"] == "verifactu.recorded" for t in order["timeline"]) == 2
    paged = requests.get(f"{host.url}/api/stores/demo-woo/verifactu?after=1&limit=1", timeout=10).json()
    assert [r["seq"] for r in paged["records"]] == [2]


def test_a_bad_limit_is_a_problem_and_changes_nothing(host: RunningHost) -> None:
    response = requests.get(f"{host.url}/api/stores/demo-woo/verifactu?limit=many", timeout=10)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert requests.get(f"{host.url}/api/stores/demo-woo/verifactu", timeout=10).json() == {"records": []}
