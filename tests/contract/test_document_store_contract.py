"""One DocumentStore contract, run over the folder and over Azure Blob Storage on Azurite, so they cannot drift."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.ports import DocumentExists, DocumentStore, InvalidDocumentName

INVOICE = b'<?xml version="1.0" encoding="UTF-8"?>\n<Invoice><ID>INV-000041</ID></Invoice>\n'
OTHER = b'<?xml version="1.0" encoding="UTF-8"?>\n<Invoice><ID>INV-000041</ID><Note>other</Note></Invoice>\n'


def _blob_store(connection_string: str) -> DocumentStore:
    from azure.storage.blob import BlobServiceClient

    from shared.adapters.documents_blob import BlobDocumentStore

    container = BlobServiceClient.from_connection_string(connection_string).get_container_client(
        "documents-" + uuid.uuid4().hex[:12]
    )
    return BlobDocumentStore(container, create_container=True)


@pytest.fixture(params=["folder", pytest.param("blob", marks=pytest.mark.azurite)])
def documents(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DocumentStore]:
    if request.param == "folder":
        from shared.adapters.documents_fs import FolderDocumentStore

        yield FolderDocumentStore(tmp_path / "outbox")
        return
    yield _blob_store(request.getfixturevalue("azurite"))


def test_a_document_is_read_back_as_written(documents):
    before = datetime.now(UTC) - timedelta(seconds=5)

    assert documents.put("demo-woo", "INV-000041", INVOICE, order_id="4711") is True

    stored = documents.get("demo-woo", "INV-000041")
    assert stored is not None
    assert stored.content == INVOICE
    assert stored.content_type == "application/xml"
    assert before <= stored.modified_at <= datetime.now(UTC) + timedelta(seconds=5)
    assert stored.modified_at.tzinfo is not None
    assert stored.location == documents.location("demo-woo", "INV-000041")
    assert stored.location.replace("\\", "/").endswith("demo-woo/INV-000041.xml")


def test_every_store_id_a_store_file_accepts_can_keep_documents(documents):
    for store_id in ("tienda-ñandú", "_shop", "demo_woo-2"):
        assert documents.put(store_id, "INV-000041", INVOICE, order_id="4711") is True
        stored = documents.get(store_id, "INV-000041")
        assert stored is not None and stored.content == INVOICE


def test_an_unknown_number_is_none(documents):
    assert documents.get("demo-woo", "INV-000999") is None
    documents.put("demo-woo", "INV-000041", INVOICE, order_id="4711")
    assert documents.get("demo-shop", "INV-000041") is None  # numbers are per store


def test_writing_the_same_document_again_is_a_harmless_retry(documents):
    documents.put("demo-woo", "INV-000041", INVOICE, order_id="4711")
    first = documents.get("demo-woo", "INV-000041")

    assert documents.put("demo-woo", "INV-000041", INVOICE, order_id="4711") is False
    assert documents.get("demo-woo", "INV-000041") == first


def test_a_number_is_never_overwritten_with_other_content(documents):
    documents.put("demo-woo", "INV-000041", INVOICE, order_id="4711")

    with pytest.raises(DocumentExists):
        documents.put("demo-woo", "INV-000041", OTHER, order_id="5311")

    stored = documents.get("demo-woo", "INV-000041")
    assert stored is not None and stored.content == INVOICE


def test_two_writers_racing_for_one_number_leave_exactly_one_document(documents):
    contents = [INVOICE.replace(b"</ID>", f"</ID><Note>{n}</Note>".encode()) for n in range(6)]
    outcomes: list[str] = []
    start = threading.Barrier(len(contents))

    def write(content: bytes) -> None:
        start.wait()
        try:
            documents.put("demo-woo", "INV-000041", content, order_id="4711")
            outcomes.append("written")
        except DocumentExists:
            outcomes.append("refused")

    threads = [threading.Thread(target=write, args=(c,)) for c in contents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["refused"] * 5 + ["written"]
    stored = documents.get("demo-woo", "INV-000041")
    assert stored is not None and stored.content in contents


@pytest.mark.parametrize(
    ("store_id", "number"),
    [
        ("demo-woo", "../INV-1"),
        ("demo-woo", "INV/1"),
        ("demo-woo", ""),
        ("demo-woo", ".hidden"),
        ("..", "INV-1"),
        ("a/b", "INV-1"),
        ("a\\b", "INV-1"),
        ("", "INV-1"),
        (".health", "probe"),
    ],
)
def test_names_that_could_leave_the_store_are_refused(documents, store_id, number):
    with pytest.raises(InvalidDocumentName):
        documents.put(store_id, number, INVOICE, order_id="4711")
    with pytest.raises(InvalidDocumentName):
        documents.get(store_id, number)


def test_the_health_probe_writes_no_document(documents):
    documents.check_writable()
    documents.check_writable()  # again: the probe never fails because it ran before

    assert documents.get("demo-woo", "INV-000041") is None


@pytest.mark.azurite
def test_a_blob_carries_its_content_type_and_order_id(azurite):
    store = _blob_store(azurite)
    store.put("demo-woo", "INV-000041", INVOICE, order_id="4711/a b", content_type="application/xml")

    blob = store._container.get_blob_client("demo-woo/INV-000041.xml")  # type: ignore[attr-defined]
    properties = blob.get_blob_properties()
    assert properties.content_settings.content_type == "application/xml"
    assert properties.metadata == {"order_id": "4711%2Fa%20b"}


@pytest.mark.azurite
def test_a_blob_store_without_write_access_fails_its_health_check(azurite):
    from azure.core.exceptions import HttpResponseError
    from azure.storage.blob import ContainerClient

    from shared.adapters.documents_blob import BlobDocumentStore

    # The right account and container with a wrong key: every write is refused (403).
    url = _blob_store(azurite)._container.url  # type: ignore[attr-defined]
    wrong_key = {"account_name": "devstoreaccount1", "account_key": "d3Jvbmc="}
    refused = BlobDocumentStore(ContainerClient.from_container_url(url, credential=wrong_key), create_container=True)

    with pytest.raises(HttpResponseError):
        refused.check_writable()


# -- listing (reconciliation) ---------------------------------------------------------------------------


def test_listing_names_each_document_of_the_store_once_and_no_other_stores(documents):
    documents.put("demo-woo", "INV-000041", INVOICE, order_id="4711")
    documents.put("demo-woo", "INV-000042", OTHER, order_id="4712")
    documents.put("demo-woo-2", "INV-000043", INVOICE, order_id="4713")
    documents.check_writable()  # its probe is never a document

    listed = documents.list("demo-woo")

    assert sorted(d.number for d in listed) == ["INV-000041", "INV-000042"]
    assert all(d.modified_at.tzinfo is not None for d in listed)
    assert documents.list("empty-store") == []


def test_listing_after_a_time_leaves_out_older_documents(documents):
    documents.put("demo-woo", "INV-000041", INVOICE, order_id="4711")

    assert [d.number for d in documents.list("demo-woo", datetime.now(UTC) - timedelta(hours=1))] == ["INV-000041"]
    assert documents.list("demo-woo", datetime.now(UTC) + timedelta(hours=1)) == []
