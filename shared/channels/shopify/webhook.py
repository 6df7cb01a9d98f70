"""Shopify webhooks: verify the HMAC, read the topic, check that the body fits it, and key the event on
X-Shopify-Event-Id (Shopify retries and may deliver twice or out of order; see parse_event).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.channels.common import (
    build,
    event_key,
    header,
    load_json_object,
    mismatch,
    stamp,
    to_id,
    to_text,
    verify_signature,
)
from shared.channels.shopify.parsing import NAME, PAID_STATES, parse_order, parse_refund
from shared.domain.order import (
    EventKind,
    Order,
    OrderEvent,
    Refund,
)
from shared.errors import BadRequest

SIGNATURE_HEADER = "x-shopify-hmac-sha256"
TOPIC_HEADER = "x-shopify-topic"
EVENT_ID_HEADER = "x-shopify-event-id"
WEBHOOK_ID_HEADER = "x-shopify-webhook-id"

TOPICS: dict[str, EventKind] = {
    "orders/create": EventKind.ORDER_UPSERTED,
    "orders/updated": EventKind.ORDER_UPSERTED,
    "orders/paid": EventKind.ORDER_PAID,
    "orders/cancelled": EventKind.ORDER_CANCELLED,
    "refunds/create": EventKind.REFUND_CREATED,
}

# The catch-up poll feeds orders read from the Admin API through intake as if this topic had delivered them.
POLL_TOPIC = "orders/updated"

# Delivery headers kept for audit; never the HMAC.
_AUDIT_HEADERS = (
    "x-shopify-topic",
    "x-shopify-event-id",
    "x-shopify-webhook-id",
    "x-shopify-api-version",
    "x-shopify-shop-domain",
    "x-shopify-triggered-at",
)


def is_ping(raw_body: bytes, headers: Mapping[str, str]) -> bool:
    """Shopify has no ping delivery: every request must be signed."""
    return False


def verify(raw_body: bytes, headers: Mapping[str, str], secret: str) -> bool:
    return verify_signature(raw_body, header(headers, SIGNATURE_HEADER), secret)


def event_headers(headers: Mapping[str, str]) -> dict[str, str]:
    kept = {name: header(headers, name) for name in _AUDIT_HEADERS}
    return {name: value for name, value in kept.items() if value}


def topic_kind(topic: str) -> EventKind:
    kind = TOPICS.get(topic.strip().lower())
    if kind is None:
        raise BadRequest(400, "Unknown topic", f"Shopify topic {topic or '(none)'!r} is not handled.")
    return kind


def check_body_fits_topic(kind: EventKind, topic: str, data: Mapping[str, Any]) -> None:
    """Refuse (400) a body its topic does not describe; the signature covers the body, not the topic header.

    Order topics carry the full Admin REST order (`line_items`); orders/cancelled is that order with
    `cancelled_at` set, and orders/paid one whose financial_status says it was paid (a late delivery may already
    show a refund, so partially_refunded and refunded count too). refunds/create carries a refund object: its
    `order_id` and `refund_line_items` (empty for an amount-only refund), never `line_items`.
    """
    if kind is EventKind.REFUND_CREATED:
        if "refund_line_items" not in data or "line_items" in data:
            raise mismatch("Shopify", topic, "a refund (with order_id and refund_line_items)")
        return
    if "line_items" not in data or "refund_line_items" in data:
        raise mismatch("Shopify", topic, "a full order (with line_items)")
    if kind is EventKind.ORDER_CANCELLED and data.get("cancelled_at") in (None, ""):
        raise mismatch("Shopify", topic, "an order with cancelled_at set")
    if kind is EventKind.ORDER_PAID and to_text(data.get("financial_status")).lower() not in PAID_STATES:
        raise mismatch("Shopify", topic, "an order whose financial_status is paid")


def parse_event(
    raw_body: bytes, headers: Mapping[str, str], store_id: str, received_at: datetime, money: str = "presentment"
) -> OrderEvent:
    """One webhook delivery as a canonical event, its amounts in `money` (the store's invoice.currency, see
    parse_order). Raises BadRequest(400) for what we cannot read, and for a body that does not fit its topic
    (check_body_fits_topic).

    Shopify retries a failed delivery up to 8 times and may deliver twice or out of order, with the same
    X-Shopify-Event-Id each time: the key is store + kind + that id (else the webhook id, else order id +
    updated_at). occurred_at is the order's updated_at (a refund's created_at) so stale snapshots can be
    ignored downstream.
    """
    topic = header(headers, TOPIC_HEADER)
    kind = topic_kind(topic)
    data = load_json_object(raw_body)
    order: Order | None = None
    refund: Refund | None = None
    if kind is EventKind.REFUND_CREATED:
        order_id = to_id(data.get("order_id"))
        if not order_id:
            raise BadRequest(400, "Not a refund", "The Shopify refund has no order_id.")
        check_body_fits_topic(kind, topic.strip().lower(), data)
        refund = parse_refund(data, money=money)
        occurred_at = refund.created_at
    else:
        if not to_id(data.get("id")):
            raise BadRequest(400, "Not an order", "The Shopify payload has no order id.")
        check_body_fits_topic(kind, topic.strip().lower(), data)
        order = parse_order(data, store_id, money)
        order_id = order.order_id
        occurred_at = order.updated_at
    delivery_id = header(headers, WEBHOOK_ID_HEADER)
    unique = header(headers, EVENT_ID_HEADER) or delivery_id
    parts = [NAME, store_id, kind.value]
    parts += [unique] if unique else [order_id, stamp(occurred_at)]
    return build(
        OrderEvent,
        event_key=event_key(*parts),
        kind=kind,
        channel=NAME,
        store_id=store_id,
        order_id=order_id,
        topic=topic.strip().lower(),
        occurred_at=occurred_at,
        received_at=received_at,
        order=order,
        refund=refund,
        delivery_id=delivery_id,
    )
