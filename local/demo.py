"""`make demo`: send one signed WooCommerce and one signed Shopify sample order to the running host,
wait for them to be invoiced and print where each invoice went.

The samples are the test fixtures (public payload shapes); secrets come from the same settings the
host reads (local.settings.json, else local.settings.example.json).
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from pathlib import Path

import requests

from local.settings import load_local_settings
from shared.channels.common import sign

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = [
    ("woocommerce", "demo-woo", "DEMO_WOO_SECRET", ROOT / "tests/fixtures/woocommerce/order_created.json"),
    ("shopify", "demo-shopify", "DEMO_SHOPIFY_SECRET", ROOT / "tests/fixtures/shopify/orders_create.json"),
]


def headers_for(channel: str, body: bytes, secret: str) -> dict[str, str]:
    signature = sign(body, secret)
    if channel == "woocommerce":
        return {
            "Content-Type": "application/json",
            "X-WC-Webhook-Topic": "order.created",
            "X-WC-Webhook-Resource": "order",
            "X-WC-Webhook-Event": "created",
            "X-WC-Webhook-Signature": signature,
            "X-WC-Webhook-ID": "1",
            "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
            "X-WC-Webhook-Source": "https://ceramica-azul.example/",
        }
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Hmac-Sha256": signature,
        "X-Shopify-Shop-Domain": "teytetera.myshopify.com",
        "X-Shopify-API-Version": "2025-07",
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "X-Shopify-Event-Id": str(uuid.uuid4()),
        "X-Shopify-Triggered-At": "2026-11-28T10:00:00Z",
    }


def main() -> int:
    load_local_settings(ROOT)
    base = f"http://127.0.0.1:{os.environ.get('PORT', '7071')}/api"
    sent = []
    for channel, store_id, secret_name, sample in SAMPLES:
        body = sample.read_bytes()
        try:
            response = requests.post(
                f"{base}/webhooks/{channel}/{store_id}",
                data=body,
                headers=headers_for(channel, body, os.environ[secret_name]),
                timeout=10,
            )
        except requests.ConnectionError:
            print(f"Nothing answers at {base}: start the local host with `make run` first.", file=sys.stderr)
            return 1
        order_id = str(json.loads(body)["id"])
        print(f"{channel:12} {store_id:13} order {order_id}: HTTP {response.status_code} {response.text}")
        sent.append((store_id, order_id))
    deadline = time.monotonic() + 30
    pending = list(sent)
    while pending and time.monotonic() < deadline:
        time.sleep(0.5)
        for store_id, order_id in list(pending):
            detail = requests.get(f"{base}/orders/{store_id}/{order_id}", timeout=10)
            if detail.status_code == 200 and detail.json()["state"] not in ("received", "validated"):
                pending.remove((store_id, order_id))
                data = detail.json()
                documents = ", ".join(f"{d['kind']} {d['number']} at {d['location']}" for d in data["documents"])
                print(f"{store_id}/{order_id}: {data['state']} {documents}")
                for problem in data["problems"]:
                    print(f"  {problem['code']}: {problem['message_en']}")
    if pending:
        print(f"still pending after 30 s: {pending}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
