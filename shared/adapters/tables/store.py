"""TableStateStore: the StateStore port on Azure Tables, built from the concern classes of this package."""

from __future__ import annotations

import os
from collections.abc import Mapping

from azure.data.tables import TableServiceClient

from shared.adapters.claimcheck import BlobClaimCheck, azure_credential
from shared.adapters.tables.claims import ClaimRows
from shared.adapters.tables.keys import TABLES
from shared.adapters.tables.mappings import MappingRows
from shared.adapters.tables.privacy import PrivacyRows
from shared.adapters.tables.verifactu import VerifactuRows
from shared.errors import ConfigError


class TableStateStore(PrivacyRows, ClaimRows, MappingRows, VerifactuRows):
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
        self._tables = {}
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

    def drop_tables(self) -> None:
        """Delete this store's tables (tests on a shared Azurite)."""
        for client in self._tables.values():
            self._service.delete_table(client.table_name)
