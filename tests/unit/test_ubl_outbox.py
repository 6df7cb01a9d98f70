"""The UBL outbox target: one atomic file per document, idempotent on the number, found again by find_document."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from shared.adapters.documents_fs import FolderDocumentStore
from shared.errors import PermanentError, RetryableError
from shared.ports import Target
from shared.targets.ubl import UblOutboxTarget
from tests.fixtures.ubl.orders import D, partial_refund, store, two_mugs_with_coupon
from tests.ubl_rules import NS, check_invoice


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2025, 3, 31, 23, 30, tzinfo=UTC))


@pytest.fixture
def target(tmp_path: Path, clock: Clock) -> UblOutboxTarget:
    documents = FolderDocumentStore(tmp_path / "outbox")
    return UblOutboxTarget(documents, store(), {"BLUE-MUG-350ML": "MUG-B-350"}, clock=clock)


@pytest.fixture
def outbox_dir(tmp_path: Path) -> Path:
    """Where the folder document store keeps the store's documents (layout unchanged: outbox/<store_id>/)."""
    return tmp_path / "outbox" / "demo-woo"


def test_the_outbox_implements_the_target_port(target):
    port: Target = target
    assert port.name == "ubl"


def test_issue_invoice_writes_number_xml_with_a_valid_invoice(target, outbox_dir):
    order = two_mugs_with_coupon(shipping_amount="4.95")

    ref = target.issue_invoice(order, "INV-000041")

    path = outbox_dir / "INV-000041.xml"
    assert ref.location == str(path) and ref.external_id == "INV-000041.xml"
    assert (ref.kind, ref.number, ref.target, ref.currency) == ("invoice", "INV-000041", "ubl", "EUR")
    assert (ref.total, ref.tax) == (order.total, D("12.36"))
    assert check_invoice(path.read_bytes()) == []
    root = etree.fromstring(path.read_bytes())
    assert root.findtext("cbc:IssueDate", namespaces=NS) == "2025-03-31"  # the clock's UTC date
    assert [p.name for p in outbox_dir.iterdir()] == ["INV-000041.xml"]  # no temporary file left


def test_duplicate_issue_returns_the_existing_invoice_without_rewriting(target, clock, outbox_dir):
    order = two_mugs_with_coupon(shipping_amount="4.95")
    first = target.issue_invoice(order, "INV-000041")
    path = outbox_dir / "INV-000041.xml"
    written = (path.read_bytes(), path.stat().st_mtime_ns)

    clock.now = datetime(2025, 4, 2, 8, 0, tzinfo=UTC)  # a retry two days later must not re-date the invoice
    second = target.issue_invoice(order, "INV-000041")

    assert (path.read_bytes(), path.stat().st_mtime_ns) == written
    assert second == first


def test_find_document_finds_the_invoice_only_once_it_is_written(target):
    order = two_mugs_with_coupon()
    assert target.find_document(order, "invoice", "INV-000041") is None

    target.issue_invoice(order, "INV-000041")

    found = target.find_document(order, "invoice", "INV-000041")
    assert found is not None and found.total == order.total


def test_a_number_already_used_by_another_order_is_a_conflict(target):
    target.issue_invoice(two_mugs_with_coupon(), "INV-000041")
    other = two_mugs_with_coupon().model_copy(update={"number": "1043", "order_id": "5311"})

    with pytest.raises(PermanentError) as raised:
        target.issue_invoice(other, "INV-000041")
    assert raised.value.code == "document_number_conflict"


def test_credit_note_is_written_next_to_the_invoice_and_references_it(target, outbox_dir):
    order = two_mugs_with_coupon(shipping_amount="4.95")
    invoice = target.issue_invoice(order, "INV-000041")
    refund = partial_refund(order)

    ref = target.issue_credit_note(order, refund, invoice, "CN-000007")

    assert (ref.kind, ref.refund_id, ref.total, ref.tax) == ("credit_note", "7001", D("19.60"), D("3.40"))
    xml = (outbox_dir / "CN-000007.xml").read_bytes()
    assert check_invoice(xml) == []
    assert (
        etree.fromstring(xml).findtext("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", namespaces=NS)
        == "INV-000041"
    )
    assert target.issue_credit_note(order, refund, invoice, "CN-000007") == ref


def test_a_failed_write_leaves_no_file_and_can_be_retried(target, monkeypatch, outbox_dir):
    order = two_mugs_with_coupon()

    def disk_full(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "link", disk_full)
    with pytest.raises(RetryableError):
        target.issue_invoice(order, "INV-000041")
    assert list(outbox_dir.iterdir()) == []

    monkeypatch.undo()
    assert target.issue_invoice(order, "INV-000041").number == "INV-000041"


def test_a_store_without_seller_details_cannot_invoice(tmp_path):
    target = UblOutboxTarget(FolderDocumentStore(tmp_path), store(seller=None))

    with pytest.raises(PermanentError) as raised:
        target.issue_invoice(two_mugs_with_coupon(), "INV-000041")
    assert raised.value.code == "seller_missing"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("number", ["../INV-1", "INV/1", "", ".hidden"])
def test_a_document_number_that_is_not_a_plain_file_name_is_refused(target, number):
    with pytest.raises(PermanentError) as raised:
        target.issue_invoice(two_mugs_with_coupon(), number)
    assert raised.value.code == "document_number_invalid"
