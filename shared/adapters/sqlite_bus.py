"""Bus adapter on one SQLite file with Service Bus semantics: the embedded default for local runs and tests.

Senders (intake, handlers) call send(); the local host receives with peek-lock, completes, abandons with
backoff or dead-letters. Safe across threads and processes: WAL journal, one connection per thread, and
every state change inside `BEGIN IMMEDIATE` so two receivers never lock the same message.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path

from shared.adapters.sqlite_bus_parts import (
    MAX_DELIVERY_COUNT_EXCEEDED,
    NEXT_MESSAGE,
    SCHEMA,
    Connections,
    DeadLetter,
    LockLostError,
    QueueStats,
    ReceivedMessage,
    arrivals_of,
    bus_path,
    to_datetime,
    utc_now,
)
from shared.adapters.sqlite_writes import begin_immediate
from shared.ports import QueuedMessage

__all__ = [
    "MAX_DELIVERY_COUNT_EXCEEDED",
    "DeadLetter",
    "LockLostError",
    "QueueStats",
    "ReceivedMessage",
    "SqliteBus",
    "bus_path",
]


class SqliteBus:
    """Queues with peek-lock, delivery count, dead-letter, duplicate detection, sessions and scheduling.

    Times are seconds. `clock` returns timezone-aware UTC now; tests pass a fake one. Implements
    shared.ports.Bus (send) and the receiving side the local host uses.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_delivery_count: int = 10,
        lock_duration: float = 30.0,
        duplicate_window: float = 600.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if max_delivery_count < 1:
            raise ValueError("max_delivery_count must be at least 1")
        if lock_duration <= 0:
            raise ValueError("lock_duration must be positive")
        self.path = Path(path)
        self.max_delivery_count = max_delivery_count
        self.lock_duration = lock_duration
        self.duplicate_window = duplicate_window
        self._clock = clock
        self._connections = Connections()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._transaction() as db:
            # executescript() would commit the open transaction first, so run the statements one by one.
            for statement in filter(str.strip, SCHEMA.split(";")):
                db.execute(statement)

    # -- plumbing ---------------------------------------------------------------------------------------

    def _now(self) -> float:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("clock must return a timezone-aware datetime")
        return now.timestamp()

    def _connection(self) -> sqlite3.Connection:
        local = self._connections.local
        db: sqlite3.Connection | None = getattr(local, "db", None)
        if db is not None and getattr(local, "pid", None) == os.getpid():
            return db
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a writer takes the lock up front
        # instead of upgrading a read lock mid-transaction (which fails with SQLITE_BUSY, no waiting).
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout = 30000")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        local.db = db
        local.pid = os.getpid()
        with self._connections.lock:
            self._connections.all.append(db)
        return db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._connection()
        begin_immediate(db)
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        """Close every connection this object opened in this process."""
        with self._connections.lock:
            connections, self._connections.all = self._connections.all, []
        for db in connections:
            # A connection still in use by another thread at exit refuses to close; the OS frees it.
            with suppress(sqlite3.Error):
                db.close()
        self._connections.local = threading.local()

    # -- sending ----------------------------------------------------------------------------------------

    def send(
        self,
        queue: str,
        body: bytes,
        *,
        message_id: str,
        session_id: str | None = None,
        scheduled_at: datetime | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> None:
        """Enqueue one message. A message_id already sent to this queue within the window is dropped.

        Like Service Bus, the window counts from the first send and a dropped repeat does not extend it.
        """
        if not message_id:
            raise ValueError("message_id is required (it is the duplicate-detection key)")
        if scheduled_at is not None and scheduled_at.tzinfo is None:
            raise ValueError("scheduled_at must be timezone-aware")
        now = self._now()
        due = max(now, scheduled_at.timestamp()) if scheduled_at is not None else now
        with self._transaction() as db:
            self._forget_old_ids(db, queue, now)
            if not self._remember_id(db, queue, message_id, now):
                return
            self._insert(db, queue, bytes(body), message_id, session_id, dict(properties or {}), now, due)
        if due <= now:
            arrivals_of(self.path, queue).notify()

    def send_batch(self, messages: Sequence[QueuedMessage]) -> None:
        """Send every message in one transaction (all or none), each dropped as a repeat as send() would drop it.
        Implements shared.ports.SendsBatches: the outbox relay's batches cost one write instead of one each."""
        if any(not message.message_id for message in messages):
            raise ValueError("message_id is required (it is the duplicate-detection key)")
        now = self._now()
        sent: dict[str, int] = {}
        with self._transaction() as db:
            for queue in {message.queue for message in messages}:
                self._forget_old_ids(db, queue, now)
            for message in messages:
                if not self._remember_id(db, message.queue, message.message_id, now):
                    continue
                properties = dict(message.properties or {})
                body = bytes(message.body)
                self._insert(db, message.queue, body, message.message_id, message.session_id, properties, now, now)
                sent[message.queue] = sent.get(message.queue, 0) + 1
        for queue, count in sent.items():
            arrivals = arrivals_of(self.path, queue)
            for _ in range(count):
                arrivals.notify()

    def _forget_old_ids(self, db: sqlite3.Connection, queue: str, now: float) -> None:
        db.execute(
            "DELETE FROM sent_message_ids WHERE queue = ? AND sent_at <= ?", (queue, now - self.duplicate_window)
        )

    @staticmethod
    def _remember_id(db: sqlite3.Connection, queue: str, message_id: str, now: float) -> bool:
        """False when the id was sent within the window (a repeat to drop). Like Service Bus, the window counts
        from the first send and a dropped repeat does not extend it."""
        seen = db.execute(
            "SELECT 1 FROM sent_message_ids WHERE queue = ? AND message_id = ?", (queue, message_id)
        ).fetchone()
        if seen is not None:
            return False
        db.execute(
            "INSERT INTO sent_message_ids (queue, message_id, sent_at) VALUES (?, ?, ?)", (queue, message_id, now)
        )
        return True

    @staticmethod
    def _insert(
        db: sqlite3.Connection,
        queue: str,
        body: bytes,
        message_id: str,
        session_id: str | None,
        properties: dict[str, str],
        now: float,
        due: float,
    ) -> int:
        cursor = db.execute(
            "INSERT INTO messages (queue, message_id, session_id, body, properties, enqueued_at, scheduled_at,"
            " visible_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (queue, message_id, session_id, body, json.dumps(properties), due, due, due),
        )
        return int(cursor.lastrowid or 0)

    # -- receiving --------------------------------------------------------------------------------------

    def arrivals_seen(self, queue: str) -> int:
        """A mark to pass to wait_for_arrival(), taken before the receive() that found nothing."""
        return arrivals_of(self.path, queue).seen()

    def wait_for_arrival(self, queue: str, seen: int, timeout: float) -> None:
        """Block until a message may be receivable on the queue (sent or freed in this process since `seen`),
        or `timeout` seconds pass. Spurious returns are allowed: receive() tells."""
        arrivals_of(self.path, queue).wait(seen, timeout)

    def wake_receivers(self, queue: str) -> None:
        """Return every waiting wait_for_arrival() of the queue now (the host is stopping)."""
        arrivals_of(self.path, queue).notify(everyone=True)

    def receive(self, queue: str) -> ReceivedMessage | None:
        """Peek-lock the next deliverable message, or None. Raises its delivery_count by one."""
        now = self._now()
        # Look before taking the write lock: idle workers poll often and would otherwise queue up on
        # BEGIN IMMEDIATE behind the senders. The choice is made again under the lock.
        if self._connection().execute(NEXT_MESSAGE, {"queue": queue, "now": now}).fetchone() is None:
            return None
        with self._transaction() as db:
            # A worker that died after its max-th delivery never abandoned: Service Bus dead-letters such
            # a message when the lock runs out instead of delivering it an (N+1)-th time.
            db.execute(
                "UPDATE messages SET dead_lettered = 1, dead_letter_reason = ?, dead_letter_description = ?,"
                " dead_lettered_at = ?, lock_token = NULL, locked_until = NULL"
                " WHERE queue = ? AND dead_lettered = 0 AND locked_until <= ? AND delivery_count >= ?",
                (
                    MAX_DELIVERY_COUNT_EXCEEDED,
                    "lock expired on the last allowed delivery",
                    now,
                    queue,
                    now,
                    self.max_delivery_count,
                ),
            )
            row = db.execute(NEXT_MESSAGE, {"queue": queue, "now": now}).fetchone()
            if row is None:
                return None
            token = str(uuid.uuid4())
            locked_until = now + self.lock_duration
            db.execute(
                "UPDATE messages SET lock_token = ?, locked_until = ?, delivery_count = delivery_count + 1"
                " WHERE seq = ?",
                (token, locked_until, row["seq"]),
            )
        return ReceivedMessage(
            queue=queue,
            message_id=row["message_id"],
            session_id=row["session_id"],
            body=bytes(row["body"]),
            properties=json.loads(row["properties"]),
            delivery_count=row["delivery_count"] + 1,
            enqueued_at=to_datetime(row["enqueued_at"]),
            sequence_number=row["seq"],
            lock_token=token,
            locked_until=to_datetime(locked_until),
        )

    def _locked_row(self, db: sqlite3.Connection, message: ReceivedMessage, now: float) -> sqlite3.Row:
        row = db.execute(
            "SELECT * FROM messages WHERE seq = ? AND lock_token = ? AND locked_until > ? AND dead_lettered = 0",
            (message.sequence_number, message.lock_token, now),
        ).fetchone()
        if row is None:
            raise LockLostError(
                f"lock lost for message {message.message_id} (sequence {message.sequence_number}) on {message.queue}"
            )
        return row

    def complete(self, message: ReceivedMessage) -> None:
        """Delete the message. Raises LockLostError when the lock expired or was taken over."""
        now = self._now()
        with self._transaction() as db:
            self._locked_row(db, message, now)
            db.execute("DELETE FROM messages WHERE seq = ?", (message.sequence_number,))
        if message.session_id is not None:  # the session's next message may be taken now
            arrivals_of(self.path, message.queue).notify()

    def renew_lock(self, message: ReceivedMessage) -> datetime:
        """Extend the lock by lock_duration from now; updates and returns message.locked_until."""
        now = self._now()
        locked_until = now + self.lock_duration
        with self._transaction() as db:
            self._locked_row(db, message, now)
            db.execute("UPDATE messages SET locked_until = ? WHERE seq = ?", (locked_until, message.sequence_number))
        message.locked_until = to_datetime(locked_until)
        return message.locked_until

    def abandon(self, message: ReceivedMessage, delay_seconds: float = 0.0) -> bool:
        """Release the lock; the message is receivable again after delay_seconds (its session waits too).

        After the max_delivery_count-th delivery the message is dead-lettered instead. Returns True when
        it was dead-lettered. Raises LockLostError when the lock expired or was taken over.
        """
        now = self._now()
        with self._transaction() as db:
            row = self._locked_row(db, message, now)
            if row["delivery_count"] >= self.max_delivery_count:
                self._dead_letter(
                    db,
                    message.sequence_number,
                    MAX_DELIVERY_COUNT_EXCEEDED,
                    f"failed on delivery {row['delivery_count']} of {self.max_delivery_count}",
                    now,
                )
                dead = True
            else:
                db.execute(
                    "UPDATE messages SET lock_token = NULL, locked_until = NULL, visible_at = ? WHERE seq = ?",
                    (now + max(0.0, delay_seconds), message.sequence_number),
                )
                dead = False
        if dead or delay_seconds <= 0:
            arrivals_of(self.path, message.queue).notify()
        return dead

    def dead_letter(self, message: ReceivedMessage, reason: str, description: str = "") -> None:
        """Move the message to the queue's dead-letter sub-queue. Raises LockLostError without the lock."""
        now = self._now()
        with self._transaction() as db:
            self._locked_row(db, message, now)
            self._dead_letter(db, message.sequence_number, reason, description, now)
        if message.session_id is not None:
            arrivals_of(self.path, message.queue).notify()

    @staticmethod
    def _dead_letter(db: sqlite3.Connection, seq: int, reason: str, description: str, now: float) -> None:
        db.execute(
            "UPDATE messages SET dead_lettered = 1, dead_letter_reason = ?, dead_letter_description = ?,"
            " dead_lettered_at = ?, lock_token = NULL, locked_until = NULL WHERE seq = ?",
            (reason, description, now, seq),
        )

    # -- dead-letter sub-queue --------------------------------------------------------------------------

    def list_dead_letters(self, queue: str) -> list[DeadLetter]:
        """Oldest first."""
        rows = (
            self._connection()
            .execute("SELECT * FROM messages WHERE queue = ? AND dead_lettered = 1 ORDER BY seq", (queue,))
            .fetchall()
        )
        return [
            DeadLetter(
                queue=queue,
                sequence_number=row["seq"],
                message_id=row["message_id"],
                session_id=row["session_id"],
                body=bytes(row["body"]),
                properties=json.loads(row["properties"]),
                delivery_count=row["delivery_count"],
                enqueued_at=to_datetime(row["enqueued_at"]),
                dead_lettered_at=to_datetime(row["dead_lettered_at"]),
                reason=row["dead_letter_reason"] or "",
                description=row["dead_letter_description"] or "",
            )
            for row in rows
        ]

    def resubmit_dead_letter(self, queue: str, sequence_number: int) -> int:
        """Replay a dead-lettered message as a new message (delivery count 0, end of its session).

        Bypasses duplicate detection: a replay is a deliberate repeat. Returns the new sequence number;
        raises KeyError when no such dead letter exists (for example, already resubmitted).
        """
        now = self._now()
        with self._transaction() as db:
            row = db.execute(
                "SELECT * FROM messages WHERE queue = ? AND seq = ? AND dead_lettered = 1", (queue, sequence_number)
            ).fetchone()
            if row is None:
                raise KeyError(f"no dead letter {sequence_number} on {queue}")
            db.execute("DELETE FROM messages WHERE seq = ?", (sequence_number,))
            sequence = self._insert(
                db,
                queue,
                bytes(row["body"]),
                row["message_id"],
                row["session_id"],
                json.loads(row["properties"]),
                now,
                now,
            )
        arrivals_of(self.path, queue).notify()
        return sequence

    # -- observation ------------------------------------------------------------------------------------

    def stats(self, queue: str) -> QueueStats:
        now = self._now()
        row = (
            self._connection()
            .execute(
                """
                SELECT
                  COALESCE(SUM(dead_lettered = 0 AND scheduled_at <= :now
                               AND (locked_until IS NULL OR locked_until <= :now)), 0) AS active,
                  COALESCE(SUM(dead_lettered = 0 AND scheduled_at > :now), 0) AS scheduled,
                  COALESCE(SUM(dead_lettered = 0 AND locked_until > :now), 0) AS locked,
                  COALESCE(SUM(dead_lettered = 1), 0) AS dead_lettered,
                  MIN(CASE WHEN dead_lettered = 0 AND scheduled_at <= :now THEN enqueued_at END) AS oldest
                FROM messages WHERE queue = :queue
                """,
                {"queue": queue, "now": now},
            )
            .fetchone()
        )
        oldest = row["oldest"]
        return QueueStats(
            active=row["active"],
            scheduled=row["scheduled"],
            locked=row["locked"],
            dead_lettered=row["dead_lettered"],
            oldest_enqueued_age_seconds=max(0.0, now - oldest) if oldest is not None else 0.0,
        )

    def queues(self) -> list[str]:
        """Names of the queues that hold any message, dead letters included."""
        rows = self._connection().execute("SELECT DISTINCT queue FROM messages ORDER BY queue").fetchall()
        return [row["queue"] for row in rows]
