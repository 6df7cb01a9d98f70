"""Shopify Admin API, outbound (shared.ports.StoreApi), authenticated with X-Shopify-Access-Token.

Orders are read from the REST orders resource: its JSON is the webhook's shape, so the catch-up poll feeds it
through the same parser (paged by the `Link: <…>; rel="next"` header, cursor-based page_info). Stock and webhook
subscriptions go through GraphQL, where REST is deprecated: inventorySetQuantities with compareQuantity, so a sale
in between is not overwritten, and webhookSubscriptions paged by pageInfo. GraphQL is limited by query cost: a
THROTTLED answer is waited out as its extensions.cost.throttleStatus says. Refund lines come with the
refunds/create webhook, so nothing is fetched for them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from shared.channels.common import to_decimal, to_id, to_time
from shared.channels.store_api import StoreHttp, Subject, iter_pages, order_json, response_json, subject
from shared.domain.order import Refund
from shared.errors import PermanentError, RetryableError
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

PAGE_SIZE = 250  # REST orders limit and GraphQL's `first` maximum
QUANTITIES_PER_MUTATION = 250
SKUS_PER_QUERY = 50
THROTTLE_RETRIES = 3
MAX_THROTTLE_WAIT_SECONDS = 20.0
STALE = "COMPARE_QUANTITY_STALE"  # InventorySetQuantitiesUserErrorCode: the quantity changed since it was read
_DATE_PARAMS: dict[str, tuple[str, str]] = {
    "created": ("created_at_min", "created_at_max"),
    "updated": ("updated_at_min", "updated_at_max"),
}

VARIANTS_QUERY = """
query Stock($query: String!, $location: ID!, $first: Int!) {
  productVariants(first: $first, query: $query) {
    nodes { sku inventoryItem { id tracked inventoryLevel(locationId: $location) {
      quantities(names: ["available"]) { name quantity } } } }
  }
}"""
PRIMARY_LOCATION_QUERY = "query { location { id } }"
SET_QUANTITIES = """
mutation Set($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) { userErrors { code field message } }
}"""
WEBHOOKS_QUERY = """
query Hooks($after: String) {
  webhookSubscriptions(first: 100, after: $after) {
    nodes { id topic uri }
    pageInfo { hasNextPage endCursor }
  }
}"""
CREATE_WEBHOOK = """
mutation Create($topic: WebhookSubscriptionTopic!, $uri: String!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: {uri: $uri, format: JSON}) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}"""
DELETE_WEBHOOK = """
mutation Delete($id: ID!) {
  webhookSubscriptionDelete(id: $id) { deletedWebhookSubscriptionId userErrors { field message } }
}"""


class ShopifyApi:
    """shared.ports.StoreApi for one Shopify store."""

    def __init__(self, settings: StoreSettings, sleep: Callable[[float], None] = time.sleep) -> None:
        api = settings.api
        self.settings = settings
        self.base = f"{api.base_url.rstrip('/')}/admin/api/{api.api_version}"
        self.http = StoreHttp(headers={"X-Shopify-Access-Token": api.access_token})
        self.sleep = sleep
        self._location = settings.api.location_id

    def can_read_orders(self) -> bool:
        return bool(self.settings.api.base_url and self.settings.api.access_token)

    # -- orders (REST: the webhook's shape) -----------------------------------------------------------------------
    def list_orders(
        self, start: datetime, end: datetime | None = None, *, by: OrderDateField = "updated", cursor: str | None = None
    ) -> OrderPage:
        if cursor:  # the next-page link carries its own query (page_info and limit only)
            response = self.http.call("GET", cursor)
        else:
            low, high = _DATE_PARAMS[by]
            params = {low: _iso(start), "status": "any", "limit": str(PAGE_SIZE)}
            if end is not None:
                params[high] = _iso(end)
            response = self.http.call("GET", f"{self.base}/orders.json", params=params)
        data = response_json(response, subject("word.store_order_list"))
        orders = data.get("orders", []) if isinstance(data, dict) else []
        return OrderPage(
            [_store_order(order) for order in orders if isinstance(order, dict)],
            response.links.get("next", {}).get("url"),
        )

    def iter_orders(
        self, start: datetime, end: datetime | None = None, *, by: OrderDateField = "updated", max_pages: int = 50
    ) -> Iterator[StoreOrder]:
        return iter_pages(self, start, end, by, max_pages)

    def get_order(self, order_id: str) -> StoreOrder | None:
        """GET orders/<id>.json answers {"order": {...}}; 404 when there is no such order."""
        response = self.http.call("GET", f"{self.base}/orders/{quote(order_id, safe='')}.json")
        if response.status_code == 404:
            return None
        order = order_json(response, subject("word.store_order", order_id=order_id)).get("order")
        if not isinstance(order, dict):
            raise RetryableError("store API answered an order without its order object")
        return _store_order(order)

    # -- stock (GraphQL) ------------------------------------------------------------------------------------------
    def location(self) -> str:
        """The location whose stock we keep: the store setting api.location_id, else the shop's primary location."""
        if not self._location:
            self._location = str(self.graphql(PRIMARY_LOCATION_QUERY, {})["location"]["id"])
        return self._location

    def read_stock(self, skus: Sequence[str]) -> dict[str, StockItem]:
        wanted = sorted({sku for sku in skus if sku})
        found: dict[str, StockItem] = {}
        location = self.location() if wanted else ""
        for start in range(0, len(wanted), SKUS_PER_QUERY):
            chunk = wanted[start : start + SKUS_PER_QUERY]
            query = " OR ".join(f"sku:{json.dumps(sku)}" for sku in chunk)
            data = self.graphql(VARIANTS_QUERY, {"query": query, "location": location, "first": PAGE_SIZE})
            for node in data["productVariants"]["nodes"]:
                item = _stock_item(node)
                if item is not None and item.sku in chunk:
                    found[item.sku] = item
        return found

    def set_stock(self, changes: Sequence[StockChange]) -> StockWriteResult:
        """inventorySetQuantities, 250 at a time, each with the quantity it replaces (compareQuantity). The mutation
        is all-or-nothing: the items a userError names are taken out (stale → conflict, others refused) and the rest
        is sent again."""
        written: list[str] = []
        conflicts: list[str] = []
        refused: dict[str, str] = {}
        location = self.location() if changes else ""
        for start in range(0, len(changes), QUANTITIES_PER_MUTATION):
            batch = list(changes[start : start + QUANTITIES_PER_MUTATION])
            while batch:
                errors = self._set(batch, location)
                if not errors:
                    written.extend(change.item.sku for change in batch)
                    break
                for index, (code, message) in errors.items():
                    sku = batch[index].item.sku
                    if code == STALE:
                        conflicts.append(sku)
                    else:
                        refused[sku] = message or code
                if not any(0 <= index < len(batch) for index in errors):  # an error naming no item: all refused
                    refused.update({change.item.sku: "refused" for change in batch})
                    break
                batch = [change for index, change in enumerate(batch) if index not in errors]
        return StockWriteResult(written, conflicts, refused)

    def _set(self, batch: list[StockChange], location: str) -> dict[int, tuple[str, str]]:
        quantities = [
            {
                "inventoryItemId": change.item.ref,
                "locationId": location,
                "quantity": change.quantity,
                "compareQuantity": change.item.quantity,
            }
            for change in batch
        ]
        variables = {"input": {"name": "available", "reason": "correction", "quantities": quantities}}
        data = self.graphql(SET_QUANTITIES, variables)
        errors: dict[int, tuple[str, str]] = {}
        for error in data["inventorySetQuantities"]["userErrors"]:
            field = [str(part) for part in error.get("field") or []]
            index = next((int(part) for part in field if part.isdigit()), -1)
            errors[index] = (str(error.get("code") or ""), str(error.get("message") or ""))
        return errors

    # -- webhooks (GraphQL) ---------------------------------------------------------------------------------------
    def list_webhooks(self) -> list[WebhookSubscription]:
        found: list[WebhookSubscription] = []
        after: str | None = None
        while True:
            data = self.graphql(WEBHOOKS_QUERY, {"after": after})["webhookSubscriptions"]
            found.extend(_subscription(node) for node in data["nodes"])
            if not data["pageInfo"]["hasNextPage"]:
                return found
            after = data["pageInfo"]["endCursor"]

    def create_webhook(self, topic: str, delivery_url: str, secret: str) -> WebhookSubscription:
        """Shopify signs every delivery with the app's client secret (not per subscription): that secret must be
        the store's webhook_secret, so `secret` is not sent."""
        data = self.graphql(CREATE_WEBHOOK, {"topic": to_enum(topic), "uri": delivery_url})
        result = data["webhookSubscriptionCreate"]
        _refuse_user_errors(result, subject("word.store_new_webhook"))
        return _subscription(result["webhookSubscription"])

    def delete_webhook(self, subscription_id: str) -> None:
        result = self.graphql(DELETE_WEBHOOK, {"id": subscription_id})["webhookSubscriptionDelete"]
        if result.get("deletedWebhookSubscriptionId") is None and result.get("userErrors"):
            return  # an unknown id: nothing to delete
        _refuse_user_errors(result, subject("word.store_webhook", webhook_id=subscription_id))

    # -- the GraphQL call -----------------------------------------------------------------------------------------
    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """The `data` of a GraphQL answer. THROTTLED (HTTP 200 or 429 with errors[].extensions.code) is waited out
        for as long as extensions.cost says the bucket needs to refill, a few times, then RetryableError."""
        for _ in range(THROTTLE_RETRIES + 1):
            response = self.http.call(
                "POST", f"{self.base}/graphql.json", json={"query": query, "variables": variables}
            )
            body = response_json(response, subject("word.store_admin_api"))
            body = body if isinstance(body, dict) else {}
            errors = body.get("errors") or []
            if not errors:
                data = body.get("data")
                if not isinstance(data, dict):
                    raise RetryableError("Shopify answered GraphQL without data")
                return data
            if not _throttled(errors):
                raise PermanentError(
                    "store_api_refused", {"message": _first_message(errors)}, text="error.store_api_graphql_refused"
                )
            self.sleep(throttle_wait(body))
        raise RetryableError("Shopify GraphQL stayed throttled")


def throttle_wait(body: dict[str, Any]) -> float:
    """Seconds until the bucket holds the query's cost again: (requested - available) / restore rate."""
    cost = body.get("extensions", {}).get("cost", {}) if isinstance(body.get("extensions"), dict) else {}
    status = cost.get("throttleStatus") or {}
    try:
        missing = float(cost.get("requestedQueryCost", 0)) - float(status.get("currentlyAvailable", 0))
        rate = float(status.get("restoreRate") or 0)
    except (TypeError, ValueError):
        return 1.0
    if rate <= 0:
        return 1.0
    return min(max(missing / rate, 0.1), MAX_THROTTLE_WAIT_SECONDS)


def _throttled(errors: list[Any]) -> bool:
    return any(
        (isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "THROTTLED")
        or _first_message([e]) == "Throttled"
        for e in errors
    )


def _first_message(errors: list[Any]) -> str:
    first = errors[0] if errors else {}
    return str(first.get("message", "")) if isinstance(first, dict) else str(first)


def _refuse_user_errors(result: dict[str, Any], what: Subject) -> None:
    errors = result.get("userErrors") or []
    if errors:
        message = "; ".join(str(error.get("message", "")) for error in errors if isinstance(error, dict))
        raise PermanentError(
            "store_api_refused",
            {**what, "message": message},
            text="error.store_api_user_errors",
        )


def to_enum(topic: str) -> str:
    """orders/create → ORDERS_CREATE (the GraphQL WebhookSubscriptionTopic)."""
    return topic.strip().upper().replace("/", "_")


def from_enum(topic: str) -> str:
    """ORDERS_CREATE → orders/create (the webhook's X-Shopify-Topic)."""
    return topic.strip().lower().replace("_", "/", 1)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _store_order(order: dict[str, Any]) -> StoreOrder:
    status = "cancelled" if order.get("cancelled_at") else str(order.get("financial_status") or "")
    return StoreOrder(
        order_id=to_id(order.get("id")),
        number=str(order.get("name") or order.get("order_number") or order.get("id") or ""),
        status=status,
        total=to_decimal(str(order.get("total_price") or "0")),
        currency=str(order.get("currency") or ""),
        created_at=to_time(order.get("created_at")),
        updated_at=to_time(order.get("updated_at")),
        raw=json.dumps(order).encode(),
    )


def _stock_item(node: dict[str, Any]) -> StockItem | None:
    sku = str(node.get("sku") or "").strip()
    inventory = node.get("inventoryItem") or {}
    if not sku or not inventory.get("id"):
        return None
    level = inventory.get("inventoryLevel") or {}
    quantities = {q.get("name"): q.get("quantity") for q in level.get("quantities") or [] if isinstance(q, dict)}
    managed = bool(inventory.get("tracked")) and bool(level)
    available = quantities.get("available")
    return StockItem(sku, str(inventory["id"]), managed, int(available) if managed and available is not None else None)


def _subscription(node: Any) -> WebhookSubscription:
    node = node if isinstance(node, dict) else {}
    return WebhookSubscription(
        str(node.get("id") or ""), from_enum(str(node.get("topic") or "")), str(node.get("uri") or ""), "active"
    )


# -- the channel module's functions (shared.channels.ChannelModule) ---------------------------------------------------


def store_api(settings: StoreSettings) -> ShopifyApi:
    return ShopifyApi(settings)


def can_fetch_refunds(settings: StoreSettings) -> bool:
    """Never needed: a Shopify refund webhook carries its lines."""
    return False


def can_poll(settings: StoreSettings) -> bool:
    """Whether the catch-up poll has what it needs to list this store's orders."""
    return ShopifyApi(settings).can_read_orders()


def fetch_refund(settings: StoreSettings, order_id: str, refund_id: str) -> Refund:
    """Not offered (can_fetch_refunds is False): callers ask can_fetch_refunds first."""
    raise NotImplementedError("Shopify refund webhooks carry their lines; there is nothing to fetch")


def cancelled_in_store(settings: StoreSettings, order_id: str) -> bool:
    """`cancelled_at` is set once cancelled; a 404 is not read as a cancellation (Shopify also deletes archived
    orders)."""
    order = ShopifyApi(settings).get_order(order_id)
    return order is not None and order.status == "cancelled"


def changed_orders(settings: StoreSettings, stamp: str, max_pages: int) -> Iterator[bytes]:
    """Orders updated since `stamp` (UTC), oldest change first."""
    since = datetime.fromisoformat(stamp).replace(tzinfo=UTC)
    return (order.raw for order in ShopifyApi(settings).iter_orders(since, max_pages=max_pages))
