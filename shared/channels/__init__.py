"""Inbound channels, one package per store system (webhook, parsing, event keys, topics, store API), found
through the registry below. Adding a channel is its package plus one line in CHANNELS; nothing outside this
folder names a channel (tests/unit/test_channel_registry.py checks it).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, cast, runtime_checkable

from shared.errors import NotFound

if TYPE_CHECKING:
    from shared.domain.order import EventKind, OrderEvent, Refund
    from shared.ports import StoreApi
    from shared.stores import StoreSettings

# Channel name (the webhook route segment and the store file's `channel`) → its package, imported on demand so a
# broken channel cannot stop the others (or the Function App) from loading.
CHANNELS: dict[str, str] = {
    "woocommerce": "shared.channels.woocommerce",
    "shopify": "shared.channels.shopify",
}
CHANNEL_NAMES: tuple[str, ...] = tuple(CHANNELS)


@dataclass(frozen=True)
class PersonalData:
    """Where a channel's raw bodies (webhook deliveries, API answers) carry personal data, for the redaction in
    shared.handlers.privacy. A kind names what a value is ("email", "address", …; "" = guessed from its key)."""

    objects: Mapping[str, str]  # key → kind: an object describing a person, every text and coordinate inside
    keys: Mapping[str, str]  # key → kind: personal wherever it appears
    keep_inside: frozenset[str]  # keys inside such an object that name no one (ids, country, timestamps)
    labels: frozenset[str] = frozenset()  # in an "attributes" list, the key that labels a value: it stays

    @classmethod
    def union(cls, declarations: Iterable[PersonalData]) -> PersonalData:
        """Every place any of the declarations names: for a body whose channel is not known."""
        found = list(declarations)
        return cls(
            objects={k: v for d in found for k, v in d.objects.items()},
            keys={k: v for d in found for k, v in d.keys.items()},
            keep_inside=frozenset().union(*(d.keep_inside for d in found)),
            labels=frozenset().union(*(d.labels for d in found)),
        )


@runtime_checkable
class ChannelModule(Protocol):
    """What a channel package offers; each package's __init__ has mypy check it against this. Headers are passed
    with lower-case names."""

    @property
    def NAME(self) -> str: ...  # the route segment, store setting and event-key prefix

    @property
    def SIGNATURE_HEADER(self) -> str: ...  # a module constant, read-only

    @property
    def TOPIC_HEADER(self) -> str: ...  # the (unsigned) header that names the delivery's topic

    @property
    def POLL_TOPIC(self) -> str: ...  # the topic under which the catch-up poll feeds orders it read

    @property
    def TOPICS(self) -> Mapping[str, EventKind]: ...  # every topic handled: each needs a webhook subscription

    @property
    def PERSONAL_DATA(self) -> PersonalData: ...  # where its raw bodies carry personal data

    def is_ping(self, raw_body: bytes, headers: Mapping[str, str]) -> bool:
        """True for a store's "is this URL alive?" request, which is answered 200 without a signature."""

    def verify(self, raw_body: bytes, headers: Mapping[str, str], secret: str) -> bool:
        """HMAC-SHA256 of the raw bytes against the signature header, in constant time; False if absent."""

    def parse_event(
        self,
        raw_body: bytes,
        headers: Mapping[str, str],
        store_id: str,
        received_at: datetime,
        money: str = "presentment",
    ) -> OrderEvent:
        """The canonical event, amounts in `money` (invoice.currency: presentment, what the customer paid, or
        shop); raises shared.errors.BadRequest(400) for malformed or unhandled input."""

    def event_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Non-secret delivery headers worth keeping for audit (never the signature)."""

    def topic_kind(self, topic: str) -> EventKind:
        """The canonical event kind of a store topic; BadRequest(400) for a topic we do not handle."""

    def can_poll(self, settings: StoreSettings) -> bool:
        """Whether the store API credentials let the catch-up poll list orders (and read one back)."""

    def can_fetch_refunds(self, settings: StoreSettings) -> bool:
        """Whether refund lines must and can be read from the store API (the webhook does not carry them)."""

    def fetch_refund(self, settings: StoreSettings, order_id: str, refund_id: str) -> Refund:
        """One refund with its lines; RetryableError or PermanentError (shared.errors) when the API fails."""

    def cancelled_in_store(self, settings: StoreSettings, order_id: str) -> bool:
        """Whether the store shows the order deleted or cancelled; RetryableError or PermanentError on failure."""

    def store_api(self, settings: StoreSettings) -> StoreApi:
        """The store's API adapter (shared.ports.StoreApi): orders, stock and webhook subscriptions."""

    def changed_orders(self, settings: StoreSettings, stamp: str, max_pages: int) -> Iterator[bytes]:
        """The JSON of each order changed since `stamp` (UTC, YYYY-MM-DDTHH:MM:SS), oldest change first."""


def channel_of(name: str) -> ChannelModule:
    """The channel package for a registered name (case and spaces ignored); NotFound for anything else."""
    name = name.strip().lower()
    package = CHANNELS.get(name)
    if package is None:
        expected = " or ".join(CHANNEL_NAMES)
        raise NotFound("Unknown channel", f"No channel named {name!r}; expected {expected}.")
    return cast(ChannelModule, importlib.import_module(package))


__all__ = ["CHANNELS", "CHANNEL_NAMES", "ChannelModule", "PersonalData", "channel_of"]
