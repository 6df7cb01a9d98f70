"""The VERI*FACTU chain in use: every invoice and credit note of a VERI*FACTU store gets one chained record,
through the real pipeline and UBL target, and a worker killed with SIGKILL never breaks the chain."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from shared.adapters.documents_fs import FolderDocumentStore
from shared.adapters.sqlite_state import SqliteStateStore
from shared.bootstrap import Services
from shared.dashboard.formats import action_label
from shared.domain.records import OrderRecord
from shared.fiscal.verifactu import chain_breaks, is_simplified, record_document
from shared.fiscal.verifactu.records import validation_errors
from shared.handlers.intake import receive_webhook
from shared.stores import StoreSettings
from shared.targets.ubl import UblOutboxTarget
from tests.fixtures.ubl.orders import company, line, order, store, two_mugs_with_coupon
from tests.support import Crash, crash_after, fixture_bytes, http_status, make_services, store_settings, webhook_headers

ROOT = Path(__file__).resolve().parents[2]
SHOP = "demo-shopify"
SHOP_ORDER = "9007199254740993"
SYSTEM = {"producer_name": "Integraciones Demo S.L.", "producer_nif": "B12345674", "installation_number": "1"}
ON = {"enabled": True, "system": SYSTEM}
ISSUER = "B12345674"


def deliver(services: Services, topic: str, name: str) -> None:
    raw = fixture_bytes("shopify", name)
    assert http_status(receive_webhook(services, "shopify", SHOP, raw, webhook_headers("shopify", topic, raw))) == 202
    services.bus.drain(services)  # type: ignore[attr-defined]


@pytest.fixture
def services(tmp_path: Path) -> Services:
    return make_services(tmp_path, **{SHOP: store_settings(SHOP, "shopify", verifactu=ON)})


def records(services: Services, issuer: str = ISSUER) -> list[Any]:
    assert isinstance(services.state, SqliteStateStore)
    return services.state.list_verifactu_records(issuer, limit=1000)


def test_an_order_and_its_refund_get_two_chained_valid_records_and_a_timeline_entry_each(services: Services) -> None:
    deliver(services, "orders/create", "orders_create")
    deliver(services, "refunds/create", "refunds_create")
    kept = records(services)
    documents = services.state.get_order(SHOP, SHOP_ORDER).documents  # type: ignore[union-attr]
    assert [r.invoice_number for r in kept] == [d.number for d in documents]
    assert [r.invoice_type for r in kept] == ["F1", "R1"]  # the buyer gave a VAT number: a full invoice
    assert kept[1].total < 0 < kept[0].total
    assert chain_breaks(kept) == []
    assert [validation_errors(r.xml) for r in kept] == [[], []]
    for record in kept:
        stored = services.document_store.get(SHOP, f"verifactu-{record.seq:06d}")
        assert stored is not None and stored.content == record.xml.encode()
    entries = [t for t in services.state.get_timeline(SHOP, SHOP_ORDER) if t.action == "verifactu.recorded"]
    assert [t.data["seq"] for t in entries] == [1, 2]
    assert "VERI*FACTU record 1 (F1)" in entries[0].describe("en")
    assert "Registro VERI*FACTU 2 (R1)" in entries[1].describe("es")
    assert (action_label(entries[0].action, "en"), action_label(entries[0].action, "es")) == (
        "VERI*FACTU record",
        "Registro VERI*FACTU",
    )


def test_a_store_without_verifactu_keeps_no_records(tmp_path: Path) -> None:
    services = make_services(tmp_path, **{SHOP: store_settings(SHOP, "shopify")})
    deliver(services, "orders/create", "orders_create")
    assert services.state.get_order(SHOP, SHOP_ORDER).documents  # type: ignore[union-attr]
    assert records(services) == []


def test_a_crash_after_the_record_and_before_the_order_shows_the_invoice_records_it_once(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashed = crash_after(services.state, "append_verifactu_record", monkeypatch)
    with pytest.raises(Crash):
        deliver(services, "orders/create", "orders_create")
    assert crashed and len(records(services)) == 1
    services.bus.drain(services)  # type: ignore[attr-defined]  # the redelivery after the lock expires
    assert len(records(services)) == 1
    actions = [t.action for t in services.state.get_timeline(SHOP, SHOP_ORDER)]
    assert actions.count("verifactu.recorded") == 1 and actions.count("invoiced") == 1
    assert services.document_store.get(SHOP, "verifactu-000001") is not None


def test_a_crash_before_the_record_xml_is_kept_writes_it_on_the_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = store(verifactu=ON)
    state = SqliteStateStore(tmp_path / "state.db")
    documents = FolderDocumentStore(tmp_path / "outbox")
    target = UblOutboxTarget(documents, settings, {}, clock=lambda: datetime(2026, 11, 28, 10, tzinfo=UTC))
    sale = two_mugs_with_coupon()
    invoice = target.issue_invoice(sale, "CA-000001")
    record = OrderRecord(store_id=settings.store_id, order_id=sale.order_id, order=sale)
    original_put = documents.put

    def dying_put(*args: Any, **kwargs: Any) -> bool:
        if args[1].startswith("verifactu-"):
            raise Crash("killed before the record's XML was written")
        return original_put(*args, **kwargs)

    monkeypatch.setattr(documents, "put", dying_put)
    with pytest.raises(Crash):
        record_document(state, documents, settings, record, invoice, lambda: datetime(2026, 11, 28, 10, tzinfo=UTC))
    monkeypatch.setattr(documents, "put", original_put)
    later = lambda: datetime(2026, 11, 28, 11, tzinfo=UTC)  # noqa: E731 - a retry an hour later
    kept = record_document(state, documents, settings, record, invoice, later)
    assert kept is not None and kept[1] is False  # the record made before the crash, not a second one
    assert [r.seq for r in state.list_verifactu_records(ISSUER)] == [1]
    stored = documents.get("demo-woo", "verifactu-000001")
    assert stored is not None and stored.content == kept[0].xml.encode()


def test_a_worker_killed_with_sigkill_in_the_middle_of_100_records_leaves_an_unbroken_gap_free_chain(
    tmp_path: Path,
) -> None:
    command = [sys.executable, "-m", "tests.verifactu_worker", str(tmp_path), "100"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert worker.stdout is not None
    for _ in range(30):  # kill it once 30 records are in (it prints each one)
        if not worker.stdout.readline():
            break
    os.kill(worker.pid, signal.SIGKILL)
    assert worker.wait() == -signal.SIGKILL
    state = SqliteStateStore(tmp_path / "state.db")
    at_kill = len(state.list_verifactu_records(ISSUER, limit=1000))
    assert 30 <= at_kill < 100
    finished = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, check=False, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    kept = state.list_verifactu_records(ISSUER, limit=1000)
    assert [r.invoice_number for r in kept] == [f"CA-{n:06d}" for n in range(1, 101)]
    assert chain_breaks(kept) == []
    assert all(validation_errors(r.xml) == [] for r in kept)
    documents = FolderDocumentStore(tmp_path / "outbox")
    assert all(documents.get("demo-woo", f"verifactu-{r.seq:06d}") is not None for r in kept)


def test_chain_check_finds_a_gap_a_fork_and_a_tampered_record(tmp_path: Path) -> None:
    settings = store(verifactu=ON)
    state = SqliteStateStore(tmp_path / "state.db")
    documents = FolderDocumentStore(tmp_path / "outbox")
    target = UblOutboxTarget(documents, settings, {}, clock=lambda: datetime(2026, 11, 28, 10, tzinfo=UTC))
    for n in range(1, 4):
        sale = two_mugs_with_coupon().model_copy(update={"order_id": str(n)})
        invoice = target.issue_invoice(sale, f"CA-00000{n}")
        record = OrderRecord(store_id="demo-woo", order_id=str(n), order=sale)
        record_document(state, documents, settings, record, invoice, lambda: datetime(2026, 11, 28, 10, tzinfo=UTC))
    kept = state.list_verifactu_records(ISSUER)
    assert chain_breaks(kept) == []
    assert "a gap" in chain_breaks([kept[0], kept[2]])[0]
    tampered = kept[1].model_copy(update={"xml": kept[1].xml.replace("<sf:ImporteTotal>", "<sf:ImporteTotal>1")})
    assert "does not match" in chain_breaks([kept[0], tampered, kept[2]])[0]


def test_verifactu_needs_the_ubl_target_a_spanish_seller_and_the_system_identity() -> None:
    with pytest.raises(ValidationError, match="target: ubl"):
        store_settings(SHOP, "shopify", target="tryton", verifactu=ON)
    with pytest.raises(ValidationError, match="Spanish seller"):
        store_settings(SHOP, "shopify", seller={"name": "X", "vat_id": "FR40303265045", "country": "FR"}, verifactu=ON)
    with pytest.raises(ValidationError, match=r"verifactu\.system"):
        store_settings(SHOP, "shopify", verifactu={"enabled": True})
    with pytest.raises(ValidationError, match="time zone"):
        store_settings(SHOP, "shopify", verifactu={**ON, "timezone": "Mars/Olympus"})
    assert isinstance(store_settings(SHOP, "shopify", verifactu=ON), StoreSettings)


class FlaggedRecord(OrderRecord):
    """The order record with the fiscal rules' simplified flag (added by the fiscal issue)."""

    simplified: bool = False


def test_an_order_is_simplified_by_its_flag_or_else_by_a_missing_buyer_tax_id() -> None:
    buyer = company("ES", "ESB87654323", "Té S.L.", "Bcn")
    with_tax_id = order([line("1", "BLUE-MUG-350ML", "Mug", "1", "10")], customer=buyer)
    assert not is_simplified(OrderRecord(store_id="s", order_id="1", order=with_tax_id))
    assert is_simplified(OrderRecord(store_id="s", order_id="1", order=two_mugs_with_coupon()))
    assert is_simplified(FlaggedRecord(store_id="s", order_id="1", order=with_tax_id, simplified=True))
    assert not is_simplified(FlaggedRecord(store_id="s", order_id="1", order=two_mugs_with_coupon(), simplified=False))
