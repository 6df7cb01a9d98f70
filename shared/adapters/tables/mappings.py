"""The SKU map (store SKU to item code, one partition per store), the watermarks of the timers and the UBL
target's stock table (item code to quantity and when it was counted, one partition per store) on Table Storage."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from shared.adapters.tables.base import TableRows, create_or_replace
from shared.adapters.tables.keys import BATCH, key_part
from shared.adapters.tables.retries import passing_faults
from shared.errors import RetryableError
from shared.ports import StockLevel

STOCK_WRITE_ATTEMPTS = 5


class MappingRows(TableRows):
    @passing_faults
    def get_sku_map(self, store_id: str) -> dict[str, str]:
        rows = self._table("skumaps").query_entities(
            "PartitionKey eq @pk", parameters={"pk": key_part(store_id)}, select=["Sku", "ItemCode"]
        )
        return {str(row["Sku"]): str(row["ItemCode"]) for row in sorted(rows, key=lambda r: str(r["Sku"]))}

    @passing_faults
    def put_sku_map(self, store_id: str, mapping: Mapping[str, str], replace: bool = True) -> None:
        """Batched by 100 within the store's partition. Each batch is atomic; a map of more than 100
        SKUs is not, so a failure midway leaves part applied and a retry completes it."""
        table = self._table("skumaps")
        partition = key_part(store_id)
        operations: list[Any] = []
        if replace:
            wanted = {key_part(sku) for sku in mapping}
            rows = table.query_entities("PartitionKey eq @pk", parameters={"pk": partition}, select=["RowKey"])
            operations += [
                ("delete", {"PartitionKey": partition, "RowKey": row["RowKey"]})
                for row in rows
                if row["RowKey"] not in wanted
            ]
        operations += [
            ("upsert", {"PartitionKey": partition, "RowKey": key_part(sku), "Sku": sku, "ItemCode": code})
            for sku, code in mapping.items()
        ]
        for start in range(0, len(operations), BATCH):
            table.submit_transaction(operations[start : start + BATCH])

    @passing_faults
    def get_watermark(self, name: str) -> str | None:
        try:
            return str(self._table("watermarks").get_entity(key_part(name), "watermark")["Value"])
        except ResourceNotFoundError:
            return None

    @passing_faults
    def set_watermark(self, name: str, value: str) -> None:
        self._table("watermarks").upsert_entity(
            {"PartitionKey": key_part(name), "RowKey": "watermark", "Value": value}, mode=UpdateMode.REPLACE
        )

    @passing_faults
    def get_stock_table(self, store_id: str) -> dict[str, StockLevel]:
        rows = self._table("stock").query_entities("PartitionKey eq @pk", parameters={"pk": key_part(store_id)})
        return {
            str(row["ItemCode"]): StockLevel(Decimal(str(row["Quantity"])), _utc(row["AsOf"]))
            for row in sorted(rows, key=lambda r: str(r["ItemCode"]))
        }

    @passing_faults
    def put_stock_table(self, store_id: str, levels: Mapping[str, Decimal], as_of: datetime) -> int:
        """Each row is created if absent or replaced only while its ETag is the one read and its count older:
        a batch that lost a race to another upload fails as a whole and is read and decided again."""
        table = self._table("stock")
        partition = key_part(store_id)
        for _ in range(STOCK_WRITE_ATTEMPTS):
            rows = {
                str(r["RowKey"]): r for r in table.query_entities("PartitionKey eq @pk", parameters={"pk": partition})
            }
            operations: list[Any] = []
            for code, quantity in levels.items():
                entity = {
                    "PartitionKey": partition,
                    "RowKey": key_part(code),
                    "ItemCode": code,
                    "Quantity": str(quantity),
                    "AsOf": as_of.astimezone(UTC),
                }
                row = rows.get(key_part(code))
                if row is None or _utc(row["AsOf"]) <= as_of:
                    operations.append(create_or_replace(entity, row.metadata["etag"] if row is not None else None))
            try:
                for start in range(0, len(operations), BATCH):
                    table.submit_transaction(operations[start : start + BATCH])
            except TableTransactionError:
                continue  # another upload wrote in between: read again
            return len(operations)
        raise RetryableError("the stock table kept changing during the upload")


def _utc(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
