"""Shopify Admin REST API, outbound: one order read back and the changed-order list, authenticated with
X-Shopify-Access-Token. Refund lines come with the refunds/create webhook, so nothing is fetched for them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

from shared.channels.store_api import order_json, store_get, store_request
from shared.domain.order import Refund
from shared.stores import StoreSettings


def can_fetch_refunds(settings: StoreSettings) -> bool:
    """Never needed: a Shopify refund webhook carries its lines."""
    return False


def can_poll(settings: StoreSettings) -> bool:
    """Whether the catch-up poll has what it needs to list this store's orders."""
    return bool(settings.api.base_url and settings.api.access_token)


def fetch_refund(settings: StoreSettings, order_id: str, refund_id: str) -> Refund:
    """Not offered (can_fetch_refunds is False): callers ask can_fetch_refunds first."""
    raise NotImplementedError("Shopify refund webhooks carry their lines; there is nothing to fetch")


def cancelled_in_store(settings: StoreSettings, order_id: str) -> bool:
    """GET /admin/api/<version>/orders/<id>.json answers {"order": {...}} with `cancelled_at` set once cancelled;
    a 404 is not read as a cancellation (Shopify also deletes archived orders)."""
    api = settings.api
    url = f"{api.base_url.rstrip('/')}/admin/api/{api.api_version}/orders/{quote(order_id, safe='')}.json"
    response = store_request(url, headers={"X-Shopify-Access-Token": api.access_token})
    if response.status_code == 404:
        return False
    order = order_json(response, f"order {order_id}", f"el pedido {order_id}").get("order")
    return isinstance(order, dict) and order.get("cancelled_at") not in (None, "")


def changed_orders(settings: StoreSettings, stamp: str, max_pages: int) -> Iterator[bytes]:
    """GET /admin/api/<version>/orders.json?updated_at_min=…&status=any, paged by the `Link: <…>; rel="next"`
    header (cursor-based page_info)."""
    api = settings.api
    url: str | None = f"{api.base_url.rstrip('/')}/admin/api/{api.api_version}/orders.json"
    params_first: dict[str, str] | None = {"updated_at_min": f"{stamp}Z", "status": "any", "limit": "250"}
    headers = {"X-Shopify-Access-Token": api.access_token}
    for _ in range(max_pages):
        if url is None:
            return
        response = store_get(url, "the order list", "la lista de pedidos", params=params_first, headers=headers)
        params_first = None  # the next-page link carries its own query
        yield from (json.dumps(item).encode() for item in response.json().get("orders", []))
        url = response.links.get("next", {}).get("url")
