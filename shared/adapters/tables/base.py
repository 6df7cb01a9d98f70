"""What every concern of the Table Storage adapter shares: its table clients and claim check."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from azure.core.exceptions import ResourceNotFoundError

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableServiceClient

    from shared.adapters.claimcheck import BlobClaimCheck


class TableRows:
    """Base of the concern classes that TableStateStore combines; TableStateStore.__init__ sets these."""

    _service: TableServiceClient
    _tables: dict[str, TableClient]
    _claim_checks: BlobClaimCheck | None

    def _table(self, name: str) -> TableClient:
        return self._tables[name]

    @staticmethod
    def _delete_quietly(table: TableClient, partition_key: str, row_key: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            table.delete_entity(partition_key, row_key)
