"""State on Azure Table Storage: the StateStore port in Azure (azure-data-tables), tested on Azurite.

Layout, one table per concern, partition keys spread by store and order so no partition gets hot:

| table      | PartitionKey            | RowKey                          | why                                 |
|------------|-------------------------|---------------------------------|-------------------------------------|
| orders     | store|order             | "order"; timeline|time (ns)|rnd | point reads, ETag per order; the    |
|            |                         |                                 | timeline in the order's partition   |
| orderindex | store                   | inverted changed time|order     | list newest first without a scan    |
| events     | store|event key         | "event"                         | insert-if-absent on the event key   |
|            | "unsent"                | store|event key                 | the outbox: the message of each     |
|            |                         |                                 | event the bus may not have yet      |
| claims     | store                   | claim|key, series|name          | counter + claim in one transaction  |
| skumaps    | store                   | store SKU                       | batched writes within the store     |
| watermarks | name                    | "watermark"                     |                                     |

Timeline entries share the order's partition so that a state change and its timeline entries are saved
in one entity group transaction: a crash cannot keep one and lose the other. Claims live in the store's
partition because an entity group transaction only spans one partition, and
the gap-free number needs the counter and the claim written together.

The event row (with its Unsent mark) and its outbox row (with the message) live in different partitions, so
no transaction spans them: the outbox row is written first and deleted after the event is marked sent, so an
unsent event always has its message. The "unsent" partition stays small, one query finds what to relay, and
the message (which repeats the body's personal data) is not kept once sent. An outbox row without an event
(a crash before the insert, never acknowledged) is dropped after an hour.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import json
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from urllib.parse import quote, unquote

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableServiceClient, TableTransactionError, UpdateMode

from shared.adapters.claimcheck import BlobClaimCheck, azure_credential, passing_faults
from shared.domain.records import Claim, EventRecord, OrderRecord, OutgoingMessage, TimelineEntry, utcnow
from shared.errors import ConfigError, RetryableError
from shared.ports import ConcurrencyError

if TYPE_CHECKING:
    from azure.data.tables import TableClient

TABLES = ("orders", "orderindex", "events", "claims", "skumaps", "watermarks")
ORDER_ROW = "order"
EVENT_ROW = "event"
TIMELINE_PREFIX = "timeline|"

# Table Storage limits: a string or binary property holds at most 64 KiB (strings are UTF-16, so 32 K
# characters), an entity at most 1 MiB, a transaction 100 operations in one partition.
_STRING_CHARS = 30_000
_CHUNK_BYTES = 60_000
_MAX_CHUNKS = 15
_BATCH = 100
_CLAIM_ATTEMPTS = 10
UNSENT_PARTITION = "unsent"  # never an event's partition: those always hold "|"
# An index row whose event is still missing this long after it was written belongs to an intake that died
# before the insert (it never answered 2xx). Long past any HTTP request's lifetime (230 s on Azure).
ORPHAN_AGE = timedelta(hours=1)

P = ParamSpec("P")
R = TypeVar("R")


def _passing_faults(method: Callable[P, R]) -> Callable[P, R]:
    """Map network faults, throttling (429) and server errors (5xx) to RetryableError."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with passing_faults("Table Storage"):
            return method(*args, **kwargs)

    return wrapper


def _key(value: str) -> str:
    """A key part safe for PartitionKey/RowKey, which forbid / \\ # ? and control characters.

    Percent-encoding is reversible and escapes "|", which joins the parts.
    """
    return quote(value, safe="")


def _pair(first: str, second: str) -> str:
    return f"{_key(first)}|{_key(second)}"


def _index_key(changed_at: datetime, order_id: str) -> str:
    micros = int(changed_at.timestamp() * 1_000_000)
    return f"{10**17 - micros:017d}|{_key(order_id)}"


def _pack(prefix: str, data: bytes) -> dict[str, Any]:
    """Split a gzip'd payload over binary properties, each under the 64 KiB property limit."""
    packed = gzip.compress(data)
    chunks = [packed[i : i + _CHUNK_BYTES] for i in range(0, len(packed), _CHUNK_BYTES)]
    if len(chunks) > _MAX_CHUNKS:
        raise ValueError(f"{prefix} is {len(packed)} bytes compressed: over what one table entity holds")
    entity: dict[str, Any] = {f"{prefix}Parts": len(chunks)}
    for number, chunk in enumerate(chunks):
        entity[f"{prefix}{number}"] = chunk
    return entity


def _unpack(prefix: str, entity: Mapping[str, Any]) -> bytes:
    parts = int(entity[f"{prefix}Parts"])
    return gzip.decompress(b"".join(bytes(entity[f"{prefix}{n}"]) for n in range(parts)))


class TableStateStore:
    """StateStore on Azure Tables. See shared.ports.StateStore for the contract of each method."""

    def __init__(
        self,
        service: TableServiceClient,
        *,
        table_prefix: str = "",
        claim_checks: BlobClaimCheck | None = None,
        create_tables: bool = True,
    ) -> None:
        if table_prefix and not table_prefix.isalnum():
            raise ConfigError(f"table prefix {table_prefix!r}: Table names allow letters and digits only")
        self._service = service
        self._claim_checks = claim_checks
        self._tables: dict[str, TableClient] = {}
        for name in TABLES:
            full = f"{table_prefix}{name}"
            self._tables[name] = (
                service.create_table_if_not_exists(full) if create_tables else service.get_table_client(full)
            )

    @classmethod
    def from_settings(cls, env: Mapping[str, str] | None = None) -> TableStateStore:
        """TABLES_ENDPOINT with the app's managed identity in Azure; TABLES_CONNECTION_STRING for Azurite.

        Tables are created when missing (Bicep creates them in Azure; Azurite starts empty).
        """
        env = os.environ if env is None else env
        endpoint = env.get("TABLES_ENDPOINT", "")
        connection = env.get("TABLES_CONNECTION_STRING", "")
        if endpoint:
            service = TableServiceClient(endpoint, credential=azure_credential(env))
        elif connection:
            service = TableServiceClient.from_connection_string(connection)
        else:
            raise ConfigError("STATE_BACKEND=tables needs TABLES_ENDPOINT (Azure) or TABLES_CONNECTION_STRING")
        return cls(
            service,
            table_prefix=env.get("TABLES_PREFIX", ""),
            claim_checks=BlobClaimCheck.from_settings(env),
        )

    def _table(self, name: str) -> TableClient:
        return self._tables[name]

    # events and their outbox -----------------------------------------------------------------
    def _put_bytes(
        self, entity: dict[str, Any], prefix: str, data: bytes, store_id: str, *, keep_in_entity: bool = False
    ) -> None:
        """Inline when small; else in the claim-check container, or gzip'd over several properties.

        keep_in_entity prefers the gzip'd properties to a blob, so that the payload goes when the row goes;
        the claim check then takes only what does not fit in an entity.
        """
        if len(data) <= _CHUNK_BYTES:
            entity[prefix] = data
            return
        claim_checks = self._claim_checks
        if claim_checks is None or keep_in_entity:
            try:
                entity.update(_pack(f"{prefix}Gz", data))
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
            return _unpack(f"{prefix}Gz", entity)
        return None if entity.get(prefix) is None else bytes(entity[prefix])

    def _event_entity(self, event: EventRecord) -> dict[str, Any]:
        entity: dict[str, Any] = {
            "PartitionKey": _pair(event.store_id, event.event_key),
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

    @_passing_faults
    def record_event(self, event: EventRecord) -> bool:
        events = self._table("events")
        if event.unsent:
            if event.message is None:
                raise ValueError(f"event {event.event_key}: an unsent event needs its message")
            outbox_row: dict[str, Any] = {
                "PartitionKey": UNSENT_PARTITION,
                "RowKey": _pair(event.store_id, event.event_key),
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

    @_passing_faults
    def get_event(self, store_id: str, event_key: str) -> EventRecord | None:
        events = self._table("events")
        try:
            entity = events.get_entity(_pair(store_id, event_key), EVENT_ROW)
        except ResourceNotFoundError:
            return None
        message = None
        if entity.get("Unsent"):
            with contextlib.suppress(ResourceNotFoundError):
                message = self._get_bytes(events.get_entity(UNSENT_PARTITION, _pair(store_id, event_key)), "Message")
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

    @_passing_faults
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

    @_passing_faults
    def mark_event_sent(self, store_id: str, event_key: str) -> None:
        events = self._table("events")
        try:
            mark = {"PartitionKey": _pair(store_id, event_key), "RowKey": EVENT_ROW, "Unsent": False}
            events.update_entity(mark, mode=UpdateMode.MERGE)
        except ResourceNotFoundError:
            return
        # Only after the mark: a crash in between leaves an outbox row that the relay drops.
        self._delete_quietly(events, UNSENT_PARTITION, _pair(store_id, event_key))

    # orders ---------------------------------------------------------------------------------
    def _order_entity(self, record: OrderRecord, index_key: str) -> dict[str, Any]:
        text = record.model_dump_json(exclude={"version"})
        entity: dict[str, Any] = {
            "PartitionKey": _pair(record.store_id, record.order_id),
            "RowKey": "order",
            "StoreId": record.store_id,
            "OrderId": record.order_id,
            "State": record.state.value,
            "ChangedAt": record.changed_at.isoformat(),
            "IndexKey": index_key,
        }
        if len(text) <= _STRING_CHARS:
            entity["Record"] = text
        else:
            # A big order (hundreds of lines) would break the 64 KiB property limit as one string.
            entity.update(_pack("RecordGz", text.encode()))
        return entity

    @staticmethod
    def _record_from(entity: Mapping[str, Any]) -> OrderRecord:
        text = entity["Record"] if "Record" in entity else _unpack("RecordGz", entity).decode()
        record = OrderRecord.model_validate_json(text)
        record.version = str(entity.metadata["etag"])  # type: ignore[attr-defined]
        return record

    @_passing_faults
    def get_order(self, store_id: str, order_id: str) -> OrderRecord | None:
        try:
            entity = self._table("orders").get_entity(_pair(store_id, order_id), "order")
        except ResourceNotFoundError:
            return None
        return self._record_from(entity)

    @_passing_faults
    def save_order(self, record: OrderRecord, timeline: Sequence[TimelineEntry] = ()) -> OrderRecord:
        saved = record.model_copy(deep=True)
        saved.changed_at = utcnow()
        index_key = _index_key(saved.changed_at, saved.order_id)
        orders, index = self._table("orders"), self._table("orderindex")
        pk = _pair(saved.store_id, saved.order_id)
        previous_index_key = ""
        if record.version:
            try:
                current = orders.get_entity(pk, "order", select=["IndexKey"])
            except ResourceNotFoundError as exc:
                raise ConcurrencyError(f"order {saved.store_id}/{saved.order_id} does not exist") from exc
            if current.metadata["etag"] != record.version:
                raise ConcurrencyError(f"order {saved.store_id}/{saved.order_id} changed since it was read")
            previous_index_key = str(current.get("IndexKey", ""))
        # The index row goes first: whatever fails after it, the order stays listed under a row that
        # matches its IndexKey, and rows that do not match are skipped by list_orders.
        index_row = {
            "PartitionKey": _key(saved.store_id),
            "RowKey": index_key,
            "OrderId": saved.order_id,
            "State": saved.state.value,
        }
        index.upsert_entity(index_row, mode=UpdateMode.REPLACE)
        entity = self._order_entity(saved, index_key)
        # The order and its new timeline entries in one transaction (same partition): both or neither.
        operation: tuple[Any, ...] = ("create", entity)
        if record.version:
            condition = {
                "mode": UpdateMode.REPLACE,
                "etag": record.version,
                "match_condition": MatchConditions.IfNotModified,
            }
            operation = ("update", entity, condition)
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

    @staticmethod
    def _delete_quietly(table: TableClient, partition_key: str, row_key: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            table.delete_entity(partition_key, row_key)

    @_passing_faults
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
            parameters["store"] = _key(store_id)
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
            entity = self._table("orders").get_entity(_pair(store_id, str(row["OrderId"])), "order")
        except ResourceNotFoundError:
            return None
        if entity.get("IndexKey") == row["RowKey"]:
            return self._record_from(entity)
        if str(row["RowKey"]) > str(entity.get("IndexKey", "")):
            # Older than the order's own row (inverted time sorts later): left by a save that stopped
            # between its steps. A newer unmatched row may belong to a save in flight: leave it.
            self._delete_quietly(self._table("orderindex"), str(row["PartitionKey"]), str(row["RowKey"]))
        return None

    @_passing_faults
    def append_timeline(self, store_id: str, order_id: str, entry: TimelineEntry) -> None:
        self._table("orders").create_entity(self._timeline_entity(_pair(store_id, order_id), entry))

    @staticmethod
    def _timeline_entity(partition_key: str, entry: TimelineEntry) -> dict[str, Any]:
        # Insertion order, like the SQLite sequence; the random tail keeps two writers in the same
        # nanosecond apart.
        row_key = f"{TIMELINE_PREFIX}{time.time_ns():020d}|{uuid.uuid4().hex[:8]}"
        return {"PartitionKey": partition_key, "RowKey": row_key, "Entry": entry.model_dump_json()}

    @_passing_faults
    def get_timeline(self, store_id: str, order_id: str) -> list[TimelineEntry]:
        rows = self._table("orders").query_entities(
            "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
            parameters={"pk": _pair(store_id, order_id), "low": TIMELINE_PREFIX, "high": "timeline}"},
            select=["RowKey", "Entry"],
        )
        ordered = sorted(rows, key=lambda row: str(row["RowKey"]))
        return [TimelineEntry.model_validate_json(row["Entry"]) for row in ordered]

    # claims and numbering -------------------------------------------------------------------
    def _get_claim(self, store_id: str, key: str) -> Any | None:
        try:
            return self._table("claims").get_entity(_key(store_id), f"claim|{_key(key)}")
        except ResourceNotFoundError:
            return None

    @_passing_faults
    def claim(self, store_id: str, key: str, series: str | None = None) -> tuple[Claim, bool]:
        claims = self._table("claims")
        partition = _key(store_id)
        for _ in range(_CLAIM_ATTEMPTS):
            existing = self._get_claim(store_id, key)
            if existing is not None:
                return Claim.model_validate_json(existing["Record"]), False
            claim = Claim(key=key, store_id=store_id, created_at=datetime.now(UTC))
            if series is None:
                try:
                    claims.create_entity(self._claim_entity(claim))
                except ResourceExistsError:
                    continue
                return claim, True
            counter_key = f"series|{_key(series)}"
            try:
                counter = claims.get_entity(partition, counter_key)
            except ResourceNotFoundError:
                counter = None
            last = int(counter["Last"]) if counter is not None else 0
            claim.number = str(last + 1)
            counter_row = {"PartitionKey": partition, "RowKey": counter_key, "Series": series, "Last": last + 1}
            operations: list[Any] = [("create", self._claim_entity(claim))]
            if counter is None:
                operations.append(("create", counter_row))
            else:
                options = {
                    "mode": UpdateMode.REPLACE,
                    "etag": counter.metadata["etag"],
                    "match_condition": MatchConditions.IfNotModified,
                }
                operations.append(("update", counter_row, options))
            try:
                # One entity group transaction: the number is used exactly when the claim is inserted.
                claims.submit_transaction(operations)
            except TableTransactionError:
                continue  # another writer took the claim or a number first: read again
            return claim, True
        raise RetryableError(f"claim {store_id}/{key}: too many concurrent writers on the store's series")

    @staticmethod
    def _claim_entity(claim: Claim) -> dict[str, Any]:
        return {
            "PartitionKey": _key(claim.store_id),
            "RowKey": f"claim|{_key(claim.key)}",
            "Status": claim.status,
            "Record": claim.model_dump_json(),
        }

    @_passing_faults
    def complete_claim(self, store_id: str, key: str, data: Mapping[str, object]) -> Claim:
        for _ in range(_CLAIM_ATTEMPTS):
            existing = self._get_claim(store_id, key)
            if existing is None:
                raise KeyError(f"no claim {store_id}/{key}")
            claim = Claim.model_validate_json(existing["Record"])
            claim.status = "done"
            claim.data = {**claim.data, **dict(data)}
            try:
                self._table("claims").update_entity(
                    self._claim_entity(claim),
                    mode=UpdateMode.REPLACE,
                    etag=existing.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            except ResourceModifiedError:
                continue
            return claim
        raise RetryableError(f"claim {store_id}/{key}: too many concurrent completions")

    # SKU map and watermarks -----------------------------------------------------------------
    @_passing_faults
    def get_sku_map(self, store_id: str) -> dict[str, str]:
        rows = self._table("skumaps").query_entities(
            "PartitionKey eq @pk", parameters={"pk": _key(store_id)}, select=["Sku", "ItemCode"]
        )
        return {str(row["Sku"]): str(row["ItemCode"]) for row in sorted(rows, key=lambda r: str(r["Sku"]))}

    @_passing_faults
    def put_sku_map(self, store_id: str, mapping: Mapping[str, str], replace: bool = True) -> None:
        """Batched by 100 within the store's partition. Each batch is atomic; a map of more than 100
        SKUs is not, so a failure midway leaves part applied and a retry completes it."""
        table = self._table("skumaps")
        partition = _key(store_id)
        operations: list[Any] = []
        if replace:
            wanted = {_key(sku) for sku in mapping}
            rows = table.query_entities("PartitionKey eq @pk", parameters={"pk": partition}, select=["RowKey"])
            operations += [
                ("delete", {"PartitionKey": partition, "RowKey": row["RowKey"]})
                for row in rows
                if row["RowKey"] not in wanted
            ]
        operations += [
            ("upsert", {"PartitionKey": partition, "RowKey": _key(sku), "Sku": sku, "ItemCode": code})
            for sku, code in mapping.items()
        ]
        for start in range(0, len(operations), _BATCH):
            table.submit_transaction(operations[start : start + _BATCH])

    @_passing_faults
    def get_watermark(self, name: str) -> str | None:
        try:
            return str(self._table("watermarks").get_entity(_key(name), "watermark")["Value"])
        except ResourceNotFoundError:
            return None

    @_passing_faults
    def set_watermark(self, name: str, value: str) -> None:
        self._table("watermarks").upsert_entity(
            {"PartitionKey": _key(name), "RowKey": "watermark", "Value": value}, mode=UpdateMode.REPLACE
        )

    # personal data: retention and erasure ----------------------------------------------------
    # Table Storage has no secondary index: both scans below filter on properties, which the service
    # evaluates over the whole table (orders: one row per order plus its timeline; events: one per
    # delivery). That is a daily timer and a rare erasure request, so a scan is the trade-off taken
    # instead of an index table that every save would have to keep in step. (Generators: a fault while
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

    @_passing_faults
    def replace_event(self, event: EventRecord) -> None:
        events = self._table("events")
        try:
            old = events.get_entity(_pair(event.store_id, event.event_key), EVENT_ROW, select=["BodyRef"])
        except ResourceNotFoundError as exc:
            raise KeyError(f"no event {event.store_id}/{event.event_key}") from exc
        entity = self._event_entity(event)
        # REPLACE drops the properties the new copy does not have (Body parts of a bigger original).
        events.update_entity(entity, mode=UpdateMode.REPLACE)
        reference = old.get("BodyRef")
        if reference and reference != entity.get("BodyRef") and self._claim_checks is not None:
            self._claim_checks.delete(str(reference))

    @_passing_faults
    def rewrite_timeline(self, store_id: str, order_id: str, rewrite: Callable[[TimelineEntry], TimelineEntry]) -> int:
        orders = self._table("orders")
        rows = orders.query_entities(
            "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
            parameters={"pk": _pair(store_id, order_id), "low": TIMELINE_PREFIX, "high": "timeline}"},
            select=["PartitionKey", "RowKey", "Entry"],
        )
        operations: list[Any] = []
        for row in rows:
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
        for start in range(0, len(operations), _BATCH):
            orders.submit_transaction(operations[start : start + _BATCH])
        return len(operations)

    def drop_tables(self) -> None:
        """Delete this store's tables (tests on a shared Azurite)."""
        for client in self._tables.values():
            self._service.delete_table(client.table_name)
