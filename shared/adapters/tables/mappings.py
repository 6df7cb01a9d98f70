"""The SKU map (store SKU to item code, one partition per store) and the watermarks of the timers on
Table Storage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.adapters.tables.base import TableRows
from shared.adapters.tables.keys import BATCH, key_part
from shared.adapters.tables.retries import passing_faults


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
