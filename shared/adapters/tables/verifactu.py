"""VERI*FACTU chains on Table Storage, in the claims table under the partition `verifactu|<issuer NIF>`.

One partition per issuer, because the head, the new link and its document key must be written in one entity
group transaction: a crash keeps all three or none, and two writers cannot both append after the same head.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableTransactionError

from shared.adapters.tables.base import TableRows, create_or_replace, unchanged_since
from shared.adapters.tables.keys import key_part
from shared.adapters.tables.retries import passing_faults
from shared.domain.verifactu import RecordState, VerifactuRecord, checked_link
from shared.errors import RetryableError

APPEND_ATTEMPTS = 10


def _partition(issuer_nif: str) -> str:
    return f"verifactu|{key_part(issuer_nif)}"  # "|" never occurs in a store id, so no store partition clashes


def _record_key(seq: int) -> str:
    return f"rec|{seq:012d}"  # fixed width: row key order is chain order


def _record_entity(record: VerifactuRecord) -> dict[str, Any]:
    return {
        "PartitionKey": _partition(record.issuer_nif),
        "RowKey": _record_key(record.seq),
        "State": record.state,
        "Record": record.model_dump_json(),
    }


class VerifactuRows(TableRows):
    def _get_row(self, issuer_nif: str, row_key: str) -> Any | None:
        try:
            return self._table("claims").get_entity(_partition(issuer_nif), row_key)
        except ResourceNotFoundError:
            return None

    @passing_faults
    def append_verifactu_record(
        self, issuer_nif: str, document_key: str, build: Callable[[VerifactuRecord | None], VerifactuRecord]
    ) -> tuple[VerifactuRecord, bool]:
        partition = _partition(issuer_nif)
        document_row = f"doc|{key_part(document_key)}"
        for attempt in range(APPEND_ATTEMPTS):
            known = self._get_row(issuer_nif, document_row)
            if known is not None:
                row = self._get_row(issuer_nif, _record_key(int(known["Seq"])))
                if row is not None:
                    return VerifactuRecord.model_validate_json(row["Record"]), False
            head = self._get_row(issuer_nif, "head")
            previous = VerifactuRecord.model_validate_json(head["Record"]) if head is not None else None
            record = checked_link(previous, build(previous), issuer_nif, document_key)
            head_row = {
                "PartitionKey": partition,
                "RowKey": "head",
                "Seq": record.seq,
                "Record": record.model_dump_json(),
            }
            operations = [
                ("create", _record_entity(record)),
                ("create", {"PartitionKey": partition, "RowKey": document_row, "Seq": record.seq}),
                create_or_replace(head_row, head.metadata["etag"] if head is not None else None),
            ]
            try:
                self._table("claims").submit_transaction(operations)
            except TableTransactionError:
                # Another writer appended first: read the new head (or our document's record) again, after a short
                # random pause so that writers racing for the same head do not keep colliding in step.
                time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
                continue
            return record, True
        raise RetryableError(f"verifactu chain {issuer_nif}: too many concurrent writers")

    def _query_records(self, issuer_nif: str, extra: str, limit: int, **parameters: Any) -> list[VerifactuRecord]:
        parameters = {"pk": _partition(issuer_nif), **parameters}
        query = f"PartitionKey eq @pk and RowKey ge 'rec|' and RowKey lt 'rec}}'{extra}"
        rows = self._table("claims").query_entities(query, parameters=parameters, results_per_page=min(limit, 1000))
        found: list[VerifactuRecord] = []
        for row in rows:
            found.append(VerifactuRecord.model_validate_json(row["Record"]))
            if len(found) >= limit:
                break
        return found

    @passing_faults
    def list_verifactu_records(self, issuer_nif: str, after: int = 0, limit: int = 100) -> list[VerifactuRecord]:
        return self._query_records(issuer_nif, " and RowKey gt @after", limit, after=_record_key(after))

    @passing_faults
    def pending_verifactu_records(self, issuer_nif: str, limit: int = 1000) -> list[VerifactuRecord]:
        return self._query_records(issuer_nif, " and State eq 'pending'", limit)

    @passing_faults
    def set_verifactu_state(
        self,
        issuer_nif: str,
        seq: int,
        state: RecordState,
        csv: str = "",
        error_code: str = "",
        error_text: str = "",
    ) -> VerifactuRecord:
        for _ in range(APPEND_ATTEMPTS):
            row = self._get_row(issuer_nif, _record_key(seq))
            if row is None:
                raise KeyError(f"no verifactu record {issuer_nif}/{seq}")
            update = {"state": state, "csv": csv, "error_code": error_code, "error_text": error_text}
            record = VerifactuRecord.model_validate_json(row["Record"]).model_copy(update=update)
            try:
                self._table("claims").update_entity(_record_entity(record), **unchanged_since(row.metadata["etag"]))
            except ResourceModifiedError:
                continue
            return record
        raise RetryableError(f"verifactu record {issuer_nif}/{seq}: too many concurrent updates")
