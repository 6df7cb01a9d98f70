"""Documents in Azure Blob Storage: container `documents` (DOCUMENTS_CONTAINER), blob `<store_id>/<number>.xml`.

A blob is created only if absent (If-None-Match: *), so a number is never overwritten; content type and
order id go with it (metadata `order_id`). In Azure the app's managed identity writes with Storage Blob
Data Contributor on this container only; locally a connection string reaches Azurite.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContentSettings

from shared.adapters.claimcheck import azure_credential, passing_faults
from shared.errors import ConfigError
from shared.ports import DocumentExists, ListedDocument, StoredDocument, document_name

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

CONTAINER = "documents"
# Not a document name: document blobs are `<store_id>/<number>.xml` and a store id never starts with a dot.
HEALTH_PROBE = ".health/probe"


def _passing_faults(doing: str) -> contextlib.AbstractContextManager[None]:
    return passing_faults("Blob Storage", doing)


class BlobDocumentStore:
    """DocumentStore over one blob container. See shared.ports.DocumentStore for the contract."""

    def __init__(self, container: ContainerClient, *, create_container: bool = False) -> None:
        self._container = container
        self._create = create_container

    @classmethod
    def from_settings(cls, env: Mapping[str, str] | None = None) -> BlobDocumentStore:
        """DOCUMENTS_ACCOUNT_URL with the app's managed identity (Azure), or DOCUMENTS_CONNECTION, a
        connection string (Azurite); DOCUMENTS_CONTAINER names the container (default `documents`).

        With a connection string the container is created when missing (Azurite starts empty); in Azure
        Bicep creates it and the identity may not create containers.
        """
        env = os.environ if env is None else env
        url = env.get("DOCUMENTS_ACCOUNT_URL", "")
        connection = env.get("DOCUMENTS_CONNECTION", "")
        container = env.get("DOCUMENTS_CONTAINER", "") or CONTAINER
        if url:
            service = BlobServiceClient(url, credential=azure_credential(env))
        elif connection:
            service = BlobServiceClient.from_connection_string(connection)
        else:
            raise ConfigError("DOCUMENT_STORE=blob needs DOCUMENTS_ACCOUNT_URL (Azure) or DOCUMENTS_CONNECTION")
        return cls(service.get_container_client(container), create_container=not url)

    def _ensure_container(self) -> None:
        if not self._create:
            return
        with contextlib.suppress(ResourceExistsError), _passing_faults("creating the container"):
            self._container.create_container()
        self._create = False

    def location(self, store_id: str, number: str) -> str:
        return str(self._container.get_blob_client(document_name(store_id, number)).url)

    def put(
        self, store_id: str, number: str, content: bytes, *, order_id: str, content_type: str = "application/xml"
    ) -> bool:
        name = document_name(store_id, number)
        self._ensure_container()
        try:
            with _passing_faults(f"writing {name}"):
                self._container.upload_blob(
                    name,
                    content,
                    overwrite=False,
                    content_settings=ContentSettings(content_type=content_type),
                    # Metadata values are ASCII only: the order id is percent-encoded.
                    metadata={"order_id": quote(order_id, safe="")},
                )
        except ResourceExistsError:
            existing = self.get(store_id, number)
            if existing is not None and existing.content == content:
                return False
            raise DocumentExists(f"{name} already exists with other content") from None
        return True

    def get(self, store_id: str, number: str) -> StoredDocument | None:
        name = document_name(store_id, number)
        blob = self._container.get_blob_client(name)
        try:
            with _passing_faults(f"reading {name}"):
                download = blob.download_blob()
                content = download.readall()
        except ResourceNotFoundError:
            return None
        properties = download.properties
        return StoredDocument(
            content=bytes(content),
            modified_at=properties.last_modified.astimezone(UTC),
            location=str(blob.url),
            content_type=properties.content_settings.content_type or "application/xml",
        )

    def list(self, store_id: str, modified_after: datetime | None = None) -> Sequence[ListedDocument]:
        """Blobs named `<store_id>/<number>.xml`, from the listing alone (no download)."""
        prefix = document_name(store_id, "x").split("/")[0] + "/"
        found = []
        self._ensure_container()
        with _passing_faults(f"listing {prefix}"):
            for blob in self._container.list_blobs(name_starts_with=prefix):
                number = str(blob.name)[len(prefix) :]
                if "/" in number or not number.endswith(".xml"):
                    continue
                modified = blob.last_modified.astimezone(UTC)
                if modified_after is None or modified > modified_after:
                    found.append(ListedDocument(number[: -len(".xml")], modified))
        return sorted(found, key=lambda d: d.number)

    def check_writable(self) -> None:
        """Create the probe blob if absent. "Already there" proves it too: Blob Storage authorises a write
        before it looks for the blob, so a 409 comes only to an identity allowed to write. Creating instead
        of overwriting keeps the probe working under an immutability policy."""
        self._ensure_container()
        with contextlib.suppress(ResourceExistsError), _passing_faults("checking it can write"):
            self._container.upload_blob(HEALTH_PROBE, b"ok", overwrite=False)
