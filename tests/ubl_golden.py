"""The UBL documents kept byte for byte in tests/fixtures/ubl/golden: every fixture order and refund as the stores
sent them, and the hand-made orders (coupon and shipping, refund, intra-community supply, unpaid, not subject to VAT).

`python -m tests.ubl_golden` rewrites the files after an intended change to the XML; review the diff before
committing.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from shared.channels import shopify, woocommerce
from shared.domain.order import Order
from shared.domain.records import DocumentRef
from shared.store_files import load_store
from shared.stores import StoreSettings
from shared.targets.ubl.mapper import credit_note_xml, invoice_xml
from tests.fixtures.ubl import orders

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "fixtures" / "ubl" / "golden"
ISSUED = date(2026, 1, 5)
INVOICE = DocumentRef(kind="invoice", number="INV-1", target="ubl", issued_at=datetime(2026, 1, 5, tzinfo=UTC))
_ORDERS = {
    "woocommerce": ["order_created", "order_created_tax_inclusive", "order_updated_refunded"],
    "shopify": ["orders_create", "orders_create_taxes_included", "orders_paid", "orders_cancelled"],
}
_SECRETS = {"DEMO_WOO_SECRET": "not-a-real-webhook-secret", "DEMO_SHOPIFY_SECRET": "not-a-real-webhook-secret"}


def _payload(channel: str, name: str) -> Any:
    return json.loads((ROOT / "tests" / "fixtures" / channel / f"{name}.json").read_text(encoding="utf-8"))


def _stores() -> dict[str, StoreSettings]:
    return {name: load_store(ROOT / "config" / "stores" / f"{name}.yaml") for name in ("demo-woo", "demo-shopify")}


def _parse(channel: str, name: str) -> Order:
    if channel == "woocommerce":
        return woocommerce.parse_order(_payload(channel, name), "demo-woo")
    return shopify.parse_order(_payload(channel, name), "demo-shopify")


def documents() -> dict[str, bytes]:
    """File name → document. Needs the demo stores' secrets in the environment (see _SECRETS)."""
    stores = _stores()
    result: dict[str, bytes] = {}
    for channel, names in _ORDERS.items():
        store = stores["demo-woo" if channel == "woocommerce" else "demo-shopify"]
        for name in names:
            order = _parse(channel, name)
            result[f"{channel}-{name}.xml"] = invoice_xml(
                order, store.seller, store.invoice, "INV-1", ISSUED, store.sku_map
            )
    woo = stores["demo-woo"]
    order = _parse("woocommerce", "order_created")
    refund = woocommerce.parse_refund(order.order_id, _payload("woocommerce", "refund"))
    credit_note = credit_note_xml(order, refund, INVOICE, woo.seller, woo.invoice, "CN-1", ISSUED, {})
    result["woocommerce-refund.xml"] = credit_note
    shop = stores["demo-shopify"]
    for name in _ORDERS["shopify"][:3]:
        order = _parse("shopify", name)
        refund = shopify.parse_refund(_payload("shopify", "refunds_create"), taxes_included=order.prices_include_tax)
        result[f"shopify-refunds_create-{name}.xml"] = credit_note_xml(
            order, refund, INVOICE, shop.seller, shop.invoice, "CN-1", ISSUED, {}
        )
    seller, settings = orders.seller(), orders.invoice_settings(payment_means_code="30", payment_terms="30 days")
    mugs = orders.two_mugs_with_coupon("4.95")
    result["orders-two_mugs_with_coupon.xml"] = invoice_xml(mugs, seller, settings, "INV-1", ISSUED, {})
    refund = orders.partial_refund(mugs)
    result["orders-partial_refund.xml"] = credit_note_xml(mugs, refund, INVOICE, seller, settings, "CN-1", ISSUED, {})
    # A VERI*FACTU store: the same documents with AEAT's validation URL (note and additional document reference).
    result["verifactu-two_mugs_with_coupon.xml"] = invoice_xml(
        mugs, seller, settings, "INV-1", ISSUED, {}, verifactu="test"
    )
    result["verifactu-partial_refund.xml"] = credit_note_xml(
        mugs, refund, INVOICE, seller, settings, "CN-1", ISSUED, {}, verifactu="test"
    )
    french = orders.company("FR", "FR40303265045", "Tasses SARL", "Paris")
    mug = orders.line("101", "BLUE-MUG-350ML", "Blue mug 350 ml", "2", "12.50", rate="0")
    intra = orders.order([mug], customer=french)
    item_codes = {"BLUE-MUG-350ML": "M1"}
    result["orders-intra_community.xml"] = invoice_xml(intra, seller, settings, "INV-1", ISSUED, item_codes)
    unpaid = orders.order([orders.line("102", "TEAPOT-1L-WHITE", "White teapot 1 l", "1", "34.90")], paid=False)
    result["orders-unpaid.xml"] = invoice_xml(unpaid, seller, orders.invoice_settings(), "INV-1", ISSUED, {})
    outside = orders.invoice_settings(default_tax_category="O")
    exempt = orders.order([orders.line("101", "BLUE-MUG-350ML", "Blue mug 350 ml", "1", "12.50", rate="0")])
    result["orders-not_subject_to_vat.xml"] = invoice_xml(exempt, seller, outside, "INV-1", ISSUED, {})
    return result


if __name__ == "__main__":
    import os

    os.environ.update(_SECRETS)
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for file_name, xml in documents().items():
        (GOLDEN / file_name).write_bytes(xml)
        print(file_name, len(xml))
