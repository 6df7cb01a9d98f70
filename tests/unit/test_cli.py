"""The command line works on the same local state as the host: SKU map, dry run, orders, dead letters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.cli import main
from shared.adapters.sqlite_bus import SqliteBus, bus_path
from shared.bootstrap import override_services

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LOCAL_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("STORES_DIR", str(ROOT / "config" / "stores"))
    override_services(None)
    yield tmp_path
    override_services(None)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_sku_map_import_export_and_simulate(state_dir: Path, capsys, tmp_path: Path):
    csv_file = tmp_path / "skus.csv"
    csv_file.write_text("sku,variant_id,item_code\nBLUE-MUG-350ML,,MUG-9\n", encoding="utf-8")
    assert run(capsys, "sku-map", "import", "demo-woo", str(csv_file))[0] == 0
    code, out, _ = run(capsys, "sku-map", "export", "demo-woo")
    assert code == 0 and '"BLUE-MUG-350ML","","","MUG-9"' in out
    code, out, _ = run(capsys, "simulate", "demo-woo", str(ROOT / "tests/fixtures/woocommerce/order_created.json"))
    result = json.loads(out)
    assert code == 0 and result["problems"] == [] and "MUG-9" in result["invoice"]["xml"]
    assert run(capsys, "orders")[1].strip().startswith("{")


def test_unknown_store_is_a_clear_error_not_a_traceback(state_dir: Path, capsys):
    code, _, err = run(capsys, "unmapped", "nowhere")
    assert code == 2 and "Unknown store" in err


def test_dead_letters_are_listed_and_resubmitted(state_dir: Path, capsys):
    bus = SqliteBus(bus_path(state_dir), max_delivery_count=1)
    bus.send("invoice-requests", b"{}", message_id="demo-woo:5123:0:issue_invoice", session_id="demo-woo/5123")
    bus.dead_letter(bus.receive("invoice-requests"), "MaxDeliveryCountExceeded", "ERP down")
    code, out, _ = run(capsys, "dead-letters", "invoice-requests")
    letters = json.loads(out)
    assert code == 0 and [(d["message_id"], d["reason"]) for d in letters] == [
        ("demo-woo:5123:0:issue_invoice", "MaxDeliveryCountExceeded")
    ]
    assert run(capsys, "resubmit", "invoice-requests", str(letters[0]["sequence"]))[0] == 0
    assert bus.receive("invoice-requests").message_id == "demo-woo:5123:0:issue_invoice"
    assert json.loads(run(capsys, "dead-letters")[1]) == []
