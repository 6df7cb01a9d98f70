"""The real function app behind the local host's edge (127.0.0.1): the dashboard's Content-Security-Policy
and frame protection arrive as HTTP headers, JSON answers are not sniffed, a page on another site can
neither write (cross-site Origin) nor read through DNS rebinding (foreign Host), and stores still can."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests

from local.host import RunningHost
from tests.support import fixture_bytes, in_process_host, webhook_headers, write_store_file

SKU_MAP_CSV = b"sku,item_code\nBLUE-MUG-350ML,MUG-BLUE-350\n"


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    base = tmp_path_factory.mktemp("security-host")
    stores = base / "stores"
    stores.mkdir()
    write_store_file(stores, "demo-woo", "woocommerce")
    with in_process_host(base, stores) as running:
        yield running


def directives(policy: str) -> dict[str, str]:
    parts = (part.strip().split(None, 1) for part in policy.split(";") if part.strip())
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


def test_dashboard_sends_its_content_security_policy_and_frame_protection_as_headers(host: RunningHost) -> None:
    first = requests.get(f"{host.url}/api/dashboard?lang=en", timeout=30)
    second = requests.get(f"{host.url}/api/dashboard?lang=en", timeout=30)

    assert first.status_code == 200
    policy = directives(first.headers["Content-Security-Policy"])
    assert policy["frame-ancestors"] == "'none'"
    assert policy["default-src"] == "'none'"
    [nonce] = re.findall(r"'nonce-([^']+)'", policy["script-src"])
    assert policy["script-src"] == f"'nonce-{nonce}'", "no inline script but by nonce"
    assert policy["style-src"] == f"'nonce-{nonce}'"
    # The page's script and style are its own files, each carrying the header's nonce; nothing inline (the JSON
    # data block runs no code).
    scripts = re.findall(r"<script([^>]*)>", first.text)
    assert [attrs for attrs in scripts if 'type="application/json"' not in attrs] == [
        f' src="/api/dashboard/static/dashboard.js" nonce="{nonce}"'
    ]
    assert re.findall(r"<style([^>]*)>", first.text) == []
    assert re.findall(r'<link rel="stylesheet"([^>]*)>', first.text) == [
        f' href="/api/dashboard/static/dashboard.css" nonce="{nonce}"'
    ]
    assert re.search(r"<[a-z][^>]*\son[a-z]+\s*=", first.text) is None, "an inline event handler would be blocked"
    assert first.headers["X-Content-Type-Options"] == "nosniff"
    assert first.headers["X-Frame-Options"] == "DENY"
    assert re.findall(r"'nonce-([^']+)'", second.headers["Content-Security-Policy"]) != [nonce], "nonce reused"


def test_the_dashboard_files_are_served_by_the_local_host_with_their_types(host: RunningHost) -> None:
    script = requests.get(f"{host.url}/api/dashboard/static/dashboard.js", timeout=10)
    style = requests.get(f"{host.url}/api/dashboard/static/dashboard.css", timeout=10)
    other = requests.get(f"{host.url}/api/dashboard/static/view.py", timeout=10)

    assert (script.status_code, script.headers["Content-Type"]) == (200, "text/javascript; charset=utf-8")
    assert (style.status_code, style.headers["Content-Type"]) == (200, "text/css; charset=utf-8")
    assert script.headers["X-Content-Type-Options"] == "nosniff"
    assert other.status_code == 404 and other.headers["Content-Type"] == "application/problem+json"


def test_json_and_problem_answers_are_not_sniffed(host: RunningHost) -> None:
    listing = requests.get(f"{host.url}/api/orders?store=demo-woo", timeout=10)
    missing = requests.get(f"{host.url}/api/orders/demo-woo/404404", timeout=10)

    assert listing.status_code == 200 and listing.headers["Content-Type"].startswith("application/json")
    assert missing.status_code == 404 and missing.headers["Content-Type"] == "application/problem+json"
    assert listing.headers["X-Content-Type-Options"] == missing.headers["X-Content-Type-Options"] == "nosniff"


def test_sku_map_upload_from_another_site_is_refused_and_stores_nothing(host: RunningHost) -> None:
    url = f"{host.url}/api/stores/demo-woo/sku-map"
    before = requests.get(url, timeout=10).content

    refused = requests.put(
        url, data=SKU_MAP_CSV, headers={"Content-Type": "text/csv", "Origin": "http://evil.example"}, timeout=10
    )

    assert refused.status_code == 403
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert requests.get(url, timeout=10).content == before
    own = requests.put(url, data=SKU_MAP_CSV, headers={"Content-Type": "text/csv", "Origin": host.url}, timeout=10)
    assert own.status_code == 200
    assert b"BLUE-MUG-350ML" in requests.get(url, timeout=10).content


def test_store_webhook_without_origin_is_accepted(host: RunningHost) -> None:
    body = fixture_bytes("woocommerce", "order_created")
    headers = {**webhook_headers("woocommerce", "order.created", body), "Content-Type": "application/json"}

    response = requests.post(f"{host.url}/api/webhooks/woocommerce/demo-woo", data=body, headers=headers, timeout=10)

    assert response.status_code == 202


def test_dashboard_is_not_served_to_a_rebound_host_name(host: RunningHost) -> None:
    response = requests.get(f"{host.url}/api/dashboard", headers={"Host": "evil.example:7071"}, timeout=10)

    assert response.status_code == 421
    assert "<html" not in response.text
