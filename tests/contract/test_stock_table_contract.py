"""The UBL target's stock table, one contract over both StateStore adapters (SQLite file, Azure Tables on Azurite)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from shared.ports import StateStore, StockLevel
from tests.contract.test_state_store_contract import store  # noqa: F401  (the adapter fixture)

COUNTED = datetime(2026, 11, 28, 9, 0, 0, 250000, tzinfo=UTC)


def test_stock_table_reads_back_quantities_and_when_they_were_counted(store: StateStore) -> None:  # noqa: F811
    written = store.put_stock_table("demo-ubl", {"MUG-BLUE-350": Decimal("12"), "OIL-5L": Decimal("2.5")}, COUNTED)
    assert written == 2
    assert store.get_stock_table("demo-ubl") == {
        "MUG-BLUE-350": StockLevel(Decimal("12"), COUNTED),
        "OIL-5L": StockLevel(Decimal("2.5"), COUNTED),
    }
    assert store.get_stock_table("another-store") == {}


def test_an_older_count_never_overwrites_a_newer_one_and_items_not_named_keep_their_row(
    store: StateStore,  # noqa: F811
) -> None:
    store.put_stock_table("demo-ubl", {"MUG-BLUE-350": Decimal("12"), "OIL-5L": Decimal("7")}, COUNTED)
    newer = COUNTED + timedelta(minutes=5)
    assert store.put_stock_table("demo-ubl", {"MUG-BLUE-350": Decimal("9")}, newer) == 1
    late = store.put_stock_table("demo-ubl", {"MUG-BLUE-350": Decimal("40"), "OIL-5L": Decimal("6")}, COUNTED)
    assert late == 1  # only OIL-5L: its row was counted at the same time, MUG's later
    table = store.get_stock_table("demo-ubl")
    assert table["MUG-BLUE-350"] == StockLevel(Decimal("9"), newer)
    assert table["OIL-5L"] == StockLevel(Decimal("6"), COUNTED)
