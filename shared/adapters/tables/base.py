"""What every concern of the Table Storage adapter shares: its table clients and claim check."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableServiceClient

    from shared.adapters.claimcheck import BlobClaimCheck


def unchanged_since(etag: str) -> dict[str, Any]:
    """The keywords of a write that replaces a row only if nobody changed it since it was read with this ETag."""
    return {"mode": UpdateMode.REPLACE, "etag": etag, "match_condition": MatchConditions.IfNotModified}


def create_or_replace(entity: dict[str, Any], etag: str | None) -> tuple[Any, ...]:
    """A transaction operation: create the row when it was not there (etag None), else replace it if unchanged."""
    return ("create", entity) if etag is None else ("update", entity, unchanged_since(etag))


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
