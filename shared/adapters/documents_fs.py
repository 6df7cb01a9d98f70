"""Documents in a local folder: `<root>/<store_id>/<number>.xml` (root is `<state dir>/outbox`).

Written to a temporary file, fsynced and hard-linked into place: the link fails when the name exists, so a
number is never overwritten, even by two writers at once, and a reader never sees half a document.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from shared.errors import RetryableError
from shared.ports import DocumentExists, ListedDocument, StoredDocument, document_name


class FolderDocumentStore:
    """DocumentStore over a folder. See shared.ports.DocumentStore for the contract."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, store_id: str, number: str) -> Path:
        return self.root / document_name(store_id, number)

    def location(self, store_id: str, number: str) -> str:
        return str(self.path(store_id, number))

    def put(
        self, store_id: str, number: str, content: bytes, *, order_id: str, content_type: str = "application/xml"
    ) -> bool:
        final = self.path(store_id, number)
        folder = final.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{number}.", suffix=".tmp")
            try:
                with os.fdopen(handle, "wb") as stream:
                    stream.write(content)
                    stream.flush()
                    os.fsync(stream.fileno())
                # os.link refuses an existing name, unlike os.replace: the first writer wins.
                os.link(temporary, final)
            finally:
                Path(temporary).unlink(missing_ok=True)
            _fsync_directory(folder)
        except FileExistsError:
            if self._read(final) == content:
                return False
            raise DocumentExists(f"{final.name} already exists with other content") from None
        except OSError as exc:
            raise RetryableError(f"cannot write {final.name} to {folder}: {exc.strerror}") from exc
        return True

    def get(self, store_id: str, number: str) -> StoredDocument | None:
        path = self.path(store_id, number)
        try:
            content = path.read_bytes()
            modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RetryableError(f"cannot read {path.name}: {exc.strerror}") from exc
        return StoredDocument(content=content, modified_at=modified, location=str(path))

    def list(self, store_id: str, modified_after: datetime | None = None) -> Sequence[ListedDocument]:
        """Every `<number>.xml` in the store's folder; temporary files (dot names) are not documents."""
        folder = self.root / document_name(store_id, "x").split("/")[0]
        try:
            found = [
                ListedDocument(p.name[: -len(".xml")], datetime.fromtimestamp(p.stat().st_mtime, UTC))
                for p in sorted(folder.glob("[!.]*.xml"))
            ]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise RetryableError(f"cannot list the documents of {store_id}: {exc.strerror}") from exc
        return [d for d in found if modified_after is None or d.modified_at > modified_after]

    def check_writable(self) -> None:
        """Create and remove a temporary file in the root folder (a dot name: never a document)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.root, prefix=".health.", suffix=".tmp") as probe:
            probe.write(b"ok")
            probe.flush()

    def _read(self, path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise RetryableError(f"cannot read {path.name}: {exc.strerror}") from exc


def _fsync_directory(folder: Path) -> None:
    """Make the new name itself durable. Windows cannot open a directory for fsync; there the link is enough."""
    if os.name != "posix":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
