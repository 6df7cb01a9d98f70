"""Events and their outbox on Table Storage: one row per delivery, insert-if-absent on the event key.

The event row (with its Unsent mark) and its outbox row (with the message) live in different partitions, so
no transaction spans them: the outbox row is written first and deleted after the event is marked sent, so an
unsent event always has its message. The "unsent" partition stays small, one query finds what to relay, and
the message (which repeats the body's personal data) is not kept once sent. An outbox row without an event
(a crash before the insert, never acknowledged) is dropped after an hour.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.adapters.tables.base import TableRows
from shared.adapters.tables.keys import CHUNK_BYTES, EVENT_ROW, UNSENT_PARTITION, pack, pair_key, unpack
from shared.adapters.tables.retries import passing_faults
from shared.domain.records import EventRecord, OutgoingMessage
from shared.errors import ConfigError

# An outbox row whose event is still missing this long after it was written belongs to an intake that died
# before the insert (it never answered 2xx). Long past any HTTP request's lifetime (230 s on Azure).
ORPHAN_AGE = timedelta(hours=1)


class EventRows(TableRows):
    def _put_bytes(
        self, entity: dict[str, Any], prefix: str, data: bytes, store_id: str, *, keep_in_entity: bool = False
    ) -> None:
        """Inline when small; else in the claim-check container, or gzip'd over several properties.

        keep_in_entity prefers the gzip'd properties to a blob, so that the payload goes when the row goes;
        the claim check then takes only what does not fit in an entity.
        """
        if len(data) <= CHUNK_BYTES:
            entity[prefix] = data
            return
        claim_checks = self._claim_checks
        if claim_checks is None or keep_in_entity:
            try:
                entity.update(pack(f"{prefix}Gz", data))
                return
            except ValueError:
                if claim_checks is None:
                    raise
        entity[f"{prefix}Ref"] = claim_checks.put(data, f"events/{store_id}")

    def _get_bytes(self, entity: Mapping[str, Any], prefix: str) -> bytes | None:
        if f"{prefix}Ref" in entity:
            if self._claim_checks is None:
                raise ConfigError("an event is in the claim-check container but no claim check is configured")
            return self._claim_checks.get(entity[f"{prefix}Ref"])
        if f"{prefix}GzParts" in entity:
            return unpack(f"{prefix}Gz", entity)
        return None if entity.get(prefix) is None else bytes(entity[prefix])

    def _event_entity(self, event: EventRecord) -> dict[str, Any]:
        entity: dict[str, Any] = {
            "PartitionKey": pair_key(event.store_id, event.event_key),
            "RowKey": EVENT_ROW,
            "StoreId": event.store_id,
            "EventKey": event.event_key,
            "Channel": event.channel,
            "Topic": event.topic,
            "OrderId": event.order_id,
            "ReceivedAt": event.received_at.isoformat(),
            "Headers": json.dumps(event.headers),
            "Unsent": event.unsent,
        }
        self._put_bytes(entity, "Body", event.body, event.store_id)
        return entity

    @passing_faults
    def record_event(self, event: EventRecord) -> bool:
        events = self._table("events")
        if event.unsent:
            if event.message is None:
                raise ValueError(f"event {event.event_key}: an unsent event needs its message")
            outbox_row: dict[str, Any] = {
                "PartitionKey": UNSENT_PARTITION,
                "RowKey": pair_key(event.store_id, event.event_key),
                "StoreId": event.store_id,
                "EventKey": event.event_key,
                "ReceivedAt": event.received_at,
            }
            message = event.message.model_dump_json().encode()
            self._put_bytes(outbox_row, "Message", message, event.store_id, keep_in_entity=True)
            # Before the event, so an unsent event never lacks its message. An upsert, not insert-if-absent:
            # the new ETag stops a relay that judged an old row an orphan from deleting it now.
            events.upsert_entity(outbox_row, mode=UpdateMode.REPLACE)
        try:
            events.create_entity(self._event_entity(event))
        except ResourceExistsError:
            return False
        return True

    @passing_faults
    def get_event(self, store_id: str, event_key: str) -> EventRecord | None:
        events = self._table("events")
        try:
            entity = events.get_entity(pair_key(store_id, event_key), EVENT_ROW)
        except ResourceNotFoundError:
            return None
        message = None
        if entity.get("Unsent"):
            with contextlib.suppress(ResourceNotFoundError):
                outbox_row = events.get_entity(UNSENT_PARTITION, pair_key(store_id, event_key))
                message = self._get_bytes(outbox_row, "Message")
        return self._event_from(entity, message)

    def _event_from(self, entity: Mapping[str, Any], message: bytes | None = None) -> EventRecord:
        return EventRecord(
            store_id=entity["StoreId"],
            event_key=entity["EventKey"],
            channel=entity["Channel"],
            topic=entity["Topic"],
            order_id=entity["OrderId"],
            received_at=datetime.fromisoformat(entity["ReceivedAt"]),
            headers=json.loads(entity["Headers"]),
            body=self._get_bytes(entity, "Body") or b"",
            message=None if message is None else OutgoingMessage.model_validate_json(message),
            unsent=bool(entity.get("Unsent", False)),
        )

    @passing_faults
    def unsent_events(self, received_before: datetime, limit: int = 100) -> list[EventRecord]:
        """One query of the small "unsent" partition. Outbox rows left behind (their event was sent, or never
        inserted and older than ORPHAN_AGE) are deleted on the way, unless written again since they were read."""
        events = self._table("events")
        rows = events.query_entities(
            "PartitionKey eq @pk and ReceivedAt lt @before",
            parameters={"pk": UNSENT_PARTITION, "before": received_before},
            select=["RowKey", "StoreId", "EventKey", "ReceivedAt"],
        )
        found: list[EventRecord] = []
        for row in sorted(rows, key=lambda r: r["ReceivedAt"]):
            event = self.get_event(str(row["StoreId"]), str(row["EventKey"]))
            if event is not None and event.unsent:
                found.append(event)
                if len(found) >= max(1, int(limit)):
                    break
            elif event is not None or row["ReceivedAt"] < received_before - ORPHAN_AGE:
                with contextlib.suppress(ResourceNotFoundError, ResourceModifiedError):
                    events.delete_entity(
                        UNSENT_PARTITION,
                        str(row["RowKey"]),
                        etag=row.metadata["etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
        return found

    def mark_events_sent(self, keys: Sequence[tuple[str, str]]) -> None:
        # One partition per event: Table Storage has no transaction across them, so one at a time.
        for store_id, event_key in keys:
            self.mark_event_sent(store_id, event_key)

    @passing_faults
    def mark_event_sent(self, store_id: str, event_key: str) -> None:
        events = self._table("events")
        try:
            mark = {"PartitionKey": pair_key(store_id, event_key), "RowKey": EVENT_ROW, "Unsent": False}
            events.update_entity(mark, mode=UpdateMode.MERGE)
        except ResourceNotFoundError:
            return
        # Only after the mark: a crash in between leaves an outbox row that the relay drops.
        self._delete_quietly(events, UNSENT_PARTITION, pair_key(store_id, event_key))
