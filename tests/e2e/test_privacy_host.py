"""End to end through the local host: a WooCommerce order is invoiced, then its customer is erased over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local.host import RunningHost
from tests.support import SKU_MAP, fixture_bytes, in_process_host, wait_until, webhook_headers, write_store_file

WOO_ORDER = "5123"


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    base = tmp_path_factory.mktemp("privacy-host")
    stores = base / "stores"
    stores.mkdir()
    write_store_file(stores, "demo-woo", "woocommerce", sku_map=SKU_MAP, retention={"personal_data_days": 60})
    with in_process_host(base, stores) as running:
        yield running


def order(host: RunningHost) -> dict[str, Any]:
    response = requests.get(f"{host.url}/api/orders/demo-woo/{WOO_ORDER}", timeout=10)
    return response.json() if response.status_code == 200 else {}


def test_an_invoiced_customer_is_erased_over_http_and_the_invoice_stays(host: RunningHost) -> None:
    body = fixture_bytes("woocommerce", "order_created")
    headers = {**webhook_headers("woocommerce", "order.created", body), "Content-Type": "application/json"}
    assert requests.post(f"{host.url}/api/webhooks/woocommerce/demo-woo", data=body, headers=headers, timeout=10).ok
    wait_until(lambda: order(host).get("state") == "invoiced")
    [invoice] = list(Path(host.state_dir, "outbox", "demo-woo").glob("*.xml"))
    issued = invoice.read_bytes()

    refused = requests.post(f"{host.url}/api/stores/demo-woo/erasure", json={"name": "Lucía"}, timeout=10)
    assert refused.status_code == 400 and refused.headers["Content-Type"] == "application/problem+json"

    response = requests.post(
        f"{host.url}/api/stores/demo-woo/erasure", json={"email": "lucia.fernandez@example.com"}, timeout=10
    )
    assert response.status_code == 200, response.text
    assert [o["order_id"] for o in response.json()["orders"]] == [WOO_ORDER]
    assert "lucia" not in response.text.lower()
    detail = order(host)
    assert detail["state"] == "invoiced" and detail["timeline"][-1]["action"] == "privacy.erased"
    assert invoice.read_bytes() == issued and b"B58378431" in issued
