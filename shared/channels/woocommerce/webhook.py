"""WooCommerce webhooks: verify the signature, tell a ping, read the topic, check that the body fits it, and
key the event. The event key is store + order id + modification time + kind (see parse_event).
"""

from __future__ import annotations

import re
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
    to_time,
    verify_signature,
)
from shared.channels.woocommerce.parsing import NAME, parse_order, refuse_legacy
from shared.domain.order import (
    EventKind,
    Order,
    OrderEvent,
)
from shared.errors import BadRequest

SIGNATURE_HEADER = "x-wc-webhook-signature"
TOPIC_HEADER = "x-wc-webhook-topic"
DELIVERY_HEADER = "x-wc-webhook-delivery-id"

TOPICS: dict[str, EventKind] = {
    "order.created": EventKind.ORDER_UPSERTED,
    "order.updated": EventKind.ORDER_UPSERTED,
    "order.deleted": EventKind.ORDER_DELETED,
    "order.restored": EventKind.ORDER_RESTORED,
}
# The catch-up poll feeds orders read from the REST API through intake as if this topic had delivered them.
POLL_TOPIC = "order.updated"

# Delivery headers kept for audit; never the signature.
_AUDIT_HEADERS = (
    "x-wc-webhook-topic",
    "x-wc-webhook-resource",
    "x-wc-webhook-event",
    "x-wc-webhook-id",
    "x-wc-webhook-delivery-id",
    "x-wc-webhook-source",
)

# WooCommerce pings a new webhook's URL once with this form body and no X-WC-Webhook-* headers.
_PING_BODY = re.compile(rb"\s*webhook_id=\d+\s*")


def is_ping(raw_body: bytes, headers: Mapping[str, str]) -> bool:
    return not header(headers, TOPIC_HEADER) and _PING_BODY.fullmatch(raw_body) is not None


def verify(raw_body: bytes, headers: Mapping[str, str], secret: str) -> bool:
    return verify_signature(raw_body, header(headers, SIGNATURE_HEADER), secret)


def event_headers(headers: Mapping[str, str]) -> dict[str, str]:
    kept = {name: header(headers, name) for name in _AUDIT_HEADERS}
    return {name: value for name, value in kept.items() if value}


def topic_kind(topic: str) -> EventKind:
    kind = TOPICS.get(topic.strip().lower())
    if kind is None:
        raise BadRequest(400, "Unknown topic", f"WooCommerce topic {topic or '(none)'!r} is not handled.")
    return kind


def check_body_fits_topic(kind: EventKind, topic: str, data: Mapping[str, Any]) -> None:
    """Refuse (400) a body its topic does not describe; the signature covers the body, not the topic header.

    WooCommerce builds a deletion's payload as {"id": N} and nothing else (WC_Webhook::build_payload: for the
    'deleted' event "just include the ID"; order.deleted fires when an order is trashed). Every other order
    topic carries the full REST v3 order, which has `status` and `line_items`; a refund resource has neither
    `status` nor `currency` and is no order.
    """
    if kind is EventKind.ORDER_DELETED:
        if set(data) != {"id"}:
            raise mismatch("WooCommerce", topic, 'only the order id ({"id": N})')
    elif "status" not in data or "line_items" not in data:
        raise mismatch("WooCommerce", topic, "a full order (with status and line_items)")


def parse_event(
    raw_body: bytes, headers: Mapping[str, str], store_id: str, received_at: datetime, money: str = "presentment"
) -> OrderEvent:
    """One webhook delivery as a canonical event. Raises BadRequest(400) for what we cannot read, and for a
    body that does not fit its topic (check_body_fits_topic). `money` is accepted for the protocol: a
    WooCommerce order has one currency, the one the customer paid.

    The event key is store + order id + order modification time + kind, because WooCommerce's delivery id
    is webhook id + current second (not unique) and WooCommerce never retries, so a repeat is a resend of
    the same snapshot. A deletion without a modification time is keyed on the time we received it.
    """
    topic = header(headers, TOPIC_HEADER)
    kind = topic_kind(topic)
    data = load_json_object(raw_body)
    refuse_legacy(data)
    order_id = to_id(data.get("id"))
    if not order_id:
        raise BadRequest(400, "Not an order", "The WooCommerce payload has no order id.")
    check_body_fits_topic(kind, topic.strip().lower(), data)
    modified = to_time(data.get("date_modified_gmt"), "date_modified_gmt") or to_time(
        data.get("date_created_gmt"), "date_created_gmt"
    )
    order: Order | None = None
    if kind is not EventKind.ORDER_DELETED:
        if modified is None:
            raise BadRequest(400, "Not an order", "The WooCommerce order has no date_modified_gmt.")
        order = parse_order(data, store_id)
    occurred_at = modified or received_at
    return build(
        OrderEvent,
        event_key=event_key(NAME, store_id, order_id, kind.value, stamp(occurred_at)),
        kind=kind,
        channel=NAME,
        store_id=store_id,
        order_id=order_id,
        topic=topic.strip().lower(),
        occurred_at=occurred_at,
        received_at=received_at,
        order=order,
        delivery_id=header(headers, DELIVERY_HEADER),
    )
