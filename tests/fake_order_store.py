"""A fake store API on loopback (pytest-httpserver) that answers the order list as the stores document it.

WooCommerce REST v3: GET /wp-json/wc/v3/orders filtered by modified_after (dates_are_gmt), sorted by orderby/order,
paged by page/per_page with the X-WP-Total and X-WP-TotalPages headers. Shopify Admin REST: GET
/admin/api/<version>/orders.json filtered by updated_at_min, paged by cursor: a `Link: <…page_info=…>; rel="next"`
header, and a page_info request may carry nothing but limit. Pages are capped at PAGE_SIZE so a handful of orders
already spans pages. Stock is read as in tests.fake_store: WooCommerce GET /products?sku=a,b (paged), Shopify GraphQL
`location` and `productVariants` (the store's `products`; none means no SKU is known there).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.fake_store import FakeShopify, FakeWooCommerce, Product
from tests.support import fixture_json

PAGE_SIZE = 2
SHOPIFY_VERSION = "2025-07"


def woo_order(order_id: int, created: str, **changes: Any) -> dict[str, Any]:
    """The fixture order under another id, created (and modified) at `created` (UTC, YYYY-MM-DDTHH:MM:SS)."""
    order = fixture_json("woocommerce", "order_created")
    order |= {"id": order_id, "number": str(order_id), "order_key": f"wc_order_{order_id}"}
    order |= {"date_created_gmt": created, "date_modified_gmt": created, "date_paid_gmt": created}
    order |= {"date_created": created, "date_modified": created, "date_paid": created}
    return order | changes


def shopify_order(order_id: int, created: str, **changes: Any) -> dict[str, Any]:
    order = fixture_json("shopify", "orders_create")
    number = 1000 + order_id % 1000
    order |= {"id": order_id, "name": f"#{number}", "order_number": number, "number": number - 1000}
    order |= {"created_at": f"{created}Z", "updated_at": f"{created}Z", "processed_at": f"{created}Z"}
    return order | changes


class FakeStore:
    """The orders the store has; tests change them freely. `requests` records each path and query served."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.woo: list[dict[str, Any]] = []
        self.shopify: list[dict[str, Any]] = []
        self.products: list[Product] = []
        self.requests: list[str] = []
        server.expect_request("/wp-json/wc/v3/orders").respond_with_handler(self._woo_orders)
        server.expect_request("/wp-json/wc/v3/products").respond_with_handler(self._woo_products)
        server.expect_request(f"/admin/api/{SHOPIFY_VERSION}/orders.json").respond_with_handler(self._shopify_orders)
        server.expect_request(f"/admin/api/{SHOPIFY_VERSION}/graphql.json").respond_with_handler(self._shopify_graphql)

    def stock(self, quantities: dict[str, int | None]) -> None:
        """The store's products and their stock by SKU; None: the store keeps no stock for that product."""
        for number, (sku, quantity) in enumerate(quantities.items(), start=len(self.products) + 1):
            self.products.append(Product(number, sku, quantity, managed=quantity is not None))

    @property
    def base_url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def _woo_orders(self, request: Request) -> Response:
        since = _utc(request.args.get("modified_after", "1970-01-01T00:00:00"))
        found = [o for o in self.woo if _utc(o["date_modified_gmt"]) > since]
        found.sort(key=lambda o: (o["date_modified_gmt"], o["id"]), reverse=request.args.get("order") == "desc")
        return self._woo_page(request, found)

    def _woo_products(self, request: Request) -> Response:
        skus = set(request.args.get("sku", "").split(","))
        return self._woo_page(request, [FakeWooCommerce._product(p) for p in self.products if p.sku in skus])

    def _woo_page(self, request: Request, found: list[dict[str, Any]]) -> Response:
        """One page of a WooCommerce list, as REST v3 pages it, after the consumer key is checked."""
        self.requests.append(unquote(request.full_path))
        if request.authorization is None or not request.authorization.username:
            return Response(json.dumps({"code": "woocommerce_rest_cannot_view"}), 401, content_type="application/json")
        size = min(int(request.args.get("per_page", "10")), PAGE_SIZE)
        page = int(request.args.get("page", "1"))
        pages = max(1, -(-len(found) // size))
        headers = {"X-WP-Total": str(len(found)), "X-WP-TotalPages": str(pages)}
        body = found[(page - 1) * size : page * size]
        return Response(json.dumps(body), 200, headers=headers, content_type="application/json")

    def _shopify_graphql(self, request: Request) -> Response:
        self.requests.append(unquote(request.full_path))
        if not request.headers.get("X-Shopify-Access-Token"):
            return Response(json.dumps({"errors": "Unauthorized"}), 401, content_type="application/json")
        body = request.get_json()
        if "productVariants" in body["query"]:
            skus = set(re.findall(r'sku:"([^"]*)"', body["variables"]["query"]))
            variants = [FakeShopify._variant(p) for p in self.products if p.sku in skus]
            data: dict[str, Any] = {"productVariants": {"nodes": variants}}
        else:
            data = {"location": {"id": FakeShopify.location}}
        return Response(json.dumps({"data": data}), 200, content_type="application/json")

    def _shopify_orders(self, request: Request) -> Response:
        self.requests.append(unquote(request.full_path))
        if not request.headers.get("X-Shopify-Access-Token"):
            return Response(json.dumps({"errors": "Unauthorized"}), 401, content_type="application/json")
        args = request.args
        if "page_info" in args:
            if set(args) - {"page_info", "limit"}:  # Shopify refuses other parameters next to a cursor
                return Response(json.dumps({"errors": "page_info must be alone"}), 400, content_type="application/json")
            since, offset = args["page_info"].split("~")
        else:
            since, offset = args.get("updated_at_min", "1970-01-01T00:00:00Z"), "0"
        found = sorted((o for o in self.shopify if _utc(o["updated_at"]) >= _utc(since)), key=lambda o: o["id"])
        start = int(offset)
        size = min(int(args.get("limit", "50")), PAGE_SIZE)
        headers = {}
        if start + size < len(found):
            link = self.server.url_for(f"/admin/api/{SHOPIFY_VERSION}/orders.json")
            headers["Link"] = f'<{link}?limit={size}&page_info={since}~{start + size}>; rel="next"'
        body = {"orders": found[start : start + size]}
        return Response(json.dumps(body), 200, headers=headers, content_type="application/json")


def _utc(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
