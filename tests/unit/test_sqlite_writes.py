"""Taking the write lock: a writer waits for another connection's transaction in short steps, not SQLite's
busy-handler sleeps, and gives up after the timeout as SQLite would."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from shared.adapters import sqlite_writes
from shared.adapters.sqlite_writes import BUSY_TIMEOUT_MS, begin_immediate


def connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return db


def test_writer_waits_for_another_connections_commit_in_short_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What is asserted is how long each wait may be (the steps), not how long anything took: the machine is shared.
    waits: list[float] = []
    real_sleep = time.sleep

    def recorded(seconds: float) -> None:
        waits.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(sqlite_writes.time, "sleep", recorded)
    holder, writer = connect(tmp_path / "state.db"), connect(tmp_path / "state.db")
    holder.execute("CREATE TABLE orders (id TEXT)")
    holder.execute("BEGIN IMMEDIATE")
    committed = threading.Event()

    def release() -> None:
        real_sleep(0.15)
        holder.execute("INSERT INTO orders VALUES ('5123')")
        holder.execute("COMMIT")
        committed.set()

    threading.Thread(target=release).start()
    begin_immediate(writer)
    writer.execute("INSERT INTO orders VALUES ('5124')")
    writer.execute("COMMIT")

    assert committed.is_set(), "the writer got the lock while another connection held it"
    assert waits and max(waits) <= sqlite_writes._LONGEST_WAIT, "the writer slept in long steps"
    assert [row[0] for row in writer.execute("SELECT id FROM orders ORDER BY id")] == ["5123", "5124"]
    assert writer.execute("PRAGMA busy_timeout").fetchone()[0] == BUSY_TIMEOUT_MS  # other statements as before


def test_writer_gives_up_after_the_timeout(tmp_path: Path) -> None:
    holder, writer = connect(tmp_path / "state.db"), connect(tmp_path / "state.db")
    holder.execute("BEGIN IMMEDIATE")

    with pytest.raises(sqlite3.OperationalError, match="locked"):
        begin_immediate(writer, timeout=0.1)

    assert writer.execute("PRAGMA busy_timeout").fetchone()[0] == BUSY_TIMEOUT_MS
    holder.execute("ROLLBACK")
