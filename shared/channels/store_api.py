"""Store APIs, outbound: fetch what a webhook does not carry, list orders changed since the last catch-up poll,
and ask the store whether an order really is cancelled before a deletion or cancellation notice is acted on.

Each channel package's `store_api` module speaks its store's API; the functions here pick it through the
channel registry and hold the HTTP handling they share (timeouts, retryable and permanent answers).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import requests

from shared.channels import channel_of
from shared.domain.order import Refund
from shared.errors import PermanentError, RetryableError
from shared.stores import StoreSettings

TIMEOUT_SECONDS = 15


def can_fetch_refunds(settings: StoreSettings) -> bool:
    """Whether refund lines can (and need to) be read from the store API."""
    return channel_of(settings.channel).can_fetch_refunds(settings)


def fetch_refund(settings: StoreSettings, order_id: str, refund_id: str) -> Refund:
    """The refund with its lines. Raises RetryableError for timeouts, 429 and 5xx; PermanentError for
    a refusal (401/403/404) that a retry will not fix."""
    return channel_of(settings.channel).fetch_refund(settings, order_id, refund_id)


def can_poll(settings: StoreSettings) -> bool:
    """Whether the catch-up poll has what it needs to list this store's orders."""
    return channel_of(settings.channel).can_poll(settings)


def can_confirm_cancellations(settings: StoreSettings) -> bool:
    """Whether the store API is configured to read one order back (the same credentials as the catch-up poll)."""
    return can_poll(settings)


def cancelled_in_store(settings: StoreSettings, order_id: str) -> bool:
    """Whether the store itself shows the order deleted or cancelled, read back from its API. Raises
    RetryableError for timeouts, 429, 5xx and an unreadable answer; PermanentError when the store refuses
    (401/403 and other answers) in a way a retry will not fix."""
    return channel_of(settings.channel).cancelled_in_store(settings, order_id)


def changed_orders(settings: StoreSettings, since: datetime, max_pages: int = 50) -> Iterator[bytes]:
    """Each order changed since `since` (UTC), oldest change first, as the JSON bytes of one order object."""
    stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return channel_of(settings.channel).changed_orders(settings, stamp, max_pages)


def order_json(response: requests.Response, what: str, what_es: str) -> dict[str, Any]:
    """The JSON object of a 200 answer; other answers are refusals."""
    _refuse_unless_ok(response, what, what_es)
    try:
        data = response.json()
    except ValueError as error:  # an HTML error page from a proxy or a maintenance plugin
        raise RetryableError("store API answered with something that is not JSON") from error
    if not isinstance(data, dict):
        raise RetryableError("store API answered with JSON that is not an object")
    return data


def store_request(url: str, **kwargs: Any) -> requests.Response:
    """GET; a passing fault (timeout, connection refused, 429, 5xx) is a RetryableError, any other answer is
    returned for the caller to read."""
    try:
        response = requests.get(url, timeout=TIMEOUT_SECONDS, **kwargs)
    except requests.RequestException as error:
        raise RetryableError(f"store API unreachable: {type(error).__name__}") from error
    if response.status_code == 429 or response.status_code >= 500:
        raise RetryableError(f"store API answered {response.status_code}")
    return response


def store_get(url: str, what: str, what_es: str, **kwargs: Any) -> requests.Response:
    """GET with the store API's errors typed: RetryableError for timeouts, 429 and 5xx; PermanentError for a
    refusal (401/403/404) that a retry will not fix."""
    response = store_request(url, **kwargs)
    _refuse_unless_ok(response, what, what_es)
    return response


def _refuse_unless_ok(response: requests.Response, what: str, what_es: str) -> None:
    if response.status_code != 200:
        raise PermanentError(
            "store_api_refused", {"what": what, "what_es": what_es, "status": str(response.status_code)}
        )
