"""Shopify (Admin REST API): webhook verification, topics and event keys (webhook), order and refund parsing
(parsing), and the store API (store_api). The registry in shared.channels finds this package by its NAME.
"""

from typing import TYPE_CHECKING

from shared.channels.shopify.parsing import NAME, PERSONAL_DATA, TAX_ID_KEYS, parse_order, parse_refund
from shared.channels.shopify.store_api import (
    can_fetch_refunds,
    can_poll,
    cancelled_in_store,
    changed_orders,
    fetch_refund,
    store_api,
)
from shared.channels.shopify.webhook import (
    EVENT_ID_HEADER,
    POLL_TOPIC,
    SIGNATURE_HEADER,
    TOPIC_HEADER,
    TOPICS,
    WEBHOOK_ID_HEADER,
    check_body_fits_topic,
    event_headers,
    is_ping,
    parse_event,
    topic_kind,
    verify,
)

__all__ = [
    "EVENT_ID_HEADER",
    "NAME",
    "PERSONAL_DATA",
    "POLL_TOPIC",
    "SIGNATURE_HEADER",
    "TAX_ID_KEYS",
    "TOPICS",
    "TOPIC_HEADER",
    "WEBHOOK_ID_HEADER",
    "can_fetch_refunds",
    "can_poll",
    "cancelled_in_store",
    "changed_orders",
    "check_body_fits_topic",
    "event_headers",
    "fetch_refund",
    "is_ping",
    "parse_event",
    "parse_order",
    "parse_refund",
    "store_api",
    "topic_kind",
    "verify",
]

if TYPE_CHECKING:
    # mypy checks here that this package offers everything the registry promises (shared.channels.ChannelModule).
    import shared.channels.shopify as _this
    from shared.channels import ChannelModule

    _CHECKED: ChannelModule = _this
