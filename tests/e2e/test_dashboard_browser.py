"""The dashboard in headless Chromium against the real local host (in-process, 127.0.0.1): a held order
explained in Spanish, its cause fixed by uploading the SKU map, Retry until invoiced, English, the order
detail with its timeline, and a screenshot. State is made by signed webhooks through the real pipeline."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local.host import RunningHost
from tests.support import fixture_bytes, in_process_host, wait_until, webhook_headers, write_store_file

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed in the venv")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Debian's chromium, never a downloaded browser; no network beyond 127.0.0.1.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WOO_ORDER = "5123"
SHOPIFY_ORDER = "9007199254740993"
SECOND_SHOPIFY_ORDER = "9007199254740995"
SKU_MAP_CSV = b"sku,item_code\nBLUE-MUG-350ML,MUG-BLUE-350\nTEE-ORG-M,TEE-ORGANIC-M\n"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="no Chromium: apt-get install chromium")


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    """demo-woo maps every SKU (its order is invoiced); demo-shopify maps none yet (its order is held)."""
    base = tmp_path_factory.mktemp("dashboard-host")
    stores = base / "stores"
    stores.mkdir()
    write_store_file(
        stores,
        "demo-woo",
        "woocommerce",
        name="Cerámica Azul",
        sku_map=dict(csv_rows(SKU_MAP_CSV)),
        invoice={"invoice_prefix": "CA-2026-"},
    )
    write_store_file(stores, "demo-shopify", "shopify", name="Té y Tetera", invoice={"invoice_prefix": "TT-"})
    with in_process_host(base, stores) as running:
        yield running


def csv_rows(body: bytes) -> list[tuple[str, str]]:
    lines = body.decode().strip().splitlines()[1:]
    return [(sku, code) for sku, code in (line.split(",") for line in lines)]


def order_state(host: RunningHost, store_id: str, order_id: str) -> str:
    response = requests.get(f"{host.url}/api/orders/{store_id}/{order_id}", timeout=10)
    return str(response.json().get("state", "")) if response.status_code == 200 else ""


@pytest.fixture(scope="module")
def orders(host: RunningHost) -> None:
    for channel, store_id, topic, fixture in (
        ("woocommerce", "demo-woo", "order.created", "order_created"),
        ("shopify", "demo-shopify", "orders/create", "orders_create"),
    ):
        body = fixture_bytes(channel, fixture)
        response = requests.post(
            f"{host.url}/api/webhooks/{channel}/{store_id}",
            data=body,
            headers={**webhook_headers(channel, topic, body), "Content-Type": "application/json"},
            timeout=10,
        )
        assert response.status_code == 202, response.text
    wait_until(lambda: order_state(host, "demo-woo", WOO_ORDER) == "invoiced", timeout=30.0, interval=0.1)
    wait_until(lambda: order_state(host, "demo-shopify", SHOPIFY_ORDER) == "held", timeout=30.0, interval=0.1)


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
            page = context.new_page()
            page.set_default_timeout(30_000)
            # Script errors and CSP refusals both surface here; the page must produce none.
            page.errors = []  # type: ignore[attr-defined]
            page.on("pageerror", lambda error: page.errors.append(str(error)))  # type: ignore[attr-defined]
            page.on(
                "console",
                lambda message: page.errors.append(message.text) if message.type == "error" else None,  # type: ignore[attr-defined]
            )
            yield page
        finally:
            browser.close()


def visible_orders(page: Any) -> list[str]:
    return [str(group.get_attribute("data-order")) for group in page.locator("tbody.order:visible").all()]


def test_the_page_runs_only_its_own_files_under_the_content_security_policy(
    host: RunningHost, orders: None, page: Any
) -> None:
    response = page.goto(f"{host.url}/api/dashboard?lang=en")

    policy = response.headers["content-security-policy"]
    nonce = page.locator("script[src]").evaluate("script => script.nonce")  # the attribute reads "" (nonce hiding)
    assert f"script-src 'nonce-{nonce}'" in policy and "frame-ancestors 'none'" in policy
    # The stylesheet file applied (white header on a grey page) and the script file ran (it set the links).
    colours = page.evaluate(
        "() => [getComputedStyle(document.body).backgroundColor,"
        " getComputedStyle(document.querySelector('header')).backgroundColor]"
    )
    assert colours == ["rgb(246, 247, 249)", "rgb(255, 255, 255)"]
    assert page.locator("a.download").first.get_attribute("href").startswith("/api/stores/")
    assert page.errors == []  # type: ignore[attr-defined]
    # Anything injected inline is refused by the browser.
    ran = page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.injected = 1';"
        " document.body.appendChild(s); return window.injected === 1; }"
    )
    assert ran is False
    assert any("Content Security Policy" in error for error in page.errors)  # type: ignore[attr-defined]


def test_filters_narrow_the_orders_by_state_store_and_search(host: RunningHost, orders: None, page: Any) -> None:
    expect = playwright_sync.expect
    page.goto(f"{host.url}/api/dashboard?lang=es")
    assert sorted(visible_orders(page)) == sorted([SHOPIFY_ORDER, WOO_ORDER])

    # A state card keeps the language and shows that state only.
    page.locator('nav.counts a[data-state="held"]').click()
    expect(page.locator('nav.counts a[data-state="held"]')).to_have_class("count state-held active")
    assert visible_orders(page) == [SHOPIFY_ORDER]
    expect(page.locator("html")).to_have_attribute("lang", "es")

    # The store filter, from every state.
    page.locator("nav.counts a.all").click()
    page.locator("form.filters select").select_option("demo-woo")
    page.locator("form.filters button[type=submit]").click()
    expect(page.locator("form.filters select")).to_have_value("demo-woo")
    assert visible_orders(page) == [WOO_ORDER]
    assert [a.get_attribute("data-store") for a in page.locator("article.store").all()] == ["demo-woo"]

    # The search box hides rows in the page without asking the server.
    page.goto(f"{host.url}/api/dashboard?lang=en")
    page.locator("#search").fill("#1001")
    expect(page.locator(f'tbody.order[data-order="{WOO_ORDER}"]')).to_be_hidden()
    assert visible_orders(page) == [SHOPIFY_ORDER]
    page.locator("#search").fill("")
    expect(page.locator(f'tbody.order[data-order="{WOO_ORDER}"]')).to_be_visible()
    assert page.errors == []  # type: ignore[attr-defined]


def test_business_user_fixes_a_held_order_from_the_spanish_dashboard(
    host: RunningHost, orders: None, page: Any, tmp_path: Path
) -> None:
    expect = playwright_sync.expect
    page.goto(f"{host.url}/api/dashboard?lang=es")

    held = page.locator(f'tbody.order[data-order="{SHOPIFY_ORDER}"]')
    invoiced = page.locator(f'tbody.order[data-order="{WOO_ORDER}"]')
    expect(held.locator(".badge")).to_have_text("Retenido")
    expect(held.locator(".problems")).to_contain_text(
        "no está asociado a ningún artículo del sistema de facturación. Añádalo a la tabla de SKU"
    )
    expect(held.locator(".problems .facts").first).to_contain_text("encontrado: BLUE-MUG-350ML")
    expect(invoiced.locator(".documents")).to_contain_text("Factura CA-2026-000001")
    # Held orders come first, whatever changed last.
    assert page.locator("tbody.order").first.get_attribute("data-order") == SHOPIFY_ORDER
    expect(invoiced.locator("button.retry")).to_be_hidden()
    panel = page.locator('article.store[data-store="demo-shopify"]')
    expect(panel.locator(".unmapped")).to_contain_text("BLUE-MUG-350ML")
    (tmp_path / "held-es.png").write_bytes(page.screenshot(full_page=True))

    # Retrying before the cause is fixed holds the order again, and says so.
    held.locator("button.retry").click()
    expect(held.locator(".badge")).to_have_text("Retenido", timeout=30_000)
    expect(held.locator("button.retry")).to_be_visible()
    expect(held.locator("button.retry")).to_be_enabled()

    # A file without the header line is refused with the reason, and nothing is stored.
    panel.locator("input[type=file]").set_input_files(
        {"name": "mapa.csv", "mimeType": "text/csv", "buffer": b"BLUE-MUG-350ML;MUG-BLUE-350\n"}
    )
    panel.locator("button[type=submit]").click()
    expect(panel.locator("output")).to_contain_text("El archivo no se ha aceptado: ")
    expect(panel.locator("output")).to_contain_text("item_code")
    page.errors.clear()  # type: ignore[attr-defined]  # the browser logs the refused PUT (400)

    # Fix the cause: upload the SKU map for the store, then retry.
    panel.locator("input[type=file]").set_input_files(
        {"name": "sku-map.csv", "mimeType": "text/csv", "buffer": SKU_MAP_CSV}
    )
    panel.locator("button[type=submit]").click()
    expect(panel.locator("output")).to_have_text("Tabla guardada: 2 SKU. Reintente ahora los pedidos retenidos.")
    held.locator("button.retry").click()
    expect(held.locator(".badge")).to_have_text("Facturado", timeout=30_000)
    expect(held.locator(".documents")).to_contain_text("Factura TT-000001")
    expect(held.locator(".problems-row")).to_be_hidden()
    expect(held.locator("button.retry")).to_be_hidden()
    assert order_state(host, "demo-shopify", SHOPIFY_ORDER) == "invoiced"

    # English, then the order's detail with its timeline.
    page.locator("a.language").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Orders")
    page.locator(f'tbody.order[data-order="{SHOPIFY_ORDER}"] a.order-link').click()
    detail = page.locator("section.detail")
    expect(detail.locator("h2")).to_contain_text("Order #1001")
    expect(detail.locator("h2 .badge")).to_have_text("Invoiced")
    timeline = detail.locator("table.timeline tbody tr")
    expect(timeline.first).to_contain_text("Order received")
    actions = [" ".join(text.split()) for text in timeline.locator("td:nth-child(3)").all_inner_texts()]
    retry = "Retry requested retry.requested"
    assert actions == ["Order received order.received", "Held", retry, "Held", retry, "Validated", "Invoiced"]
    expect(timeline.first.locator("td").first).to_contain_text(" UTC")
    expect(detail.locator(".documents-table")).to_contain_text("TT-000001")

    shot = tmp_path / "detail-en.png"
    shot.write_bytes(page.screenshot(full_page=True))
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert page.errors == []  # type: ignore[attr-defined]


def test_retry_of_an_invoiced_order_is_refused_with_the_reason(host: RunningHost, orders: None, page: Any) -> None:
    # The button is hidden for invoiced orders; a stale page could still show it, so force the case.
    page.goto(f"{host.url}/api/dashboard?lang=en&state=invoiced")
    row = page.locator(f'tbody.order[data-order="{WOO_ORDER}"]')
    row.locator("button.retry").evaluate("button => { button.hidden = false; }")
    row.locator("button.retry").click()
    expect = playwright_sync.expect
    expect(row.locator(".error")).to_contain_text("Retry refused: The order is 'invoiced'")
    expect(row.locator(".badge")).to_have_text("Invoiced")
    assert order_state(host, "demo-woo", WOO_ORDER) == "invoiced"
    # The refused POST is the one expected console error (409); nothing else failed.
    assert all("409" in error for error in page.errors)  # type: ignore[attr-defined]


def test_an_order_that_leaves_the_filter_after_its_retry_leaves_the_page(
    host: RunningHost, orders: None, page: Any
) -> None:
    order = json.loads(fixture_bytes("shopify", "orders_create"))
    order.update(id=int(SECOND_SHOPIFY_ORDER), name="#1002", order_number=1002)
    order["line_items"][0]["sku"] = "GREEN-MUG-250ML"
    body = json.dumps(order).encode()
    response = requests.post(
        f"{host.url}/api/webhooks/shopify/demo-shopify",
        data=body,
        headers={**webhook_headers("shopify", "orders/create", body), "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    wait_until(lambda: order_state(host, "demo-shopify", SECOND_SHOPIFY_ORDER) == "held", timeout=30.0, interval=0.1)
    page.goto(f"{host.url}/api/dashboard?lang=en&state=held")
    row = page.locator(f'tbody.order[data-order="{SECOND_SHOPIFY_ORDER}"]')
    playwright_sync.expect(row.locator(".problems")).to_contain_text("GREEN-MUG-250ML")

    mapped = requests.put(
        f"{host.url}/api/stores/demo-shopify/sku-map",
        data=SKU_MAP_CSV + b"GREEN-MUG-250ML,MUG-GREEN-250\n",
        headers={"Content-Type": "text/csv; charset=utf-8"},
        timeout=10,
    )
    assert mapped.status_code == 200, mapped.text
    row.locator("button.retry").click()

    # Invoiced now, so no longer "held": the page shows the filter as it is, without the order.
    playwright_sync.expect(row).to_have_count(0, timeout=30_000)
    assert page.url.endswith("state=held")
    assert order_state(host, "demo-shopify", SECOND_SHOPIFY_ORDER) == "invoiced"
    assert page.errors == []  # type: ignore[attr-defined]
