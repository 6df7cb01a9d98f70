"""WooCommerce REST API v3, outbound: refund line detail, one order read back, and the changed-order list.

The order webhook lists refunds only as {id, reason, total}; the refunded lines live in the refund resource,
GET /wp-json/wc/v3/orders/<order>/refunds/<refund>. Every call authenticates with the store's consumer key and
secret (HTTP Basic over HTTPS).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import quote

import requests

from shared.channels.store_api import order_json, store_get, store_request
from shared.channels.woocommerce.parsing import parse_refund
from shared.domain.order import Refund
from shared.stores import StoreSettings

# Statuses in which an order is gone from the shop's point of view: trashed (what order.deleted reports) or
# cancelled. A permanently deleted order answers 404.
_GONE = {"trash", "cancelled"}


def can_fetch_refunds(settings: StoreSettings) -> bool:
    api = settings.api
    return bool(api.base_url and api.consumer_key and api.consumer_secret)


def can_poll(settings: StoreSettings) -> bool:
    """Whether the catch-up poll has what it needs to list this store's orders."""
    return can_fetch_refunds(settings)


def fetch_refund(settings: StoreSettings, order_id: str, refund_id: str) -> Refund:
    """The refund with its lines. Raises RetryableError for timeouts, 429 and 5xx; PermanentError for
    a refusal (401/403/404) that a retry will not fix."""
    api = settings.api
    url = f"{api.base_url.rstrip('/')}/wp-json/wc/v3/orders/{order_id}/refunds/{refund_id}"
    response = store_get(
        url, f"refund {refund_id}", f"el reembolso {refund_id}", auth=(api.consumer_key, api.consumer_secret)
    )
    return parse_refund(order_id, json.loads(response.content, parse_float=Decimal))


def cancelled_in_store(settings: StoreSettings, order_id: str) -> bool:
    """GET /wp-json/wc/v3/orders/<id> answers 404 with the JSON error code woocommerce_rest_shop_order_invalid_id
    for a deleted order (any other 404, such as a wrong base_url's HTML page, is a refusal), else the order, whose
    status is "trash" once trashed."""
    api = settings.api
    url = f"{api.base_url.rstrip('/')}/wp-json/wc/v3/orders/{quote(order_id, safe='')}"
    response = store_request(url, auth=(api.consumer_key, api.consumer_secret))
    if response.status_code == 404 and _is_invalid_id(response):
        return True
    status = str(order_json(response, f"order {order_id}", f"el pedido {order_id}").get("status", ""))
    return status.strip().lower() in _GONE


def _is_invalid_id(response: requests.Response) -> bool:
    """The REST error for an id that names no order: {"code": "woocommerce_rest_shop_order_invalid_id"}."""
    try:
        data = response.json()
    except ValueError:
        return False
    return isinstance(data, dict) and str(data.get("code", "")).endswith("_invalid_id")


def changed_orders(settings: StoreSettings, stamp: str, max_pages: int) -> Iterator[bytes]:
    """GET /wp-json/wc/v3/orders?modified_after=…&dates_are_gmt=true, paged by `page` up to X-WP-TotalPages."""
    api = settings.api
    base = api.base_url.rstrip("/")
    auth = (api.consumer_key, api.consumer_secret)
    for page in range(1, max_pages + 1):
        params = {
            "modified_after": stamp,
            "dates_are_gmt": "true",
            "orderby": "modified",
            "order": "asc",
            "per_page": "100",
            "page": str(page),
        }
        response = store_get(
            f"{base}/wp-json/wc/v3/orders", "the order list", "la lista de pedidos", params=params, auth=auth
        )
        yield from (json.dumps(item).encode() for item in response.json())
        if page >= int(response.headers.get("X-WP-TotalPages", "1") or 1):
            return
