"""Claim check: payloads too big for a Service Bus message or a Table entity go to a blob in the
"claim-checks" container; the message or entity carries only the blob's name.

Also home of `azure_credential()`, the one way the Azure adapters authenticate in Azure.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from shared.errors import ConfigError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.storage.blob import BlobServiceClient, ContainerClient

CONTAINER = "claim-checks"
_UNSAFE = re.compile(r"[^A-Za-z0-9_/-]+")  # no dots: no ".." segments in blob names


def azure_credential(env: Mapping[str, str] | None = None) -> TokenCredential:
    """DefaultAzureCredential, pinned to the user-assigned identity when AZURE_CLIENT_ID is set.

    The Function App has only a user-assigned identity; without its client id the managed identity
    endpoint cannot tell which identity to issue a token for.
    """
    from azure.identity import DefaultAzureCredential

    env = os.environ if env is None else env
    client_id = env.get("AZURE_CLIENT_ID") or None
    return DefaultAzureCredential(managed_identity_client_id=client_id)


class BlobClaimCheck:
    """Content-addressed blobs: the same payload always gets the same name, so a retried put is harmless."""

    def __init__(self, container: ContainerClient) -> None:
        self._container = container
        self._ready = False

    @classmethod
    def from_service(cls, service: BlobServiceClient, container: str = CONTAINER) -> BlobClaimCheck:
        return cls(service.get_container_client(container))

    @classmethod
    def from_settings(cls, env: Mapping[str, str] | None = None) -> BlobClaimCheck | None:
        """CLAIM_CHECK_BLOB_ENDPOINT (identity, Azure) or CLAIM_CHECK_CONNECTION_STRING (Azurite only).

        None when neither is set: callers then refuse payloads that need a claim check.
        """
        from azure.storage.blob import BlobServiceClient

        env = os.environ if env is None else env
        endpoint = env.get("CLAIM_CHECK_BLOB_ENDPOINT", "")
        connection = env.get("CLAIM_CHECK_CONNECTION_STRING", "")
        if endpoint:
            return cls.from_service(BlobServiceClient(endpoint, credential=azure_credential(env)))
        if connection:
            return cls.from_service(BlobServiceClient.from_connection_string(connection))
        return None

    def _ensure_container(self) -> None:
        if self._ready:
            return
        with contextlib.suppress(ResourceExistsError):
            self._container.create_container()
        self._ready = True

    def put(self, data: bytes, prefix: str) -> str:
        """Store the payload; returns its reference (the blob name). Idempotent."""
        self._ensure_container()
        folder = "/".join(part for part in _UNSAFE.sub("_", prefix).split("/") if part) or "payload"
        name = f"{folder}/{hashlib.sha256(data).hexdigest()}"
        self._container.upload_blob(name, data, overwrite=True)
        return name

    def get(self, reference: str) -> bytes:
        """The payload stored under reference. Raises KeyError when it is gone."""
        try:
            return bytes(self._container.download_blob(reference).readall())
        except ResourceNotFoundError as exc:
            raise KeyError(f"claim check {reference} not found in container {self._container.container_name}") from exc

    def delete(self, reference: str) -> None:
        """Remove the payload (a redacted event no longer points at it). Gone already is fine."""
        with contextlib.suppress(ResourceNotFoundError):
            self._container.delete_blob(reference)


def require(claim_checks: BlobClaimCheck | None, what: str) -> BlobClaimCheck:
    if claim_checks is None:
        raise ConfigError(
            f"{what} needs a claim check: set CLAIM_CHECK_BLOB_ENDPOINT (Azure) or CLAIM_CHECK_CONNECTION_STRING"
        )
    return claim_checks
