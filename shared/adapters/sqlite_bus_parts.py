"""The local bus's parts that are not the queue operations: its SQLite schema and next-message query, the
message records it hands out, and the wake-ups of a process's idle receivers (shared.adapters.sqlite_bus)."""

from __future__ import annotations

import os
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

# Service Bus names these reasons itself; keep them so dashboards read the same locally and on Azure.
MAX_DELIVERY_COUNT_EXCEEDED = "MaxDeliveryCountExceeded"

# messages_locked holds only messages in flight: receive() looks for expired locks on every call, and without
# it that look walked the queue's whole backlog while holding the write lock. sent_message_ids_by_time lets
# send() forget ids past the duplicate window without reading every id sent within it.
SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    session_id TEXT,
    body BLOB NOT NULL,
    properties TEXT NOT NULL,
    enqueued_at REAL NOT NULL,
    scheduled_at REAL NOT NULL,
    visible_at REAL NOT NULL,
    delivery_count INTEGER NOT NULL DEFAULT 0,
    lock_token TEXT,
    locked_until REAL,
    dead_lettered INTEGER NOT NULL DEFAULT 0,
    dead_letter_reason TEXT,
    dead_letter_description TEXT,
    dead_lettered_at REAL
);
CREATE INDEX IF NOT EXISTS messages_queue ON messages (queue, dead_lettered, seq);
CREATE INDEX IF NOT EXISTS messages_session ON messages (queue, session_id, dead_lettered, seq);
CREATE INDEX IF NOT EXISTS messages_locked ON messages (queue, locked_until)
    WHERE locked_until IS NOT NULL AND dead_lettered = 0;
CREATE TABLE IF NOT EXISTS sent_message_ids (
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    sent_at REAL NOT NULL,
    PRIMARY KEY (queue, message_id)
);
CREATE INDEX IF NOT EXISTS sent_message_ids_by_time ON sent_message_ids (queue, sent_at);
"""

# The oldest message a receiver may take: enqueued (not still scheduled), not backing off, not locked,
# and, in a session, the head of its session while no other message of that session is in flight.
NEXT_MESSAGE = """
SELECT * FROM messages AS m
WHERE m.queue = :queue AND m.dead_lettered = 0
  AND m.scheduled_at <= :now AND m.visible_at <= :now
  AND (m.locked_until IS NULL OR m.locked_until <= :now)
  AND (m.session_id IS NULL OR (
        NOT EXISTS (SELECT 1 FROM messages AS o
                    WHERE o.queue = m.queue AND o.session_id = m.session_id AND o.dead_lettered = 0
                      AND o.seq < m.seq AND o.scheduled_at <= :now)
        AND NOT EXISTS (SELECT 1 FROM messages AS o
                        WHERE o.queue = m.queue AND o.session_id = m.session_id AND o.dead_lettered = 0
                          AND o.locked_until > :now)))
ORDER BY m.seq
LIMIT 1
"""


class LockLostError(Exception):
    """The message's lock expired or another receiver holds it now: the settle was refused.

    The message will be (or already was) delivered again; handlers must be idempotent anyway.
    """


def bus_path(state_dir: Path) -> Path:
    """Where the local host and every local sender meet: one bus file per state directory."""
    return state_dir / "bus.db"


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@dataclass(slots=True)
class ReceivedMessage:
    """A peek-locked message: settle it with complete(), abandon() or dead_letter() before locked_until."""

    queue: str
    message_id: str
    session_id: str | None
    body: bytes
    properties: dict[str, str]
    delivery_count: int
    enqueued_at: datetime
    sequence_number: int
    lock_token: str
    locked_until: datetime


@dataclass(frozen=True, slots=True)
class DeadLetter:
    queue: str
    sequence_number: int
    message_id: str
    session_id: str | None
    body: bytes
    properties: dict[str, str]
    delivery_count: int
    enqueued_at: datetime
    dead_lettered_at: datetime
    reason: str
    description: str


@dataclass(frozen=True, slots=True)
class QueueStats:
    active: int  # enqueued and waiting, including messages backing off after a failure
    scheduled: int  # scheduled for a later enqueue time
    locked: int  # in flight: a receiver holds the lock
    dead_lettered: int
    oldest_enqueued_age_seconds: float  # of the oldest waiting or in-flight message; 0.0 when none


class Arrivals:
    """Wakes this process's idle receivers of one queue when a message may have become receivable: sent,
    or its session freed by a settle. Receivers still poll, for messages that come due on their own
    (scheduled, backing off, an expired lock) and for sends by other processes."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._count = 0  # arrivals so far: a receiver waits only if none came since it last looked

    def seen(self) -> int:
        return self._count

    def notify(self, everyone: bool = False) -> None:
        with self._changed:
            self._count += 1
            if everyone:
                self._changed.notify_all()
            else:
                self._changed.notify()

    def wait(self, seen: int, timeout: float) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._count != seen, timeout)


_arrivals: dict[tuple[str, str], Arrivals] = {}
_arrivals_lock = threading.Lock()


def arrivals_of(path: Path, queue: str) -> Arrivals:
    # By file, not by SqliteBus object: handlers send through their own instance on the same file.
    key = (os.path.realpath(path), queue)
    with _arrivals_lock:
        found = _arrivals.get(key)
        if found is None:
            found = _arrivals[key] = Arrivals()
        return found


@dataclass
class Connections:
    """One connection per (process, thread): sqlite3 connections must not cross a fork."""

    local: threading.local = field(default_factory=threading.local)
    all: list[sqlite3.Connection] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
