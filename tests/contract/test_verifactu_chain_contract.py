"""The VERI*FACTU chain contract of the state port, over SQLite and Azure Tables (Azurite): one gap-free chain
per issuer, a link per document at most once, appended atomically, readable in chain order."""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from shared.adapters.sqlite_state import SqliteStateStore
from shared.domain.verifactu import VerifactuRecord
from shared.errors import RetryableError
from shared.ports import KeepsVerifactuRecords
from tests.contract.test_state_store_contract import _tables_store

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
ISSUER = "B12345674"


@pytest.fixture(params=["sqlite", pytest.param("tables", marks=pytest.mark.azurite)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeepsVerifactuRecords]:
    if request.param == "sqlite":
        yield SqliteStateStore(tmp_path / "state.db")
        return
    tables = _tables_store(request.getfixturevalue("azurite"))
    yield tables
    tables.drop_tables()


def link_builder(key: str, issuer: str = ISSUER, calls: list[int] | None = None) -> Callable[..., VerifactuRecord]:
    def build(previous: VerifactuRecord | None) -> VerifactuRecord:
        if calls is not None:
            calls.append(1)
        seq = previous.seq + 1 if previous else 1
        previous_hash = previous.hash if previous else ""
        digest = hashlib.sha256(f"{key}|{previous_hash}".encode()).hexdigest().upper()
        return VerifactuRecord(
            issuer_nif=issuer, seq=seq, store_id="demo-woo", order_id=key, document_key=key,
            invoice_number=key, issue_date=date(2026, 11, 28), invoice_type="F2", kind="alta",
            total=Decimal("12.10"), tax=Decimal("2.10"), generated_at=NOW, hash=digest,
            previous_hash=previous_hash, xml=f"<RegistroAlta>{key}</RegistroAlta>",
        )  # fmt: skip

    return build


def assert_unbroken(records: list[VerifactuRecord]) -> None:
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    assert records[0].previous_hash == ""
    for before, after in itertools.pairwise(records):
        assert after.previous_hash == before.hash
    assert len({r.hash for r in records}) == len(records)


def test_both_adapters_declare_the_capability(ledger: KeepsVerifactuRecords) -> None:
    assert isinstance(ledger, KeepsVerifactuRecords)


def test_first_record_starts_the_chain_and_the_next_quotes_its_hash(ledger: KeepsVerifactuRecords) -> None:
    first, created = ledger.append_verifactu_record(
        ISSUER, "demo-woo/invoice/CA-1", link_builder("demo-woo/invoice/CA-1")
    )
    second, _ = ledger.append_verifactu_record(ISSUER, "demo-woo/invoice/CA-2", link_builder("demo-woo/invoice/CA-2"))
    assert created and (first.seq, first.previous_hash) == (1, "")
    assert (second.seq, second.previous_hash) == (2, first.hash)


def test_a_document_gets_one_record_however_often_it_is_appended(ledger: KeepsVerifactuRecords) -> None:
    calls: list[int] = []
    first, created = ledger.append_verifactu_record(ISSUER, "k1", link_builder("k1", calls=calls))
    again, created_again = ledger.append_verifactu_record(ISSUER, "k1", link_builder("k1", calls=calls))
    assert created and not created_again
    assert again == first
    assert len(calls) == 1
    assert len(ledger.list_verifactu_records(ISSUER)) == 1


def test_records_list_in_chain_order_after_a_sequence_number(ledger: KeepsVerifactuRecords) -> None:
    for n in range(12):  # past 9 and 10: chain order, not text order
        ledger.append_verifactu_record(ISSUER, f"k{n}", link_builder(f"k{n}"))
    everything = ledger.list_verifactu_records(ISSUER, after=0, limit=100)
    assert_unbroken(everything)
    page = ledger.list_verifactu_records(ISSUER, after=9, limit=2)
    assert [r.seq for r in page] == [10, 11]
    assert [r.document_key for r in page] == ["k9", "k10"]


def test_each_issuer_has_its_own_chain(ledger: KeepsVerifactuRecords) -> None:
    ledger.append_verifactu_record(ISSUER, "k1", link_builder("k1"))
    other, _ = ledger.append_verifactu_record("B87654323", "k1", link_builder("k1", issuer="B87654323"))
    assert (other.seq, other.previous_hash) == (1, "")
    assert [r.issuer_nif for r in ledger.list_verifactu_records("B87654323")] == ["B87654323"]


def test_a_build_that_skips_a_link_is_refused_and_nothing_is_stored(ledger: KeepsVerifactuRecords) -> None:
    def skipping(previous: VerifactuRecord | None) -> VerifactuRecord:
        return link_builder("k1")(previous).model_copy(update={"seq": 2})

    with pytest.raises(ValueError, match="expected 1"):
        ledger.append_verifactu_record(ISSUER, "k1", skipping)
    assert ledger.list_verifactu_records(ISSUER) == []


def test_a_worker_dying_while_building_leaves_no_link(ledger: KeepsVerifactuRecords) -> None:
    def dying(previous: VerifactuRecord | None) -> VerifactuRecord:
        raise KeyboardInterrupt  # stands for the process dying between reading the head and writing

    with pytest.raises(KeyboardInterrupt):
        ledger.append_verifactu_record(ISSUER, "k1", dying)
    record, created = ledger.append_verifactu_record(ISSUER, "k1", link_builder("k1"))
    assert created and record.seq == 1


def test_concurrent_writers_never_fork_the_chain(ledger: KeepsVerifactuRecords, tmp_path: Path) -> None:
    def writer(n: int) -> None:
        store = ledger if not isinstance(ledger, SqliteStateStore) else SqliteStateStore(tmp_path / "state.db")
        for m in range(5):
            for _ in range(10):  # as the bus would: a writer that lost too many races is delivered again
                try:
                    store.append_verifactu_record(ISSUER, f"w{n}-{m}", link_builder(f"w{n}-{m}"))
                    break
                except RetryableError:
                    continue

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert_unbroken(ledger.list_verifactu_records(ISSUER, limit=100))
    assert len(ledger.list_verifactu_records(ISSUER, limit=100)) == 20


def test_aeats_answer_is_kept_and_the_record_leaves_the_pending_list(ledger: KeepsVerifactuRecords) -> None:
    for key in ("k1", "k2", "k3"):
        ledger.append_verifactu_record(ISSUER, key, link_builder(key))
    answered = ledger.set_verifactu_state(ISSUER, 2, "accepted", csv="A-ABCDEF0123456789")
    rejected = ledger.set_verifactu_state(
        ISSUER, 3, "rejected", error_code="1104", error_text="Valor del campo NIF incorrecto"
    )
    assert [r.seq for r in ledger.pending_verifactu_records(ISSUER)] == [1]
    stored = ledger.list_verifactu_records(ISSUER)
    assert (stored[1].state, stored[1].csv) == ("accepted", "A-ABCDEF0123456789") == (answered.state, answered.csv)
    assert (stored[2].error_code, stored[2].error_text) == ("1104", "Valor del campo NIF incorrecto")
    assert stored[2].hash == rejected.hash and stored[2].xml == "<RegistroAlta>k3</RegistroAlta>"


def test_setting_the_state_of_an_unknown_record_is_a_key_error(ledger: KeepsVerifactuRecords) -> None:
    with pytest.raises(KeyError):
        ledger.set_verifactu_state(ISSUER, 1, "accepted")
