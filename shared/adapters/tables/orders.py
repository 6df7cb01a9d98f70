"""Orders, their index and their timeline on Table Storage.

Timeline entries share the order's partition so that a state change and its timeline entries are saved
in one entity group transaction: a crash cannot keep one and lose the other. The index table lists a
store's orders newest change first without reading every snapshot.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from shared.adapters.tables.base import TableRows, create_or_replace
from shared.adapters.tables.keys import (
    ORDER_ROW,
    STRING_CHARS,
    TIMELINE_END,
    TIMELINE_PREFIX,
    index_row_key,
    key_part,
    pack,
    pair_key,
    unpack,
)
from shared.adapters.tables.retries import passing_faults
from shared.domain.records import OrderRecord, TimelineEntry, utcnow
from shared.ports import ConcurrencyError


class OrderRows(TableRows):
    def _order_entity(self, record: OrderRecord, index_key: str) -> dict[str, Any]:
        text = record.model_dump_json(exclude={"version"})
        entity: dict[str, Any] = {
            "PartitionKey": pair_key(record.store_id, record.order_id),
            "RowKey": ORDER_ROW,
            "StoreId": record.store_id,
            "OrderId": record.order_id,
            "State": record.state.value,
            "ChangedAt": record.changed_at.isoformat(),
            "IndexKey": index_key,
        }
        if len(text) <= STRING_CHARS:
            entity["Record"] = text
        else:
            # A big order (hundreds of lines) would break the 64 KiB property limit as one string.
            entity.update(pack("RecordGz", text.encode()))
        return entity

    @staticmethod
    def _record_from(entity: Mapping[str, Any]) -> OrderRecord:
        text = entity["Record"] if "Record" in entity else unpack("RecordGz", entity).decode()
        record = OrderRecord.model_validate_json(text)
        record.version = str(entity.metadata["etag"])  # type: ignore[attr-defined]
        return record

    @passing_faults
    def get_order(self, store_id: str, order_id: str) -> OrderRecord | None:
        try:
            entity = self._table("orders").get_entity(pair_key(store_id, order_id), ORDER_ROW)
        except ResourceNotFoundError:
            return None
        return self._record_from(entity)

    @passing_faults
    def save_order(self, record: OrderRecord, timeline: Sequence[TimelineEntry] = ()) -> OrderRecord:
        saved = record.model_copy(deep=True)
        saved.changed_at = utcnow()
        index_key = index_row_key(saved.changed_at, saved.order_id)
        orders, index = self._table("orders"), self._table("orderindex")
        pk = pair_key(saved.store_id, saved.order_id)
        previous_index_key = ""
        if record.version:
            try:
                current = orders.get_entity(pk, ORDER_ROW, select=["IndexKey"])
            except ResourceNotFoundError as exc:
                raise ConcurrencyError(f"order {saved.store_id}/{saved.order_id} does not exist") from exc
            if current.metadata["etag"] != record.version:
                raise ConcurrencyError(f"order {saved.store_id}/{saved.order_id} changed since it was read")
            previous_index_key = str(current.get("IndexKey", ""))
        # The index row goes first: whatever fails after it, the order stays listed under a row that
        # matches its IndexKey, and rows that do not match are skipped by list_orders.
        index_row = {
            "PartitionKey": key_part(saved.store_id),
            "RowKey": index_key,
            "OrderId": saved.order_id,
            "State": saved.state.value,
        }
        index.upsert_entity(index_row, mode=UpdateMode.REPLACE)
        entity = self._order_entity(saved, index_key)
        # The order and its new timeline entries in one transaction (same partition): both or neither.
        operation = create_or_replace(entity, record.version or None)
        entries = [("create", self._timeline_entity(pk, entry)) for entry in timeline]
        try:
            results = orders.submit_transaction([operation, *entries])
        except TableTransactionError as exc:
            self._delete_quietly(index, index_row["PartitionKey"], index_key)
            what = (
                "already exists"
                if getattr(exc, "error_code", "") == "EntityAlreadyExists"
                else "changed since it was read"
            )
            raise ConcurrencyError(f"order {saved.store_id}/{saved.order_id} {what}") from exc
        meta = results[0]
        if previous_index_key and previous_index_key != index_key:
            self._delete_quietly(index, index_row["PartitionKey"], previous_index_key)
        saved.version = str(meta["etag"])
        return saved

    @passing_faults
    def list_orders(self, store_id: str | None = None, state: str | None = None, limit: int = 100) -> list[OrderRecord]:
        """Newest change first, from the index table.

        With a store this is one partition query in key order. Without one it reads the index rows of
        every store (small entities, three properties) and sorts them: fine for the dashboard of a few
        stores, a scan for hundreds. A scan of the orders table itself would read every snapshot.
        """
        limit = max(1, int(limit))
        clauses, parameters = [], {}
        if store_id:
            clauses.append("PartitionKey eq @store")
            parameters["store"] = key_part(store_id)
        if state:
            clauses.append("State eq @state")
            parameters["state"] = state
        index = self._table("orderindex")
        select = ["PartitionKey", "RowKey", "OrderId"]
        if clauses:
            rows: Iterable[Any] = index.query_entities(" and ".join(clauses), parameters=parameters, select=select)
        else:
            rows = index.list_entities(select=select)
        if not store_id:
            rows = sorted(rows, key=lambda row: str(row["RowKey"]))
        found: list[OrderRecord] = []
        for row in rows:
            record = self._current(row)
            if record is not None and (not state or record.state.value == state):
                found.append(record)
                if len(found) >= limit:
                    break
        return found

    def count_orders(self, store_id: str | None = None) -> dict[str, int]:
        """Reads the State of every order row (one small property each), optionally for one store: the
        orders table holds one row per order, unlike the index, which may hold a stale row for a while."""
        orders = self._table("orders")
        if store_id:
            rows: Iterable[Any] = orders.query_entities(
                "RowKey eq @row and StoreId eq @store",
                parameters={"row": ORDER_ROW, "store": store_id},
                select=["State"],
            )
        else:
            rows = orders.query_entities("RowKey eq @row", parameters={"row": ORDER_ROW}, select=["State"])
        counts: dict[str, int] = {}
        for row in rows:
            counts[str(row["State"])] = counts.get(str(row["State"]), 0) + 1
        return counts

    def _current(self, row: Mapping[str, Any]) -> OrderRecord | None:
        """The order an index row points at, or None when the row is stale (a later save moved it)."""
        store_id = unquote(str(row["PartitionKey"]))
        try:
            entity = self._table("orders").get_entity(pair_key(store_id, str(row["OrderId"])), ORDER_ROW)
        except ResourceNotFoundError:
            return None
        if entity.get("IndexKey") == row["RowKey"]:
            return self._record_from(entity)
        if str(row["RowKey"]) > str(entity.get("IndexKey", "")):
            # Older than the order's own row (inverted time sorts later): left by a save that stopped
            # between its steps. A newer unmatched row may belong to a save in flight: leave it.
            self._delete_quietly(self._table("orderindex"), str(row["PartitionKey"]), str(row["RowKey"]))
        return None

    @passing_faults
    def append_timeline(self, store_id: str, order_id: str, entry: TimelineEntry) -> None:
        self._table("orders").create_entity(self._timeline_entity(pair_key(store_id, order_id), entry))

    @staticmethod
    def _timeline_entity(partition_key: str, entry: TimelineEntry) -> dict[str, Any]:
        # Insertion order, like the SQLite sequence; the random tail keeps two writers in the same
        # nanosecond apart.
        row_key = f"{TIMELINE_PREFIX}{time.time_ns():020d}|{uuid.uuid4().hex[:8]}"
        return {"PartitionKey": partition_key, "RowKey": row_key, "Entry": entry.model_dump_json()}

    def _timeline_rows(self, store_id: str, order_id: str, select: list[str]) -> Iterable[Any]:
        """The order's timeline rows, in no particular order."""
        return self._table("orders").query_entities(
            "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
            parameters={"pk": pair_key(store_id, order_id), "low": TIMELINE_PREFIX, "high": TIMELINE_END},
            select=select,
        )

    @passing_faults
    def get_timeline(self, store_id: str, order_id: str) -> list[TimelineEntry]:
        rows = self._timeline_rows(store_id, order_id, ["RowKey", "Entry"])
        ordered = sorted(rows, key=lambda row: str(row["RowKey"]))
        return [TimelineEntry.model_validate_json(row["Entry"]) for row in ordered]
