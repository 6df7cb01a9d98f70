"""Store APIs, outbound: fetch what a webhook does not carry (WooCommerce refund line detail) and ask the
store whether an order really is cancelled before a deletion or cancellation notice is acted on.

WooCommerce's order webhook lists refunds only as {id, reason, total}; the refunded lines live in the
REST v3 refund resource, GET /wp-json/wc/v3/orders/<order>/refunds/<refund>, authenticated with the
store's consumer key and secret (HTTP Basic over HTTPS). Shopify's Admin API takes X-Shopify-Access-Token.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import requests

from shared.channels import woocommerce
from shared.domain.order import Refund
from shared.errors import PermanentError, RetryableError
from shared.stores import StoreSettings

TIMEOUT_SECONDS = 15


def can_fetch_refunds(settings: StoreSettings) -> bool:
    api = settings.api
    return settings.channel == "woocommerce" and bool(api.base_url and api.consumer_key and api.consumer_secret)


def fetch_woocommerce_refund(settings: StoreSettings, order_id: str, refund_id: str) -> Refund:
    """The refund with its lines. Raises RetryableError for timeouts, 429 and 5xx; PermanentError for
    a refusal (401/403/404) that a retry will not fix."""
    api = settings.api
    url = f"{api.base_url.rstrip('/')}/wp-json/wc/v3/orders/{order_id}/refunds/{refund_id}"
    response = _get(
        url, f"refund {refund_id}", f"el reembolso {refund_id}", auth=(api.consumer_key, api.consumer_secret)
    )
    return woocommerce.parse_refund(order_id, json.loads(response.content, parse_float=Decimal))


def can_poll(settings: StoreSettings) -> bool:
    """Whether the catch-up poll has what it needs to list this store's orders."""
    return can_fetch_refunds(settings) or (
        settings.channel == "shopify" and bool(settings.api.base_url and settings.api.access_token)
    )


# WooCommerce statuses in which an order is gone from the shop's point of view: trashed (what order.deleted
# reports) or cancelled. A permanently deleted order answers 404.
_WOOCOMMERCE_GONE = {"trash", "cancelled"}


def can_confirm_cancellations(settings: StoreSettings) -> bool:
    """Whether the store API is configured to read one order back (the same credentials as the catch-up poll)."""
    return can_poll(settings)


def cancelled_in_store(settings: StoreSettings, order_id: str) -> bool:
    """Whether the store itself shows the order deleted or cancelled, read back from its API.

    WooCommerce: GET /wp-json/wc/v3/orders/<id> answers 404 with the JSON error code
    woocommerce_rest_shop_order_invalid_id for a deleted order (any other 404, such as a wrong base_url's HTML
    page, is a refusal), else the order, whose status is "trash" once trashed. Shopify: GET
    /admin/api/<version>/orders/<id>.json answers {"order": {...}} with `cancelled_at` set once cancelled; a 404
    is not read as a cancellation (Shopify also deletes archived orders). Raises RetryableError for timeouts,
    429, 5xx and an unreadable answer; PermanentError when the store refuses (401/403 and other answers) in a
    way a retry will not fix.
    """
    api = settings.api
    base = api.base_url.rstrip("/")
    quoted = quote(order_id, safe="")
    if settings.channel == "woocommerce":
        url = f"{base}/wp-json/wc/v3/orders/{quoted}"
        response = _request(url, auth=(api.consumer_key, api.consumer_secret))
        if response.status_code == 404 and _is_woocommerce_invalid_id(response):
            return True
        status = str(_order_json(response, f"order {order_id}", f"el pedido {order_id}").get("status", ""))
        return status.strip().lower() in _WOOCOMMERCE_GONE
    url = f"{base}/admin/api/{api.api_version}/orders/{quoted}.json"
    response = _request(url, headers={"X-Shopify-Access-Token": api.access_token})
    if response.status_code == 404:
        return False
    order = _order_json(response, f"order {order_id}", f"el pedido {order_id}").get("order")
    return isinstance(order, dict) and order.get("cancelled_at") not in (None, "")


def _is_woocommerce_invalid_id(response: requests.Response) -> bool:
    """WooCommerce's REST error for an id that names no order: {"code": "woocommerce_rest_shop_order_invalid_id"}."""
    try:
        data = response.json()
    except ValueError:
        return False
    return isinstance(data, dict) and str(data.get("code", "")).endswith("_invalid_id")


def _order_json(response: requests.Response, what: str, what_es: str) -> dict[str, Any]:
    """The JSON object of a 200 answer; other answers are refusals."""
    _refuse_unless_ok(response, what, what_es)
    try:
        data = response.json()
    except ValueError as error:  # an HTML error page from a proxy or a maintenance plugin
        raise RetryableError("store API answered with something that is not JSON") from error
    if not isinstance(data, dict):
        raise RetryableError("store API answered with JSON that is not an object")
    return data


def _request(url: str, **kwargs: Any) -> requests.Response:
    """GET; a passing fault (timeout, connection refused, 429, 5xx) is a RetryableError, any other answer is
    returned for the caller to read."""
    try:
        response = requests.get(url, timeout=TIMEOUT_SECONDS, **kwargs)
    except requests.RequestException as error:
        raise RetryableError(f"store API unreachable: {type(error).__name__}") from error
    if response.status_code == 429 or response.status_code >= 500:
        raise RetryableError(f"store API answered {response.status_code}")
    return response


def _get(url: str, what: str, what_es: str, **kwargs: Any) -> requests.Response:
    """GET with the store API's errors typed: RetryableError for timeouts, 429 and 5xx; PermanentError for a
    refusal (401/403/404) that a retry will not fix."""
    response = _request(url, **kwargs)
    _refuse_unless_ok(response, what, what_es)
    return response


def _refuse_unless_ok(response: requests.Response, what: str, what_es: str) -> None:
    if response.status_code != 200:
        raise PermanentError(
            "store_api_refused",
            f"The store API refused to give {what} (HTTP {response.status_code}); check the API key and its "
            "read permission.",
            message_es=f"La API de la tienda no entregó {what_es} (HTTP {response.status_code}); revise la clave "
            "de la API y su permiso de lectura.",
        )


def changed_orders(settings: StoreSettings, since: datetime, max_pages: int = 50) -> Iterator[bytes]:
    """Each order changed since `since` (UTC), oldest change first, as the JSON bytes of one order object.

    WooCommerce: GET /wp-json/wc/v3/orders?modified_after=…&dates_are_gmt=true, paged by `page` up to
    X-WP-TotalPages. Shopify: GET /admin/api/<version>/orders.json?updated_at_min=…&status=any, paged by
    the `Link: <…>; rel="next"` header (cursor-based page_info).
    """
    api = settings.api
    base = api.base_url.rstrip("/")
    stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if settings.channel == "woocommerce":
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
            response = _get(
                f"{base}/wp-json/wc/v3/orders", "the order list", "la lista de pedidos", params=params, auth=auth
            )
            yield from (json.dumps(item).encode() for item in response.json())
            if page >= int(response.headers.get("X-WP-TotalPages", "1") or 1):
                return
        return
    url: str | None = f"{base}/admin/api/{api.api_version}/orders.json"
    params_first: dict[str, str] | None = {"updated_at_min": f"{stamp}Z", "status": "any", "limit": "250"}
    headers = {"X-Shopify-Access-Token": api.access_token}
    for _ in range(max_pages):
        if url is None:
            return
        response = _get(url, "the order list", "la lista de pedidos", params=params_first, headers=headers)
        params_first = None  # the next-page link carries its own query
        yield from (json.dumps(item).encode() for item in response.json().get("orders", []))
        url = response.links.get("next", {}).get("url")
