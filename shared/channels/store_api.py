"""Store APIs, outbound: fetch what a webhook does not carry (WooCommerce refund line detail).

WooCommerce's order webhook lists refunds only as {id, reason, total}; the refunded lines live in the
REST v3 refund resource, GET /wp-json/wc/v3/orders/<order>/refunds/<refund>, authenticated with the
store's consumer key and secret (HTTP Basic over HTTPS).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

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


def _get(url: str, what: str, what_es: str, **kwargs: Any) -> requests.Response:
    """GET with the store API's errors typed: RetryableError for timeouts, 429 and 5xx; PermanentError for a
    refusal (401/403/404) that a retry will not fix."""
    try:
        response = requests.get(url, timeout=TIMEOUT_SECONDS, **kwargs)
    except requests.RequestException as error:
        raise RetryableError(f"store API unreachable: {type(error).__name__}") from error
    if response.status_code == 429 or response.status_code >= 500:
        raise RetryableError(f"store API answered {response.status_code}")
    if response.status_code != 200:
        raise PermanentError(
            "store_api_refused",
            f"The store API refused to give {what} (HTTP {response.status_code}); check the API key and its "
            "read permission.",
            message_es=f"La API de la tienda no entregó {what_es} (HTTP {response.status_code}); revise la clave "
            "de la API y su permiso de lectura.",
        )
    return response


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
