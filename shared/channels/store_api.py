"""Store APIs, outbound: fetch what a webhook does not carry (WooCommerce refund line detail).

WooCommerce's order webhook lists refunds only as {id, reason, total}; the refunded lines live in the
REST v3 refund resource, GET /wp-json/wc/v3/orders/<order>/refunds/<refund>, authenticated with the
store's consumer key and secret (HTTP Basic over HTTPS).
"""

from __future__ import annotations

import json
from decimal import Decimal

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
    try:
        response = requests.get(url, auth=(api.consumer_key, api.consumer_secret), timeout=TIMEOUT_SECONDS)
    except requests.RequestException as error:
        raise RetryableError(f"WooCommerce API unreachable: {type(error).__name__}") from error
    if response.status_code == 429 or response.status_code >= 500:
        raise RetryableError(f"WooCommerce API answered {response.status_code}")
    if response.status_code != 200:
        raise PermanentError(
            "store_api_refused",
            f"The store API refused to give refund {refund_id} (HTTP {response.status_code}); "
            "check the API key and its read permission.",
            message_es=f"La API de la tienda no entregó el reembolso {refund_id} (HTTP {response.status_code}); "
            "revise la clave de la API y su permiso de lectura.",
        )
    return woocommerce.parse_refund(order_id, json.loads(response.content, parse_float=Decimal))
