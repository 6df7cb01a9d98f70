"""Claims and gap-free numbering on Table Storage.

Claims live in the store's partition because an entity group transaction only spans one partition, and
the gap-free number needs the counter and the claim written together.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableTransactionError

from shared.adapters.tables.base import TableRows, create_or_replace, unchanged_since
from shared.adapters.tables.keys import key_part
from shared.adapters.tables.retries import passing_faults
from shared.domain.records import Claim
from shared.errors import RetryableError

CLAIM_ATTEMPTS = 10


class ClaimRows(TableRows):
    def _get_claim(self, store_id: str, key: str) -> Any | None:
        try:
            return self._table("claims").get_entity(key_part(store_id), f"claim|{key_part(key)}")
        except ResourceNotFoundError:
            return None

    @passing_faults
    def claim(self, store_id: str, key: str, series: str | None = None) -> tuple[Claim, bool]:
        claims = self._table("claims")
        partition = key_part(store_id)
        for _ in range(CLAIM_ATTEMPTS):
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
            counter_key = f"series|{key_part(series)}"
            try:
                counter = claims.get_entity(partition, counter_key)
            except ResourceNotFoundError:
                counter = None
            last = int(counter["Last"]) if counter is not None else 0
            claim.number = str(last + 1)
            counter_row = {"PartitionKey": partition, "RowKey": counter_key, "Series": series, "Last": last + 1}
            counter_etag = counter.metadata["etag"] if counter is not None else None
            operations = [("create", self._claim_entity(claim)), create_or_replace(counter_row, counter_etag)]
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
            "PartitionKey": key_part(claim.store_id),
            "RowKey": f"claim|{key_part(claim.key)}",
            "Status": claim.status,
            "Record": claim.model_dump_json(),
        }

    @passing_faults
    def complete_claim(self, store_id: str, key: str, data: Mapping[str, object]) -> Claim:
        for _ in range(CLAIM_ATTEMPTS):
            existing = self._get_claim(store_id, key)
            if existing is None:
                raise KeyError(f"no claim {store_id}/{key}")
            claim = Claim.model_validate_json(existing["Record"])
            claim.status = "done"
            claim.data = {**claim.data, **dict(data)}
            try:
                self._table("claims").update_entity(
                    self._claim_entity(claim), **unchanged_since(existing.metadata["etag"])
                )
            except ResourceModifiedError:
                continue
            return claim
        raise RetryableError(f"claim {store_id}/{key}: too many concurrent completions")
