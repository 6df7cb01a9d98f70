"""Intake: a store webhook in, a canonical event on the order-events queue out, answered at once.

No target work happens here. Order of checks follows the Contracts: size, store, ping, signature,
body, then the insert-if-absent claim of the event key. A refused request leaves no trace in state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from shared.bootstrap import Services
from shared.channels import ChannelModule, channel_of
from shared.channels.common import load_json_object, to_id
from shared.domain.commands import ApplyOrderEvent, outgoing_message
from shared.domain.order import OrderEvent
from shared.domain.records import EventRecord
from shared.errors import InvalidSignature, TooLarge, UnknownStore, Unreadable, UnreadableOrder
from shared.handlers.common import log
from shared.handlers.relay import send_recorded
from shared.telemetry import count_order, stage_span

MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Accepted:
    """A new event: recorded, and its message is on the order-events queue (or in the outbox for the relay)."""

    store_id: str
    order_id: str
    event_key: str


@dataclass(frozen=True)
class Duplicate:
    """An event already recorded: nothing new happened (a resend, or a second topic for the same change)."""

    store_id: str
    order_id: str
    event_key: str


@dataclass(frozen=True)
class Ping:
    """WooCommerce's test delivery when a webhook is saved: unsigned, it changes nothing."""


IntakeResult = Accepted | Duplicate | Ping


def receive_webhook(
    services: Services, channel: str, store_id: str, raw_body: bytes, headers: Mapping[str, str]
) -> IntakeResult:
    """Accept one webhook delivery. Raises TooLarge, UnknownStore, InvalidSignature or a channel's BadRequest for
    anything refused, and StoreNotLoaded for a store whose settings file was refused, so that the store sends it
    again.

    Idempotent: a repeated delivery is a Duplicate. Once this returns the event and its
    message are recorded together, and the message reaches the bus even if the process dies right after
    (the outbox relay sends what intake did not).
    """
    headers = {k.lower(): v for k, v in headers.items()}
    if len(raw_body) > MAX_BODY_BYTES:
        raise TooLarge("Payload too large", f"The body is {len(raw_body)} bytes; the limit is 1 MiB.")
    settings = services.loaded_store(store_id)
    if settings is None or settings.channel != channel:
        raise UnknownStore("Unknown store", f"No {channel} store '{store_id}' is configured here.")
    inbound = channel_of(channel)
    if inbound.is_ping(raw_body, headers):
        log.info("webhook ping store=%s", store_id)
        return Ping()
    if not inbound.verify(raw_body, headers, settings.webhook_secret):
        raise InvalidSignature("Invalid signature", f"The {inbound.SIGNATURE_HEADER} header is missing or wrong.")
    return accept(services, channel, store_id, raw_body, headers)


def accept(
    services: Services,
    channel: str,
    store_id: str,
    raw_body: bytes,
    headers: Mapping[str, str],
    source: str = "webhook",
) -> IntakeResult:
    """Parse an authentic delivery (or a catch-up fetch), record it once and put it on the order-events queue.

    Raises a channel's BadRequest (or Unreadable) for a body that is not an order of a known topic; an order
    whose values cannot be read (UnreadableOrder) is accepted as an unreadable event, to be held.
    """
    inbound = channel_of(channel)
    try:
        settings = services.loaded_store(store_id)
        money = settings.invoice.currency if settings is not None else "presentment"
        event = inbound.parse_event(raw_body, headers, store_id, services.clock(), money)
    except UnreadableOrder as error:
        event = _unreadable_event(inbound, raw_body, headers, store_id, services.clock(), error.detail)
    with stage_span("intake", store_id, event.order_id, None, channel=channel, **{"event.topic": event.topic}):
        created = _record_and_enqueue(services, inbound, channel, event, raw_body, headers, source)
    log.info(
        "%s %s store=%s order=%s event=%s topic=%s",
        source,
        "accepted" if created else "duplicate",
        store_id,
        event.order_id,
        event.event_key,
        event.topic,
    )
    return (Accepted if created else Duplicate)(store_id, event.order_id, event.event_key)


def _unreadable_event(
    inbound: ChannelModule,
    raw_body: bytes,
    headers: Mapping[str, str],
    store_id: str,
    received_at: datetime,
    reason: str,
) -> OrderEvent:
    """An order we cannot read but whose id we know: keyed on the body's hash, so a resend is a duplicate."""
    data = load_json_object(raw_body)
    topic_header = headers.get(inbound.TOPIC_HEADER, "")
    order_id = to_id(data.get("order_id") if "refund" in topic_header else data.get("id"))
    if not order_id:
        raise Unreadable("Not an order", reason)
    digest = hashlib.sha256(raw_body).hexdigest()[:32]
    topic = topic_header.strip().lower()
    return OrderEvent(
        event_key=f"{inbound.NAME}:{store_id}:unreadable:{digest}",
        kind=inbound.topic_kind(topic),
        channel=inbound.NAME,
        store_id=store_id,
        order_id=order_id,
        topic=topic,
        occurred_at=received_at,
        received_at=received_at,
        unreadable=reason,
    )


def _record_and_enqueue(
    services: Services,
    inbound: ChannelModule,
    channel: str,
    event: OrderEvent,
    raw_body: bytes,
    headers: Mapping[str, str],
    source: str,
) -> bool:
    """Record the raw event with its order-events message, marked unsent, in one insert-if-absent (the
    outbox); then send the message and clear the mark. True when the event was new.

    A failed send after the insert is not an error for the store: the record is durable and the relay
    (shared.handlers.relay) sends it, so the delivery is still acknowledged. With services.intake_sends off
    every send is left to the relay. A repeat of an event whose
    message is still unsent sends it now; a repeat of a sent one sends nothing.
    """
    store_id = event.store_id
    message = outgoing_message(ApplyOrderEvent(store_id=store_id, order_id=event.order_id, event=event))
    record = EventRecord(
        store_id=store_id,
        event_key=event.event_key,
        channel=channel,
        topic=event.topic,
        order_id=event.order_id,
        received_at=event.received_at,
        headers={**inbound.event_headers(headers), "source": source},
        body=raw_body,
        message=message,
        unsent=True,
    )
    created = services.state.record_event(record)
    if not created:
        record = services.state.get_event(store_id, event.event_key) or record
    if record.unsent and services.intake_sends:
        send_recorded(services, record)
    if created:
        count_order("received", store_id, channel)
    return created
