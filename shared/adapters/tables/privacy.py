"""Personal data on Table Storage: the scans behind retention and erasure, and the rewrites that redact.

Table Storage has no secondary index: both scans filter on properties, which the service evaluates over
the whole table. That is a daily timer and a rare erasure request, so a scan is the trade-off taken
instead of an index table that every save would have to keep in step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.adapters.tables.events import EventRows
from shared.adapters.tables.keys import BATCH, EVENT_ROW, ORDER_ROW, pair_key
from shared.adapters.tables.orders import OrderRows
from shared.adapters.tables.retries import passing_faults
from shared.domain.records import EventRecord, OrderRecord, TimelineEntry


class PrivacyRows(OrderRows, EventRows):
    # Orders: one row per order plus its timeline; events: one per delivery. (Generators: a fault while
    # iterating reaches the caller unmapped, which for a timer means the next run tries again.)
    def scan_orders(self, store_id: str, changed_before: datetime | None = None) -> Iterator[OrderRecord]:
        query = "RowKey eq @row and StoreId eq @store"
        parameters: dict[str, Any] = {"row": ORDER_ROW, "store": store_id}
        if changed_before is not None:
            query += " and ChangedAt lt @before"
            parameters["before"] = changed_before.astimezone(UTC).isoformat()
        for entity in self._table("orders").query_entities(query, parameters=parameters):
            yield self._record_from(entity)

    def scan_events(
        self, store_id: str, *, received_before: datetime | None = None, order_id: str | None = None
    ) -> Iterator[EventRecord]:
        # The event rows only: the outbox rows of the "unsent" partition carry a StoreId too.
        query = "RowKey eq @row and StoreId eq @store"
        parameters: dict[str, Any] = {"row": EVENT_ROW, "store": store_id}
        if received_before is not None:
            query += " and ReceivedAt lt @before"
            parameters["before"] = received_before.astimezone(UTC).isoformat()
        if order_id is not None:
            query += " and OrderId eq @order"
            parameters["order"] = order_id
        for entity in self._table("events").query_entities(query, parameters=parameters):
            yield self._event_from(entity)

    @passing_faults
    def replace_event(self, event: EventRecord) -> None:
        events = self._table("events")
        try:
            old = events.get_entity(pair_key(event.store_id, event.event_key), EVENT_ROW, select=["BodyRef"])
        except ResourceNotFoundError as exc:
            raise KeyError(f"no event {event.store_id}/{event.event_key}") from exc
        entity = self._event_entity(event)
        # REPLACE drops the properties the new copy does not have (Body parts of a bigger original).
        events.update_entity(entity, mode=UpdateMode.REPLACE)
        reference = old.get("BodyRef")
        if reference and reference != entity.get("BodyRef") and self._claim_checks is not None:
            self._claim_checks.delete(str(reference))

    @passing_faults
    def rewrite_timeline(self, store_id: str, order_id: str, rewrite: Callable[[TimelineEntry], TimelineEntry]) -> int:
        operations: list[Any] = []
        for row in self._timeline_rows(store_id, order_id, ["PartitionKey", "RowKey", "Entry"]):
            entry = TimelineEntry.model_validate_json(row["Entry"])
            new = rewrite(entry)
            if new != entry:
                replaced = {
                    "PartitionKey": row["PartitionKey"],
                    "RowKey": row["RowKey"],
                    "Entry": new.model_dump_json(),
                }
                operations.append(("update", replaced, {"mode": UpdateMode.MERGE}))
        # All rows share the order's partition: batches of 100 are each atomic, and a rerun finishes a
        # batch that failed (rewrite is idempotent for redaction).
        orders = self._table("orders")
        for start in range(0, len(operations), BATCH):
            orders.submit_transaction(operations[start : start + BATCH])
        return len(operations)
