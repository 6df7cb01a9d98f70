"""Taking a SQLite file's write lock without SQLite's busy-handler sleeps (1, 2, 5 … 25, 50, 100 ms between
tries): under a steady stream of short writes from another process, a writer that met the lock held slept
tens of milliseconds while the lock came free again within one. Here the wait between tries stays short."""

from __future__ import annotations

import sqlite3
import time

BUSY_TIMEOUT_MS = 30_000  # every other statement keeps SQLite's own busy handling
_FIRST_WAIT = 0.0005
_LONGEST_WAIT = 0.004


def begin_immediate(db: sqlite3.Connection, timeout: float = BUSY_TIMEOUT_MS / 1000) -> None:
    """BEGIN IMMEDIATE on `db` (autocommit mode), trying again every few milliseconds while another connection
    writes; raises sqlite3.OperationalError ("database is locked") after `timeout` seconds, as SQLite would."""
    deadline = time.monotonic() + timeout
    wait = _FIRST_WAIT
    db.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if getattr(error, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                    raise
            time.sleep(wait)
            wait = min(wait * 2, _LONGEST_WAIT)
    finally:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
