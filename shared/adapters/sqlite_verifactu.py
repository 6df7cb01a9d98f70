"""VERI*FACTU chains on SQLite: a mixin of SqliteStateStore (one table, one write transaction per link)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

from shared.domain.verifactu import RecordState, VerifactuRecord, checked_link

SCHEMA = """
CREATE TABLE IF NOT EXISTS verifactu (
    issuer TEXT NOT NULL, seq INTEGER NOT NULL, document_key TEXT NOT NULL, state TEXT NOT NULL,
    record TEXT NOT NULL, PRIMARY KEY (issuer, seq), UNIQUE (issuer, document_key));
CREATE INDEX IF NOT EXISTS verifactu_by_state ON verifactu (issuer, state, seq);
"""


class SqliteVerifactuRows:
    _write: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _connection: Callable[[], sqlite3.Connection]

    def append_verifactu_record(
        self, issuer_nif: str, document_key: str, build: Callable[[VerifactuRecord | None], VerifactuRecord]
    ) -> tuple[VerifactuRecord, bool]:
        with self._write() as db:  # BEGIN IMMEDIATE: one writer reads the head and appends the next link
            row = db.execute(
                "SELECT record FROM verifactu WHERE issuer = ? AND document_key = ?", (issuer_nif, document_key)
            ).fetchone()
            if row is not None:
                return VerifactuRecord.model_validate_json(row[0]), False
            head = db.execute(
                "SELECT record FROM verifactu WHERE issuer = ? ORDER BY seq DESC LIMIT 1", (issuer_nif,)
            ).fetchone()
            previous = VerifactuRecord.model_validate_json(head[0]) if head else None
            record = checked_link(previous, build(previous), issuer_nif, document_key)
            db.execute(
                "INSERT INTO verifactu VALUES (?, ?, ?, ?, ?)",
                (issuer_nif, record.seq, document_key, record.state, record.model_dump_json()),
            )
            return record, True

    def _verifactu_rows(self, sql: str, args: tuple[object, ...]) -> Iterator[VerifactuRecord]:
        for (text,) in self._connection().execute(sql, args).fetchall():
            yield VerifactuRecord.model_validate_json(text)

    def list_verifactu_records(self, issuer_nif: str, after: int = 0, limit: int = 100) -> list[VerifactuRecord]:
        sql = "SELECT record FROM verifactu WHERE issuer = ? AND seq > ? ORDER BY seq LIMIT ?"
        return list(self._verifactu_rows(sql, (issuer_nif, after, limit)))

    def pending_verifactu_records(self, issuer_nif: str, limit: int = 1000) -> list[VerifactuRecord]:
        sql = "SELECT record FROM verifactu WHERE issuer = ? AND state = 'pending' ORDER BY seq LIMIT ?"
        return list(self._verifactu_rows(sql, (issuer_nif, limit)))

    def set_verifactu_state(
        self,
        issuer_nif: str,
        seq: int,
        state: RecordState,
        csv: str = "",
        error_code: str = "",
        error_text: str = "",
    ) -> VerifactuRecord:
        with self._write() as db:
            row = db.execute("SELECT record FROM verifactu WHERE issuer = ? AND seq = ?", (issuer_nif, seq)).fetchone()
            if row is None:
                raise KeyError(f"no verifactu record {issuer_nif}/{seq}")
            update = {"state": state, "csv": csv, "error_code": error_code, "error_text": error_text}
            record = VerifactuRecord.model_validate_json(row[0]).model_copy(update=update)
            db.execute(
                "UPDATE verifactu SET state = ?, record = ? WHERE issuer = ? AND seq = ?",
                (state, record.model_dump_json(), issuer_nif, seq),
            )
            return record
