"""Store APIs, outbound (the shared.ports.StoreApi port): orders for the catch-up poll, one order read back, refund
lines a webhook does not carry, stock back to the store and webhook subscriptions.

Each channel package's `store_api` module speaks its store's API; `store_api(settings)` picks it through the channel
registry. The HTTP handling they share lives here: timeouts, waiting as a 429 asks (Retry-After) and backing off
after a 5xx (urllib3's Retry, so the rules are a library's, not ours), and typed refusals.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from shared.channels import channel_of
from shared.domain.order import Refund
from shared.errors import PermanentError, RetryableError
from shared.ports import StoreApi, StoreOrder
from shared.stores import StoreSettings

TIMEOUT_SECONDS = 15
# A 429 is waited out as the store says (Retry-After, capped) and a 5xx backed off 0.25 s, 0.5 s, 1 s; after that
# the message's own retry (Service Bus redelivery, the next timer) takes over.
RETRIES = 3
BACKOFF_SECONDS = 0.25
MAX_RETRY_AFTER_SECONDS = 30
RETRY_STATUSES = (429, 500, 502, 503, 504)

# What a refusal names, stored with it and rendered in the reader's language: {"what_text": <word.* key>, …the
# values that key's template fills, e.g. "order_id"}. Build it with `subject`.
Subject = Mapping[str, str]


def subject(key: str, **values: str) -> dict[str, str]:
    """What a store API call asks for, as a catalog key and its values: subject("word.store_order", order_id="7")."""
    return {"what_text": key, **values}


def store_api(settings: StoreSettings) -> StoreApi:
    """The store API adapter of the store's channel."""
    return channel_of(settings.channel).store_api(settings)


def can_fetch_refunds(settings: StoreSettings) -> bool:
    """Whether refund lines can (and need to) be read from the store API."""
    return channel_of(settings.channel).can_fetch_refunds(settings)


def fetch_refund(settings: StoreSettings, order_id: str, refund_id: str) -> Refund:
    """The refund with its lines. Raises RetryableError for timeouts, 429 and 5xx; PermanentError for
    a refusal (401/403/404) that a retry will not fix."""
    return channel_of(settings.channel).fetch_refund(settings, order_id, refund_id)


def can_poll(settings: StoreSettings) -> bool:
    """Whether the catch-up poll has what it needs to list this store's orders."""
    return store_api(settings).can_read_orders()


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
    for order in store_api(settings).iter_orders(since.astimezone(UTC), None, by="updated", max_pages=max_pages):
        yield order.raw


def iter_pages(api: StoreApi, start: datetime, end: datetime | None, by: Any, max_pages: int) -> Iterator[StoreOrder]:
    """Every order of api.list_orders, page after page (the StoreApi.iter_orders both adapters share)."""
    cursor: str | None = None
    for _ in range(max_pages):
        page = api.list_orders(start, end, by=by, cursor=cursor)
        yield from page.orders
        cursor = page.cursor
        if cursor is None:
            return


class CappedRetry(Retry):
    """urllib3's Retry with the wait a Retry-After header asks for capped: a store (or a plugin in front of it) that
    asks for an hour must not hold a function invocation that long; the next message or timer run retries."""

    def get_retry_after(self, response: Any) -> float | None:
        asked = super().get_retry_after(response)
        return None if asked is None else min(asked, MAX_RETRY_AFTER_SECONDS)


class StoreHttp:
    """One store's HTTP session: authentication, timeouts, retries on 429/5xx, typed errors."""

    def __init__(self, auth: tuple[str, str] | None = None, headers: dict[str, str] | None = None) -> None:
        retry = CappedRetry(
            total=RETRIES,
            connect=RETRIES,
            read=0,  # a read timeout may have done the write: the caller's idempotent retry decides
            status=RETRIES,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=None,  # every write here sets absolute values (or is found again before a repeat)
            backoff_factor=BACKOFF_SECONDS,
            respect_retry_after_header=True,
            raise_on_status=False,
            backoff_max=MAX_RETRY_AFTER_SECONDS,
        )
        self.session = requests.Session()
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        if auth:
            self.session.auth = auth
        if headers:
            self.session.headers.update(headers)

    def call(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """A passing fault left after the retries (timeout, connection refused, 429, 5xx) is a RetryableError;
        any other answer is returned for the caller to read."""
        try:
            response = self.session.request(method, url, timeout=TIMEOUT_SECONDS, **kwargs)
        except requests.RequestException as error:
            raise RetryableError(f"store API unreachable: {type(error).__name__}") from error
        if response.status_code in RETRY_STATUSES:
            raise RetryableError(f"store API answered {response.status_code}")
        return response

    def json(self, method: str, url: str, what: Subject, **kwargs: Any) -> Any:
        """The JSON of a 2xx answer; other answers are refusals (PermanentError)."""
        response = self.call(method, url, **kwargs)
        return response_json(response, what)


def response_json(response: requests.Response, what: Subject) -> Any:
    """The JSON (objects or lists) of a 2xx answer; a non-JSON 2xx is retryable (a proxy's page), others refused."""
    if not 200 <= response.status_code < 300:
        refuse(response.status_code, what)
    try:
        return response.json()
    except ValueError as error:  # an HTML error page from a proxy or a maintenance plugin
        raise RetryableError("store API answered with something that is not JSON") from error


def order_json(response: requests.Response, what: Subject) -> dict[str, Any]:
    """The JSON object of a 200 answer; other answers are refusals."""
    _refuse_unless_ok(response, what)
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


def store_get(url: str, what: Subject, **kwargs: Any) -> requests.Response:
    """GET with the store API's errors typed: RetryableError for timeouts, 429 and 5xx; PermanentError for a
    refusal (401/403/404) that a retry will not fix."""
    response = store_request(url, **kwargs)
    _refuse_unless_ok(response, what)
    return response


def _refuse_unless_ok(response: requests.Response, what: Subject) -> None:
    if response.status_code != 200:
        refuse(response.status_code, what)


def refuse(status: int, what: Subject) -> None:
    raise PermanentError("store_api_refused", {**what, "status": str(status)})
