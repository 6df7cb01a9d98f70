"""`python -m local.cli reconcile` and `backfill` on the local state (SQLite, local bus) against a fake store API."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from local.cli import main
from shared.adapters.sqlite_bus import SqliteBus, bus_path
from shared.bootstrap import override_services
from tests.fake_order_store import FakeStore, woo_order
from tests.support import SKU_MAP, write_store_file


@pytest.fixture
def local_state(tmp_path: Path, httpserver, monkeypatch: pytest.MonkeyPatch):
    store = FakeStore(httpserver)
    store.woo = [woo_order(order_id, f"2026-11-20T0{order_id - 7000}:15:00") for order_id in (7001, 7002, 7003)]
    stores = tmp_path / "stores"
    stores.mkdir()
    api = {"base_url": store.base_url, "consumer_key": "ck", "consumer_secret": "cs"}
    write_store_file(stores, "shop-woo", "woocommerce", api=api, sku_map=SKU_MAP)
    monkeypatch.setenv("LOCAL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("STORES_DIR", str(stores))
    override_services(None)
    yield tmp_path / "state"
    override_services(None)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_backfill_dry_run_then_apply_then_nothing_left(local_state: Path, capsys):
    code, out, err = run(capsys, "backfill", "shop-woo", "--from", "2026-11-20", "--to", "2026-11-20")
    assert code == 0 and json.loads(out)["counts"] == {"would_invoice": 3}
    assert "Dry run" in err and "3/3" in err  # the progress bar reached the end

    code, out, _ = run(capsys, "backfill", "shop-woo", "--from", "2026-11-20", "--to", "2026-11-20", "--apply")
    assert code == 0 and json.loads(out)["counts"] == {"accepted": 3}
    bus = SqliteBus(bus_path(local_state))
    assert sorted(json.loads(bus.receive("order-events").body)["order_id"] for _ in range(3)) == [
        "7001",
        "7002",
        "7003",
    ]

    code, out, _ = run(capsys, "backfill", "shop-woo", "--from", "2026-11-20", "--to", "2026-11-20", "--apply")
    assert json.loads(out)["counts"] == {"done_before": 3}


def test_reconcile_prints_csv_in_spanish(local_state: Path, capsys):
    code, out, _ = run(
        capsys, "reconcile", "shop-woo", "--from", "2026-11-20", "--to", "2026-11-20", "--csv", "--lang", "es"
    )

    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0
    assert [(r["kind"], r["order_id"]) for r in rows] == [("missing_in_service", o) for o in ("7001", "7002", "7003")]
    assert rows[0]["explanation"].startswith("El pedido 7001 está en la tienda")


def test_reconcile_refuses_bad_dates_clearly(local_state: Path, capsys):
    code, _, err = run(capsys, "reconcile", "shop-woo", "--from", "2026-11-21", "--to", "2026-11-20")

    assert code == 2 and "Bad date range" in err
