"""Inbound channels: the first step of intake. Each channel module verifies a store webhook and maps it to
a canonical OrderEvent; `get_channel` picks the module from the webhook route's channel name.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import ModuleType
from typing import TYPE_CHECKING, Protocol, cast

from shared.domain.order import EventKind, OrderEvent
from shared.errors import BadRequest


class ChannelModule(Protocol):
    """What intake needs from a channel. Headers are passed with lower-case names."""

    @property
    def SIGNATURE_HEADER(self) -> str: ...  # a module constant, read-only

    def is_ping(self, raw_body: bytes, headers: Mapping[str, str]) -> bool:
        """True for a store's "is this URL alive?" request, which is answered 200 without a signature."""

    def verify(self, raw_body: bytes, headers: Mapping[str, str], secret: str) -> bool:
        """HMAC-SHA256 of the raw bytes against the signature header, in constant time; False if absent."""

    def parse_event(
        self, raw_body: bytes, headers: Mapping[str, str], store_id: str, received_at: datetime
    ) -> OrderEvent:
        """The canonical event; raises shared.errors.BadRequest(400) for malformed or unhandled input."""

    def event_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Non-secret delivery headers worth keeping for audit (never the signature)."""

    def topic_kind(self, topic: str) -> EventKind:
        """The canonical event kind of a store topic; BadRequest(400) for a topic we do not handle."""


def _load(name: str) -> ModuleType:
    # Imported on demand so a broken channel cannot stop the other one (or the Function App) from loading.
    if name == "woocommerce":
        from shared.channels import woocommerce

        return woocommerce
    if name == "shopify":
        from shared.channels import shopify

        return shopify
    raise BadRequest(404, "Unknown channel", f"No channel named {name!r}; expected woocommerce or shopify.")


def get_channel(name: str) -> ChannelModule:
    """The channel module for "woocommerce" or "shopify"; BadRequest(404) for anything else."""
    return cast(ChannelModule, _load(name.strip().lower()))


__all__ = ["ChannelModule", "get_channel"]

if TYPE_CHECKING:
    # mypy checks here that both modules satisfy the protocol.
    from shared.channels import shopify as _shopify
    from shared.channels import woocommerce as _woocommerce

    _CHANNELS: tuple[ChannelModule, ChannelModule] = (_woocommerce, _shopify)
