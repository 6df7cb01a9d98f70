"""A refused store file next to a good one, through the real local host: in process over HTTP on
127.0.0.1 (health, webhooks, the dashboard) and as `python -m local`, which says so in its first lines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local.harness import HostProcess, free_port, wait_for
from local.host import RunningHost
from tests.support import SKU_MAP, fixture_bytes, in_process_host, webhook_headers, write_store_file

WOO_ORDER = "5123"
SHORT_SECRET = "shpss_short"


def stores_with_one_refused(folder: Path) -> Path:
    folder.mkdir(parents=True)
    write_store_file(folder, "demo-woo", "woocommerce", sku_map=SKU_MAP)
    write_store_file(folder, "demo-shopify", "shopify", webhook_secret=SHORT_SECRET)
    return folder


@pytest.fixture
def host(tmp_path: Path) -> Iterator[RunningHost]:
    with in_process_host(tmp_path, stores_with_one_refused(tmp_path / "stores")) as running:
        yield running


def post_order(host: RunningHost, channel: str, store_id: str, topic: str, fixture: str, secret: str | None) -> Any:
    body = fixture_bytes(channel, fixture)
    headers = {**webhook_headers(channel, topic, body, secret=secret), "Content-Type": "application/json"}
    return requests.post(f"{host.url}/api/webhooks/{channel}/{store_id}", data=body, headers=headers, timeout=10)


def order_state(host: RunningHost, store_id: str, order_id: str) -> str:
    response = requests.get(f"{host.url}/api/orders/{store_id}/{order_id}", timeout=10)
    return str(response.json().get("state", "")) if response.status_code == 200 else ""


def test_a_refused_store_file_is_reported_and_refused_while_the_other_store_invoices(host: RunningHost) -> None:
    health = requests.get(f"{host.url}/api/health", timeout=10)
    assert health.status_code == 503
    [refused] = health.json()["checks"]["store_files"]
    assert (refused["file"], refused["key"]) == ("demo-shopify.yaml", "webhook_secret")
    assert "shorter than 16 characters" in refused["reason"]

    refused_webhook = post_order(host, "shopify", "demo-shopify", "orders/create", "orders_create", SHORT_SECRET)
    assert refused_webhook.status_code == 503
    assert refused_webhook.headers["Content-Type"] == "application/problem+json"
    assert "demo-shopify.yaml: webhook_secret" in refused_webhook.json()["detail"]

    accepted = post_order(host, "woocommerce", "demo-woo", "order.created", "order_created", None)
    assert accepted.status_code == 202, accepted.text
    assert wait_for(lambda: order_state(host, "demo-woo", WOO_ORDER) == "invoiced", timeout=30)
    listed = requests.get(f"{host.url}/api/orders", params={"store": "demo-shopify"}, timeout=10).json()
    assert listed["count"] == 0  # the refused delivery left nothing behind

    page = requests.get(f"{host.url}/api/dashboard", params={"lang": "es"}, timeout=10)
    assert page.status_code == 200
    assert "Configuración de tienda no cargada" in page.text and "demo-shopify.yaml" in page.text


@pytest.mark.slow
def test_python_m_local_names_the_refused_file_in_its_first_lines(tmp_path: Path) -> None:
    stores = stores_with_one_refused(tmp_path / "stores")
    state = tmp_path / "state"
    state.mkdir()
    process = HostProcess(state, stores, port=free_port(), env_overrides={"PYTHONUNBUFFERED": "1"})
    try:
        process.start()
        assert process.log_path is not None
        log_path = process.log_path
        assert wait_for(lambda: _lines_until_dashboard(log_path) is not None, timeout=30)
        lines = _lines_until_dashboard(log_path) or []
    finally:
        process.stop()
    printed = [line for line in lines if not line[:4].isdigit()]  # print() lines, not log records
    assert printed[0].startswith("STORE NOT LOADED: demo-shopify")
    assert printed[1].strip().startswith("demo-shopify.yaml: webhook_secret: is shorter than 16 characters")
    assert any(line.startswith("Local host on http://127.0.0.1:") for line in printed[2:])
    assert SHORT_SECRET not in "".join(lines)


def _lines_until_dashboard(log_path: Path) -> list[str] | None:
    lines = log_path.read_text(encoding="utf-8").splitlines()
    return lines if any(line.startswith("Dashboard: ") for line in lines) else None
