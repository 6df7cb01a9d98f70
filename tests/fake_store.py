"""Fake stores for tests, served by pytest-httpserver in the documented API shapes.

WooCommerce REST v3: orders, products (by SKU, variations included), batch updates, webhooks with status active /
paused / disabled; lists paged by `page` with X-WP-TotalPages and a Link header. Shopify: REST orders.json paged by
a `Link: <…page_info=…>; rel="next"` header, GraphQL productVariants, inventorySetQuantities with compareQuantity
(COMPARE_QUANTITY_STALE when the quantity moved), webhookSubscriptions paged by pageInfo, and the THROTTLED answer
with extensions.cost. `fail_next` queues answers (429 with Retry-After, 503, throttled) served before the real one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")


@dataclass
class Product:
    id: int
    sku: str
    stock: int | None
    managed: bool = True
    parent_id: int = 0  # a variation's product


@dataclass
class FakeStore:
    server: HTTPServer
    orders: list[dict[str, Any]] = field(default_factory=list)
    products: list[Product] = field(default_factory=list)
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)  # method, path + query, JSON body
    queued: list[Response] = field(default_factory=list)
    per_page: int = 100

    def __post_init__(self) -> None:
        self.server.expect_request(re.compile(".*")).respond_with_handler(self._handle)

    @property
    def url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def fail_next(self, response: Response) -> None:
        self.queued.append(response)

    def stock(self, sku: str) -> int | None:
        return next(p.stock for p in self.products if p.sku == sku)

    def sell(self, sku: str, quantity: int) -> None:
        """A sale in the store between our read and our write."""
        product = next(p for p in self.products if p.sku == sku)
        product.stock = (product.stock or 0) - quantity

    def _handle(self, request: Request) -> Response:
        body = request.get_json(silent=True)
        self.requests.append((request.method, request.full_path.rstrip("?"), body))
        if self.queued:
            return self.queued.pop(0)
        return self.handle(request, body)

    def handle(self, request: Request, body: Any) -> Response:
        raise NotImplementedError


class FakeWooCommerce(FakeStore):
    def handle(self, request: Request, body: Any) -> Response:
        path = request.path.removeprefix("/wp-json/wc/v3")
        query = {k: v[0] for k, v in parse_qs(request.query_string.decode()).items()}
        if path == "/orders" and request.method == "GET":
            return self._page(request, self.orders, query)
        if match := re.fullmatch(r"/orders/(\d+)", path):
            found = [o for o in self.orders if str(o["id"]) == match[1]]
            if not found:
                return _json({"code": "woocommerce_rest_shop_order_invalid_id", "message": "Invalid ID."}, 404)
            return _json(found[0])
        if path == "/products" and request.method == "GET":
            skus = set(query.get("sku", "").split(",")) if "sku" in query else None
            chosen = [p for p in self.products if skus is None or p.sku in skus]
            return self._page(request, [self._product(p) for p in chosen], query)
        if match := re.fullmatch(r"/products(?:/(\d+)/variations)?/batch", path):
            parent = int(match[1] or 0)
            return _json({"update": [self._update(parent, item) for item in body.get("update", [])]})
        if path == "/webhooks" and request.method == "GET":
            return self._page(request, self.webhooks, query)
        if path == "/webhooks" and request.method == "POST":
            hook = {
                "id": max([h["id"] for h in self.webhooks], default=0) + 1,
                "name": body.get("name", ""),
                "status": body.get("status", "active"),
                "topic": body["topic"],
                "delivery_url": body["delivery_url"],
                "secret": body.get("secret", ""),
            }
            self.webhooks.append(hook)
            return _json(hook, 201)
        if (match := re.fullmatch(r"/webhooks/(\d+)", path)) and request.method == "DELETE":
            found = [h for h in self.webhooks if str(h["id"]) == match[1]]
            if not found:
                return _json({"code": "woocommerce_rest_webhook_invalid_id"}, 404)
            self.webhooks.remove(found[0])
            return _json(found[0])
        return _json({"code": "rest_no_route"}, 404)

    def _page(self, request: Request, items: list[Any], query: dict[str, str]) -> Response:
        per_page = min(int(query.get("per_page", "10")), self.per_page)
        page = int(query.get("page", "1"))
        pages = max((len(items) + per_page - 1) // per_page, 1)
        headers = {"X-WP-Total": str(len(items)), "X-WP-TotalPages": str(pages)}
        if page < pages:
            headers["Link"] = f'<{request.base_url}?page={page + 1}>; rel="next"'
        return _json(items[(page - 1) * per_page : page * per_page], headers=headers)

    @staticmethod
    def _product(p: Product) -> dict[str, Any]:
        return {
            "id": p.id,
            "type": "variation" if p.parent_id else "simple",
            "parent_id": p.parent_id,
            "sku": p.sku,
            "manage_stock": p.managed if not p.parent_id or p.managed else "parent",
            "stock_quantity": p.stock if p.managed else None,
        }

    def _update(self, parent: int, item: dict[str, Any]) -> dict[str, Any]:
        found = [p for p in self.products if p.id == item["id"] and p.parent_id == parent]
        if not found:
            return {
                "id": item["id"],
                "error": {"code": "woocommerce_rest_product_invalid_id", "message": "Invalid ID."},
            }
        found[0].stock = int(item["stock_quantity"])
        return self._product(found[0])


class FakeShopify(FakeStore):
    location: str = "gid://shopify/Location/1"

    def handle(self, request: Request, body: Any) -> Response:
        if request.path.endswith("/graphql.json"):
            return self._graphql(body["query"], body.get("variables") or {})
        if request.path.endswith("/orders.json"):
            return self._orders(request)
        if match := re.search(r"/orders/(\d+)\.json$", request.path):
            found = [o for o in self.orders if str(o["id"]) == match[1]]
            return _json({"order": found[0]}) if found else _json({"errors": "Not Found"}, 404)
        return _json({"errors": "Not Found"}, 404)

    def _orders(self, request: Request) -> Response:
        query = {k: v[0] for k, v in parse_qs(request.query_string.decode()).items()}
        start = int(query.get("page_info", "0"))
        limit = min(int(query.get("limit", "50")), self.per_page)
        headers = {}
        if start + limit < len(self.orders):
            headers["Link"] = f'<{request.base_url}?limit={limit}&page_info={start + limit}>; rel="next"'
        return _json({"orders": self.orders[start : start + limit]}, headers=headers)

    def _graphql(self, query: str, variables: dict[str, Any]) -> Response:
        cost = {
            "requestedQueryCost": 10,
            "actualQueryCost": 10,
            "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1990.0, "restoreRate": 100.0},
        }
        if "inventorySetQuantities" in query:
            data: dict[str, Any] = {"inventorySetQuantities": self._set(variables["input"])}
        elif "productVariants" in query:
            skus = set(re.findall(r'sku:"([^"]*)"', variables["query"]))
            data = {"productVariants": {"nodes": [self._variant(p) for p in self.products if p.sku in skus]}}
        elif "webhookSubscriptionCreate" in query:
            node = {"id": f"gid://shopify/WebhookSubscription/{len(self.webhooks) + 100}", "topic": variables["topic"]}
            node["uri"] = variables["uri"]
            self.webhooks.append(node)
            data = {"webhookSubscriptionCreate": {"webhookSubscription": node, "userErrors": []}}
        elif "webhookSubscriptionDelete" in query:
            before = len(self.webhooks)
            self.webhooks[:] = [w for w in self.webhooks if w["id"] != variables["id"]]
            deleted = variables["id"] if len(self.webhooks) < before else None
            data = {"webhookSubscriptionDelete": {"deletedWebhookSubscriptionId": deleted, "userErrors": []}}
        elif "webhookSubscriptions" in query:
            start = int(variables.get("after") or 0)
            chunk = self.webhooks[start : start + 2]  # two per page, so paging is exercised
            more = start + 2 < len(self.webhooks)
            data = {
                "webhookSubscriptions": {
                    "nodes": chunk,
                    "pageInfo": {"hasNextPage": more, "endCursor": str(start + 2) if more else None},
                }
            }
        elif "location" in query:
            data = {"location": {"id": self.location}}
        else:
            return _json({"errors": [{"message": "unknown query"}]})
        return _json({"data": data, "extensions": {"cost": cost}})

    @staticmethod
    def _variant(p: Product) -> dict[str, Any]:
        level = {"quantities": [{"name": "available", "quantity": p.stock or 0}]}
        return {
            "sku": p.sku,
            "inventoryItem": {
                "id": f"gid://shopify/InventoryItem/{p.id}",
                "tracked": p.managed,
                "inventoryLevel": level,
            },
        }

    def _set(self, data: dict[str, Any]) -> dict[str, Any]:
        errors = []
        for index, q in enumerate(data["quantities"]):
            product = next(p for p in self.products if f"gid://shopify/InventoryItem/{p.id}" == q["inventoryItemId"])
            if q.get("compareQuantity") != (product.stock or 0):
                errors.append(
                    {
                        "code": "COMPARE_QUANTITY_STALE",
                        "field": ["input", "quantities", str(index), "compareQuantity"],
                        "message": "The compareQuantity argument no longer matches the persisted quantity.",
                    }
                )
        if not errors:  # all or nothing, as the mutation
            for q in data["quantities"]:
                product = next(
                    p for p in self.products if f"gid://shopify/InventoryItem/{p.id}" == q["inventoryItemId"]
                )
                product.stock = q["quantity"]
        return {"userErrors": errors}


def throttled(requested: int = 100, available: int = 40, restore: float = 50.0) -> Response:
    """Shopify's answer when the cost bucket is short: errors THROTTLED, extensions.cost.throttleStatus."""
    body = {
        "errors": [
            {
                "message": "Throttled",
                "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"},
            }
        ],
        "extensions": {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": None,
                "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": available, "restoreRate": restore},
            }
        },
    }
    return _json(body)


def too_many(retry_after: str = "0") -> Response:
    return _json(
        {"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."},
        429,
        {"Retry-After": retry_after},
    )
