"""State on one SQLite file: the embedded default behind the StateStore port (local host and tests).

Safe across threads and processes: WAL journal, one connection per thread, `BEGIN IMMEDIATE` for
every write so a claim and its document number are taken in one atomic step.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from shared.adapters.sqlite_verifactu import SCHEMA as VERIFACTU_SCHEMA
from shared.adapters.sqlite_verifactu import SqliteVerifactuRows
from shared.adapters.sqlite_writes import begin_immediate
from shared.domain.records import Claim, EventRecord, OrderRecord, OutgoingMessage, TimelineEntry, utcnow
from shared.ports import ConcurrencyError, StockLevel

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    store_id TEXT NOT NULL, event_key TEXT NOT NULL, channel TEXT NOT NULL, topic TEXT NOT NULL,
    order_id TEXT NOT NULL, received_at TEXT NOT NULL, headers TEXT NOT NULL, body BLOB NOT NULL,
    message TEXT, unsent INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (store_id, event_key));
CREATE TABLE IF NOT EXISTS orders (
    store_id TEXT NOT NULL, order_id TEXT NOT NULL, state TEXT NOT NULL, changed_at TEXT NOT NULL,
    version INTEGER NOT NULL, record TEXT NOT NULL, PRIMARY KEY (store_id, order_id));
CREATE INDEX IF NOT EXISTS orders_by_state ON orders (state, changed_at);
CREATE INDEX IF NOT EXISTS orders_by_store ON orders (store_id, changed_at);
CREATE TABLE IF NOT EXISTS timeline (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, store_id TEXT NOT NULL, order_id TEXT NOT NULL,
    entry TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS timeline_by_order ON timeline (store_id, order_id, seq);
CREATE TABLE IF NOT EXISTS claims (
    store_id TEXT NOT NULL, key TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (store_id, key));
CREATE TABLE IF NOT EXISTS sequences (
    store_id TEXT NOT NULL, series TEXT NOT NULL, last INTEGER NOT NULL, PRIMARY KEY (store_id, series));
CREATE TABLE IF NOT EXISTS sku_map (
    store_id TEXT NOT NULL, sku TEXT NOT NULL, item_code TEXT NOT NULL, PRIMARY KEY (store_id, sku));
CREATE TABLE IF NOT EXISTS watermarks (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stock_table (
    store_id TEXT NOT NULL, item_code TEXT NOT NULL, quantity TEXT NOT NULL, as_of TEXT NOT NULL,
    PRIMARY KEY (store_id, item_code));
"""
# State files written before the outbox lack its columns; their events count as sent (they were sent
# before the answer, or lost before this fix). The partial index holds unsent events only. A message is
# kept only while unsent: it repeats the body's personal data.
_OUTBOX_COLUMNS = {"message": "TEXT", "unsent": "INTEGER NOT NULL DEFAULT 0"}
_OUTBOX_INDEX = "CREATE INDEX IF NOT EXISTS events_unsent ON events (received_at) WHERE unsent = 1"
_EVENT_COLUMNS = "channel, topic, order_id, received_at, headers, body, message, unsent"


def _utc_text(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds: one fixed width, so text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


_PAGE = 500  # rows per page of a store-wide scan


def state_path(state_dir: Path) -> Path:
    return state_dir / "state.db"


class SqliteStateStore(SqliteVerifactuRows):
    """StateStore on SQLite. See shared.ports.StateStore for the contract of each method."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connection().executescript(_SCHEMA)
        self._connection().executescript(VERIFACTU_SCHEMA)
        self._add_outbox_columns()

    def _add_outbox_columns(self) -> None:
        with self._write() as db:
            present = {row[1] for row in db.execute("PRAGMA table_info(events)")}
            for name, kind in _OUTBOX_COLUMNS.items():
                if name not in present:
                    db.execute(f"ALTER TABLE events ADD COLUMN {name} {kind}")
            db.execute(_OUTBOX_INDEX)

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=True)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        begin_immediate(conn)
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # events and their outbox -----------------------------------------------------------------
    def record_event(self, event: EventRecord) -> bool:
        with self._write() as db:
            cursor = db.execute(
                f"INSERT OR IGNORE INTO events (store_id, event_key, {_EVENT_COLUMNS}) "  # noqa: S608
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event.store_id,
                    event.event_key,
                    event.channel,
                    event.topic,
                    event.order_id,
                    _utc_text(event.received_at),
                    json.dumps(event.headers),
                    event.body,
                    None if event.message is None else event.message.model_dump_json(),
                    int(event.unsent),
                ),
            )
            return cursor.rowcount == 1

    def get_event(self, store_id: str, event_key: str) -> EventRecord | None:
        row = (
            self._connection()
            .execute(
                f"SELECT store_id, event_key, {_EVENT_COLUMNS} FROM events WHERE store_id = ? AND event_key = ?",  # noqa: S608
                (store_id, event_key),
            )
            .fetchone()
        )
        return None if row is None else self._event_from(row)

    def unsent_events(self, received_before: datetime, limit: int = 100) -> list[EventRecord]:
        rows = (
            self._connection()
            .execute(
                f"SELECT store_id, event_key, {_EVENT_COLUMNS} FROM events INDEXED BY events_unsent "  # noqa: S608
                "WHERE unsent = 1 AND received_at < ? ORDER BY received_at LIMIT ?",
                (_utc_text(received_before), max(1, int(limit))),
            )
            .fetchall()
        )
        return [self._event_from(row) for row in rows]

    def mark_event_sent(self, store_id: str, event_key: str) -> None:
        self.mark_events_sent([(store_id, event_key)])

    def mark_events_sent(self, keys: Sequence[tuple[str, str]]) -> None:
        with self._write() as db:
            db.executemany(
                "UPDATE events SET unsent = 0, message = NULL WHERE store_id = ? AND event_key = ? AND unsent = 1",
                list(keys),
            )

    @staticmethod
    def _event_from(row: Sequence[Any]) -> EventRecord:
        return EventRecord(
            store_id=row[0],
            event_key=row[1],
            channel=row[2],
            topic=row[3],
            order_id=row[4],
            received_at=datetime.fromisoformat(row[5]),
            headers=json.loads(row[6]),
            body=bytes(row[7]),
            message=None if row[8] is None else OutgoingMessage.model_validate_json(row[8]),
            unsent=bool(row[9]),
        )

    def count_events(self) -> int:
        return int(self._connection().execute("SELECT COUNT(*) FROM events").fetchone()[0])

    # orders ---------------------------------------------------------------------------------
    def get_order(self, store_id: str, order_id: str) -> OrderRecord | None:
        row = (
            self._connection()
            .execute("SELECT record, version FROM orders WHERE store_id = ? AND order_id = ?", (store_id, order_id))
            .fetchone()
        )
        if row is None:
            return None
        record = OrderRecord.model_validate_json(row[0])
        record.version = str(row[1])
        return record

    def save_order(self, record: OrderRecord, timeline: Sequence[TimelineEntry] = ()) -> OrderRecord:
        body = record.model_copy(update={"changed_at": utcnow()}).model_dump_json(exclude={"version"})
        # The caller's record stays as it was; the saved one is read back from what was stored, as get_order
        # would (much cheaper than a deep copy of the record).
        saved = OrderRecord.model_validate_json(body)
        with self._write() as db:
            if not record.version:
                try:
                    db.execute(
                        "INSERT INTO orders VALUES (?, ?, ?, ?, 1, ?)",
                        (saved.store_id, saved.order_id, saved.state.value, saved.changed_at.isoformat(), body),
                    )
                except sqlite3.IntegrityError as exc:
                    raise ConcurrencyError(f"order {saved.store_id}/{saved.order_id} already exists") from exc
                self._insert_timeline(db, saved.store_id, saved.order_id, timeline)
                saved.version = "1"
                return saved
            cursor = db.execute(
                "UPDATE orders SET state = ?, changed_at = ?, version = version + 1, record = ? "
                "WHERE store_id = ? AND order_id = ? AND version = ?",
                (
                    saved.state.value,
                    saved.changed_at.isoformat(),
                    body,
                    saved.store_id,
                    saved.order_id,
                    int(record.version),
                ),
            )
            if cursor.rowcount != 1:
                raise ConcurrencyError(
                    f"order {saved.store_id}/{saved.order_id} changed since version {record.version}"
                )
            self._insert_timeline(db, saved.store_id, saved.order_id, timeline)
        saved.version = str(int(record.version) + 1)
        return saved

    def list_orders(self, store_id: str | None = None, state: str | None = None, limit: int = 100) -> list[OrderRecord]:
        clauses, args = [], []
        if store_id:
            clauses.append("store_id = ?")
            args.append(store_id)
        if state:
            clauses.append("state = ?")
            args.append(state)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = (
            self._connection()
            .execute(
                f"SELECT record, version FROM orders {where} ORDER BY changed_at DESC LIMIT ?",  # noqa: S608
                (*args, max(1, int(limit))),
            )
            .fetchall()
        )
        records = []
        for body, version in rows:
            record = OrderRecord.model_validate_json(body)
            record.version = str(version)
            records.append(record)
        return records

    def count_orders(self, store_id: str | None = None) -> dict[str, int]:
        where, args = ("WHERE store_id = ?", (store_id,)) if store_id else ("", ())
        rows = self._connection().execute(f"SELECT state, COUNT(*) FROM orders {where} GROUP BY state", args)  # noqa: S608
        return {str(state): int(count) for state, count in rows.fetchall()}

    def append_timeline(self, store_id: str, order_id: str, entry: TimelineEntry) -> None:
        with self._write() as db:
            self._insert_timeline(db, store_id, order_id, [entry])

    @staticmethod
    def _insert_timeline(
        db: sqlite3.Connection, store_id: str, order_id: str, entries: Sequence[TimelineEntry]
    ) -> None:
        db.executemany(
            "INSERT INTO timeline (store_id, order_id, entry) VALUES (?, ?, ?)",
            [(store_id, order_id, entry.model_dump_json()) for entry in entries],
        )

    def get_timeline(self, store_id: str, order_id: str) -> list[TimelineEntry]:
        rows = (
            self._connection()
            .execute(
                "SELECT entry FROM timeline WHERE store_id = ? AND order_id = ? ORDER BY seq", (store_id, order_id)
            )
            .fetchall()
        )
        return [TimelineEntry.model_validate_json(row[0]) for row in rows]

    # claims and numbering -------------------------------------------------------------------
    def claim(self, store_id: str, key: str, series: str | None = None) -> tuple[Claim, bool]:
        with self._write() as db:
            row = db.execute("SELECT record FROM claims WHERE store_id = ? AND key = ?", (store_id, key)).fetchone()
            if row is not None:
                return Claim.model_validate_json(row[0]), False
            number = ""
            if series is not None:
                db.execute("INSERT OR IGNORE INTO sequences VALUES (?, ?, 0)", (store_id, series))
                db.execute("UPDATE sequences SET last = last + 1 WHERE store_id = ? AND series = ?", (store_id, series))
                last = db.execute(
                    "SELECT last FROM sequences WHERE store_id = ? AND series = ?", (store_id, series)
                ).fetchone()[0]
                number = str(last)
            claim = Claim(key=key, store_id=store_id, number=number, created_at=datetime.now(UTC))
            db.execute("INSERT INTO claims VALUES (?, ?, ?)", (store_id, key, claim.model_dump_json()))
            return claim, True

    def complete_claim(self, store_id: str, key: str, data: Mapping[str, object]) -> Claim:
        with self._write() as db:
            row = db.execute("SELECT record FROM claims WHERE store_id = ? AND key = ?", (store_id, key)).fetchone()
            if row is None:
                raise KeyError(f"no claim {store_id}/{key}")
            claim = Claim.model_validate_json(row[0])
            claim.status = "done"
            claim.data = {**claim.data, **dict(data)}
            db.execute(
                "UPDATE claims SET record = ? WHERE store_id = ? AND key = ?",
                (claim.model_dump_json(), store_id, key),
            )
            return claim

    # SKU map and watermarks -----------------------------------------------------------------
    def get_sku_map(self, store_id: str) -> dict[str, str]:
        rows = (
            self._connection()
            .execute("SELECT sku, item_code FROM sku_map WHERE store_id = ? ORDER BY sku", (store_id,))
            .fetchall()
        )
        return {sku: code for sku, code in rows}

    def put_sku_map(self, store_id: str, mapping: Mapping[str, str], replace: bool = True) -> None:
        with self._write() as db:
            if replace:
                db.execute("DELETE FROM sku_map WHERE store_id = ?", (store_id,))
            db.executemany(
                "INSERT OR REPLACE INTO sku_map VALUES (?, ?, ?)",
                [(store_id, sku, code) for sku, code in mapping.items()],
            )

    def get_watermark(self, name: str) -> str | None:
        row = self._connection().execute("SELECT value FROM watermarks WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_watermark(self, name: str, value: str) -> None:
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO watermarks VALUES (?, ?)", (name, value))

    # the stock table (UBL target) ---------------------------------------------------------------
    def get_stock_table(self, store_id: str) -> dict[str, StockLevel]:
        rows = self._connection().execute(
            "SELECT item_code, quantity, as_of FROM stock_table WHERE store_id = ? ORDER BY item_code", (store_id,)
        )
        return {code: StockLevel(Decimal(q), datetime.fromisoformat(at)) for code, q, at in rows.fetchall()}

    def put_stock_table(self, store_id: str, levels: Mapping[str, Decimal], as_of: datetime) -> int:
        # One write transaction; the WHERE keeps a newer count (UTC stamps of one fixed format sort by time).
        stamp = as_of.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
        with self._write() as db:
            before = db.total_changes
            db.executemany(
                "INSERT INTO stock_table VALUES (?, ?, ?, ?) ON CONFLICT (store_id, item_code) DO UPDATE SET "
                "quantity = excluded.quantity, as_of = excluded.as_of WHERE excluded.as_of >= stock_table.as_of",
                [(store_id, code, str(quantity), stamp) for code, quantity in levels.items()],
            )
            return int(db.total_changes - before)

    # personal data: retention and erasure ----------------------------------------------------
    def _pages(self, sql: str, args: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        """Rows of `sql` (which selects rowid first and ends in `rowid > ?`) in pages, so a long scan holds
        no read transaction open while the caller writes."""
        last = 0
        while True:
            rows = self._connection().execute(f"{sql} ORDER BY rowid LIMIT {_PAGE}", (*args, last)).fetchall()
            yield from rows
            if len(rows) < _PAGE:
                return
            last = rows[-1][0]

    def scan_orders(self, store_id: str, changed_before: datetime | None = None) -> Iterator[OrderRecord]:
        before = changed_before.astimezone(UTC).isoformat() if changed_before else "9999"
        sql = "SELECT rowid, record, version FROM orders WHERE store_id = ? AND changed_at < ? AND rowid > ?"
        for _, body, version in self._pages(sql, (store_id, before)):
            record = OrderRecord.model_validate_json(body)
            record.version = str(version)
            yield record

    def scan_events(
        self, store_id: str, *, received_before: datetime | None = None, order_id: str | None = None
    ) -> Iterator[EventRecord]:
        before = received_before.astimezone(UTC).isoformat() if received_before else "9999"
        sql = "SELECT rowid, event_key FROM events WHERE store_id = ? AND received_at < ?"
        args: tuple[Any, ...] = (store_id, before)
        if order_id is not None:
            sql += " AND order_id = ?"
            args = (*args, order_id)
        for _, event_key in self._pages(f"{sql} AND rowid > ?", args):
            event = self.get_event(store_id, event_key)
            if event is not None:
                yield event

    def replace_event(self, event: EventRecord) -> None:
        with self._write() as db:
            cursor = db.execute(
                "UPDATE events SET headers = ?, body = ? WHERE store_id = ? AND event_key = ?",
                (json.dumps(event.headers), event.body, event.store_id, event.event_key),
            )
            if cursor.rowcount != 1:
                raise KeyError(f"no event {event.store_id}/{event.event_key}")

    def rewrite_timeline(self, store_id: str, order_id: str, rewrite: Callable[[TimelineEntry], TimelineEntry]) -> int:
        changed = 0
        with self._write() as db:
            rows = db.execute(
                "SELECT seq, entry FROM timeline WHERE store_id = ? AND order_id = ? ORDER BY seq", (store_id, order_id)
            ).fetchall()
            for seq, text in rows:
                entry = TimelineEntry.model_validate_json(text)
                new = rewrite(entry)
                if new != entry:
                    db.execute("UPDATE timeline SET entry = ? WHERE seq = ?", (new.model_dump_json(), seq))
                    changed += 1
        return changed

    def dump(self) -> dict[str, list[Any]]:
        """Every row of every table, for tests that assert a request changed nothing."""
        conn = self._connection()
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: conn.execute(f"SELECT * FROM {t}").fetchall() for t in tables}  # noqa: S608
