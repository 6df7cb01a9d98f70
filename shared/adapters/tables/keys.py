"""Table Storage keys and limits: escaping key parts, the row keys of each table, and payloads split
under the size limits of a property and an entity."""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

TABLES = ("orders", "orderindex", "events", "claims", "skumaps", "watermarks", "stock")
ORDER_ROW = "order"
EVENT_ROW = "event"
TIMELINE_PREFIX = "timeline|"
TIMELINE_END = "timeline}"  # the character after "|": every timeline row key sorts below it
UNSENT_PARTITION = "unsent"  # never an event's partition: those always hold "|"

# Table Storage limits: a string or binary property holds at most 64 KiB (strings are UTF-16, so 32 K
# characters), an entity at most 1 MiB, a transaction 100 operations in one partition.
STRING_CHARS = 30_000
CHUNK_BYTES = 60_000
MAX_CHUNKS = 15
BATCH = 100


def key_part(value: str) -> str:
    """A key part safe for PartitionKey/RowKey, which forbid / \\ # ? and control characters.

    Percent-encoding is reversible and escapes "|", which joins the parts.
    """
    return quote(value, safe="")


def pair_key(first: str, second: str) -> str:
    return f"{key_part(first)}|{key_part(second)}"


def index_row_key(changed_at: datetime, order_id: str) -> str:
    """Inverted time first, so that the newest change sorts first in the index partition."""
    micros = int(changed_at.timestamp() * 1_000_000)
    return f"{10**17 - micros:017d}|{key_part(order_id)}"


def pack(prefix: str, data: bytes) -> dict[str, Any]:
    """Split a gzip'd payload over binary properties, each under the 64 KiB property limit."""
    packed = gzip.compress(data)
    chunks = [packed[i : i + CHUNK_BYTES] for i in range(0, len(packed), CHUNK_BYTES)]
    if len(chunks) > MAX_CHUNKS:
        raise ValueError(f"{prefix} is {len(packed)} bytes compressed: over what one table entity holds")
    entity: dict[str, Any] = {f"{prefix}Parts": len(chunks)}
    for number, chunk in enumerate(chunks):
        entity[f"{prefix}{number}"] = chunk
    return entity


def unpack(prefix: str, entity: Mapping[str, Any]) -> bytes:
    parts = int(entity[f"{prefix}Parts"])
    return gzip.decompress(b"".join(bytes(entity[f"{prefix}{n}"]) for n in range(parts)))
