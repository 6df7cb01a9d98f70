"""WooCommerce REST API v3, outbound (shared.ports.StoreApi): orders, one order read back, refund lines, product and
variation stock, and webhooks. Every call authenticates with the store's consumer key and secret (HTTP Basic over
HTTPS); lists are paged by `page` up to the X-WP-TotalPages header.

The order webhook lists refunds only as {id, reason, total}; the refunded lines live in the refund resource,
GET /wp-json/wc/v3/orders/<order>/refunds/<refund>.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import requests

from shared.channels.common import to_decimal, to_id, to_time
from shared.channels.store_api import StoreHttp, Subject, iter_pages, order_json, response_json, subject
from shared.channels.woocommerce.parsing import parse_refund
from shared.domain.order import Refund
from shared.ports import (
    OrderDateField,
    OrderPage,
    StockChange,
    StockItem,
    StockWriteResult,
    StoreOrder,
    WebhookSubscription,
)
from shared.stores import StoreSettings

# Statuses in which an order is gone from the shop's point of view: trashed (what order.deleted reports) or
# cancelled. A permanently deleted order answers 404.
_GONE = {"trash", "cancelled"}
PER_PAGE = 100
BATCH_SIZE = 100  # the REST API's limit on creates + updates + deletes in one batch request
SKUS_PER_QUERY = 50  # `sku` takes a comma-separated list; kept short enough for any server's URL limit
_DATE_PARAMS: dict[str, tuple[str, str]] = {
    "created": ("after", "before"),
    "updated": ("modified_after", "modified_before"),
}


class WooCommerceApi:
    """shared.ports.StoreApi for one WooCommerce store."""

    def __init__(self, settings: StoreSettings) -> None:
        api = settings.api
        self.settings = settings
        self.base = f"{api.base_url.rstrip('/')}/wp-json/wc/v3"
        self.http = StoreHttp(auth=(api.consumer_key, api.consumer_secret))

    def can_read_orders(self) -> bool:
        api = self.settings.api
        return bool(api.base_url and api.consumer_key and api.consumer_secret)

    # -- orders ---------------------------------------------------------------------------------------------------
    def list_orders(
        self, start: datetime, end: datetime | None = None, *, by: OrderDateField = "updated", cursor: str | None = None
    ) -> OrderPage:
        after, before = _DATE_PARAMS[by]
        page = int(cursor or 1)
        params = {
            after: _gmt(start),
            "dates_are_gmt": "true",
            "orderby": "modified" if by == "updated" else "date",
            "order": "asc",
            "status": "any",
            "per_page": str(PER_PAGE),
            "page": str(page),
        }
        if end is not None:
            params[before] = _gmt(end)
        response = self.http.call("GET", f"{self.base}/orders", params=params)
        data = response_json(response, subject("word.store_order_list"))
        orders = [_store_order(item) for item in data if isinstance(item, dict)]
        return OrderPage(orders, str(page + 1) if _has_next(response, page) else None)

    def iter_orders(
        self, start: datetime, end: datetime | None = None, *, by: OrderDateField = "updated", max_pages: int = 50
    ) -> Iterator[StoreOrder]:
        return iter_pages(self, start, end, by, max_pages)

    def get_order(self, order_id: str) -> StoreOrder | None:
        """GET /orders/<id> answers 404 with the JSON error code woocommerce_rest_shop_order_invalid_id for a deleted
        order (any other 404, such as a wrong base_url's HTML page, is a refusal)."""
        response = self.http.call("GET", f"{self.base}/orders/{quote(order_id, safe='')}")
        if response.status_code == 404 and _is_invalid_id(response):
            return None
        return _store_order(order_json(response, subject("word.store_order", order_id=order_id)))

    def refund(self, order_id: str, refund_id: str) -> Refund:
        url = f"{self.base}/orders/{quote(order_id, safe='')}/refunds/{quote(refund_id, safe='')}"
        response = self.http.call("GET", url)
        order_json(response, subject("word.store_refund", refund_id=refund_id))
        return parse_refund(order_id, json.loads(response.content, parse_float=Decimal))

    # -- stock ----------------------------------------------------------------------------------------------------
    def read_stock(self, skus: Sequence[str]) -> dict[str, StockItem]:
        """GET /products?sku=a,b,… finds products and variations by SKU; manage_stock is true, false or "parent"
        (a variation whose parent keeps the stock, written through the parent)."""
        wanted = sorted({sku for sku in skus if sku})
        found: dict[str, StockItem] = {}
        for start in range(0, len(wanted), SKUS_PER_QUERY):
            chunk = wanted[start : start + SKUS_PER_QUERY]
            params = {"sku": ",".join(chunk), "per_page": str(PER_PAGE)}
            for product in self._pages(f"{self.base}/products", params, subject("word.store_product_list")):
                item = _stock_item(product)
                if item is not None and item.sku in chunk:
                    found[item.sku] = item
        return found

    def set_stock(self, changes: Sequence[StockChange]) -> StockWriteResult:
        """POST /products/batch for products, /products/<parent>/variations/batch for variations, 100 at a time.
        WooCommerce has no compare-and-set, so there are never conflicts here."""
        groups: dict[str, list[StockChange]] = {}
        for change in changes:
            parent, _, _ = change.item.ref.rpartition("/")
            groups.setdefault(parent, []).append(change)
        written: list[str] = []
        refused: dict[str, str] = {}
        for parent, group in groups.items():
            url = f"{self.base}/products/{parent}/variations/batch" if parent else f"{self.base}/products/batch"
            for start in range(0, len(group), BATCH_SIZE):
                batch = group[start : start + BATCH_SIZE]
                by_id = {change.item.ref.rpartition("/")[2]: change.item.sku for change in batch}
                body = {"update": [{"id": int(ref), "stock_quantity": c.quantity} for ref, c in _refs(batch)]}
                data = self.http.json("POST", url, subject("word.store_stock_update"), json=body)
                for result in data.get("update", []) if isinstance(data, dict) else []:
                    sku = by_id.get(to_id(result.get("id")), "")
                    error = result.get("error")
                    if isinstance(error, dict):
                        refused[sku or to_id(result.get("id"))] = str(error.get("message") or error.get("code"))
                    elif sku:
                        written.append(sku)
        return StockWriteResult(written, [], refused)

    # -- webhooks -------------------------------------------------------------------------------------------------
    def list_webhooks(self) -> list[WebhookSubscription]:
        hooks = self._pages(f"{self.base}/webhooks", {"per_page": str(PER_PAGE)}, subject("word.store_webhooks"))
        return [_subscription(hook) for hook in hooks]

    def create_webhook(self, topic: str, delivery_url: str, secret: str) -> WebhookSubscription:
        body = {
            "name": f"order-to-cash {topic}",
            "topic": topic,
            "delivery_url": delivery_url,
            "secret": secret,
            "status": "active",
        }
        data = self.http.json("POST", f"{self.base}/webhooks", subject("word.store_new_webhook"), json=body)
        return _subscription(data)

    def delete_webhook(self, subscription_id: str) -> None:
        url = f"{self.base}/webhooks/{quote(subscription_id, safe='')}"
        response = self.http.call("DELETE", url, params={"force": "true"})
        if response.status_code != 404:
            response_json(response, subject("word.store_webhook", webhook_id=subscription_id))

    def _pages(self, url: str, params: dict[str, str], what: Subject) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            response = self.http.call("GET", url, params={**params, "page": str(page)})
            data = response_json(response, what)
            yield from (item for item in data if isinstance(item, dict))
            if not _has_next(response, page):
                return
            page += 1


def _refs(batch: list[StockChange]) -> Iterator[tuple[str, StockChange]]:
    for change in batch:
        yield change.item.ref.rpartition("/")[2], change


def _has_next(response: requests.Response, page: int) -> bool:
    """X-WP-TotalPages says how many pages there are; a Link rel="next" header says the same."""
    total = response.headers.get("X-WP-TotalPages", "")
    if total.strip().isdigit():
        return page < int(total)
    return "next" in response.links


def _gmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _store_order(item: dict[str, Any]) -> StoreOrder:
    return StoreOrder(
        order_id=to_id(item.get("id")),
        number=str(item.get("number") or item.get("id") or ""),
        status=str(item.get("status") or ""),
        total=to_decimal(str(item.get("total") or "0")),
        currency=str(item.get("currency") or ""),
        created_at=to_time(item.get("date_created_gmt")),
        updated_at=to_time(item.get("date_modified_gmt")),
        raw=json.dumps(item).encode(),
    )


def _stock_item(product: dict[str, Any]) -> StockItem | None:
    sku = str(product.get("sku") or "").strip()
    if not sku:
        return None
    product_id = to_id(product.get("id"))
    parent = to_id(product.get("parent_id")) if product.get("type") == "variation" else ""
    managed = product.get("manage_stock") is True  # "parent": the parent product's stock, not this variation's
    quantity = product.get("stock_quantity")
    return StockItem(
        sku=sku,
        ref=f"{parent}/{product_id}" if parent and parent != "0" else product_id,
        managed=managed,
        quantity=int(quantity) if managed and isinstance(quantity, int | float) else None,
    )


def _subscription(hook: Any) -> WebhookSubscription:
    hook = hook if isinstance(hook, dict) else {}
    status = str(hook.get("status") or "disabled")
    return WebhookSubscription(
        subscription_id=to_id(hook.get("id")),
        topic=str(hook.get("topic") or ""),
        delivery_url=str(hook.get("delivery_url") or ""),
        status=status if status in ("active", "paused") else "disabled",  # type: ignore[arg-type]
    )


def _is_invalid_id(response: requests.Response) -> bool:
    """The REST error for an id that names no order: {"code": "woocommerce_rest_shop_order_invalid_id"}."""
    try:
        data = response.json()
    except ValueError:
        return False
    return isinstance(data, dict) and str(data.get("code", "")).endswith("_invalid_id")


# -- the channel module's functions (shared.channels.ChannelModule) ---------------------------------------------------


def store_api(settings: StoreSettings) -> WooCommerceApi:
    return WooCommerceApi(settings)


def can_fetch_refunds(settings: StoreSettings) -> bool:
    return WooCommerceApi(settings).can_read_orders()


def can_poll(settings: StoreSettings) -> bool:
    """Whether the catch-up poll has what it needs to list this store's orders."""
    return can_fetch_refunds(settings)


def fetch_refund(settings: StoreSettings, order_id: str, refund_id: str) -> Refund:
    """The refund with its lines. Raises RetryableError for timeouts, 429 and 5xx; PermanentError for
    a refusal (401/403/404) that a retry will not fix."""
    return WooCommerceApi(settings).refund(order_id, refund_id)


def cancelled_in_store(settings: StoreSettings, order_id: str) -> bool:
    """A permanently deleted order is gone; a trashed or cancelled one shows status "trash" / "cancelled"."""
    order = WooCommerceApi(settings).get_order(order_id)
    return order is None or order.status.strip().lower() in _GONE


def changed_orders(settings: StoreSettings, stamp: str, max_pages: int) -> Iterator[bytes]:
    """Orders modified after `stamp` (UTC), oldest change first."""
    since = datetime.fromisoformat(stamp).replace(tzinfo=UTC)
    return (order.raw for order in WooCommerceApi(settings).iter_orders(since, max_pages=max_pages))
