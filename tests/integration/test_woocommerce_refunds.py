"""A new refund on a WooCommerce order becomes a UBL credit note for exactly the refunded lines.

The refund lines come from the WooCommerce REST v3 refund resource. No WooCommerce can run here, so the
API is a loopback HTTP server answering with a payload in the documented shape (tests/fixtures); the
request path and Basic credentials it receives are asserted.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from lxml import etree

from shared.handlers.intake import receive_webhook
from tests.support import fixture_bytes, make_services, store_settings, webhook_headers

NS = {
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
}


@pytest.fixture
def woocommerce_api() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    seen: list[tuple[str, str]] = []
    refund = fixture_bytes("woocommerce", "refund")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("Authorization", "")))
            ok = self.path == "/wp-json/wc/v3/orders/5123/refunds/5140"
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(refund if ok else b'{"code": "woocommerce_rest_invalid_id"}')

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_woocommerce_refund_is_credited_line_by_line(tmp_path: Path, woocommerce_api):
    base_url, seen = woocommerce_api
    settings = store_settings(
        "demo-woo",
        "woocommerce",
        api={"base_url": base_url, "consumer_key": "ck_test", "consumer_secret": "cs_test"},
    )
    services = make_services(tmp_path, None, woo=settings)
    created = fixture_bytes("woocommerce", "order_created")
    refunded = fixture_bytes("woocommerce", "order_updated_refunded")
    for topic, body in (("order.created", created), ("order.updated", refunded)):
        receive_webhook(services, "woocommerce", "demo-woo", body, webhook_headers("woocommerce", topic, body))
    services.bus.drain(services)

    record = services.state.get_order("demo-woo", "5123")
    credit = record.document("credit_note", "5140")
    assert credit is not None, record.problems
    assert seen == [
        ("/wp-json/wc/v3/orders/5123/refunds/5140", "Basic " + base64.b64encode(b"ck_test:cs_test").decode())
    ]
    xml = etree.fromstring((tmp_path / "outbox" / "demo-woo" / f"{credit.number}.xml").read_bytes())
    lines = xml.findall("cac:CreditNoteLine", NS)
    refund = json.loads(fixture_bytes("woocommerce", "refund"))
    assert len(lines) == len(refund["line_items"])
    assert lines[0].findtext("cac:Item/cac:SellersItemIdentification/cbc:ID", namespaces=NS) == "MUG-BLUE-350"
    assert xml.findtext("cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount", namespaces=NS) == refund["amount"]
    assert xml.findtext("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", namespaces=NS) == (
        record.document("invoice").number
    )
    assert "refund.detailed" in [t.action for t in services.state.get_timeline("demo-woo", "5123")]
