"""End to end through the real local host process: signed orders in over HTTP, UBL invoices out, and a
SIGKILL in the middle of the pipeline followed by a restart that loses nothing and repeats nothing."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from local.harness import (
    order_states,
    outbox_files,
    running_host,
    send_order,
    shopify_order,
    wait_for,
    woocommerce_order,
)
from shared.adapters.sqlite_state import SqliteStateStore, state_path
from shared.fiscal.verifactu import chain_breaks

pytestmark = pytest.mark.slow


def invoiced(state_dir: Path, expected: int) -> bool:
    states = order_states(state_dir)
    return len(states) == expected and all(r["state"] == "invoiced" for r in states.values())


def test_one_woocommerce_and_one_shopify_order_become_two_invoices(tmp_path: Path):
    state_dir = tmp_path / "state"
    with running_host(state_dir) as host, requests.Session() as http:
        assert send_order(http, host.base, "woocommerce", woocommerce_order(4711)) == 202
        assert send_order(http, host.base, "shopify", shopify_order(9007199254740993), "evt-1") == 202
        assert send_order(http, host.base, "shopify", shopify_order(9007199254740993), "evt-1") == 200
        assert wait_for(lambda: invoiced(state_dir, 2), timeout=60)
        woo = http.get(f"{host.base}/orders/demo-woo/4711", timeout=10).json()
        shop = http.get(f"{host.base}/orders/demo-shopify/9007199254740993", timeout=10).json()
        listed = http.get(f"{host.base}/orders", params={"state": "invoiced"}, timeout=10).json()
    assert woo["state"] == shop["state"] == "invoiced"
    assert woo["documents"][0]["number"] == "CA-2026-000001"
    assert shop["documents"][0]["number"] == "TT-000001"
    # demo-woo keeps VERI*FACTU records (config/stores/demo-woo.yaml): its invoice gets the first link.
    assert [t["action"] for t in woo["timeline"]] == ["order.received", "validated", "invoiced", "verifactu.recorded"]
    assert listed["count"] == 2
    assert sorted(p.name for p in outbox_files(state_dir)) == [
        "CA-2026-000001.xml",
        "TT-000001.xml",
        "verifactu-000001.xml",
    ]


def test_sigkill_mid_pipeline_then_restart_loses_nothing_and_issues_nothing_twice(tmp_path: Path):
    state_dir = tmp_path / "state"
    orders = 60
    # A short lock makes the messages the dead process held come back quickly after the restart.
    env = {"LOCAL_BUS_LOCK_SECONDS": "3", "LOCAL_BUS_BACKOFF_BASE": "0.2", "LOCAL_BUS_POLL_SECONDS": "0.05"}
    with running_host(state_dir, **env) as host, requests.Session() as http:
        # Intake answers faster than the pipeline works, so sending in parallel leaves work queued.
        with ThreadPoolExecutor(8) as pool:
            statuses = list(
                pool.map(
                    lambda i: send_order(requests, host.base, "woocommerce", woocommerce_order(10_000 + i)),
                    range(orders),
                )
            )
        assert statuses == [202] * orders
        # Kill as soon as work is under way but not finished.
        assert wait_for(lambda: any(r["state"] == "invoiced" for r in order_states(state_dir).values()), 60, 0.01)
        host.kill()
        done_at_kill = sum(r["state"] == "invoiced" for r in order_states(state_dir).values())
        host.start()
        assert wait_for(lambda: invoiced(state_dir, orders), timeout=120), order_states(state_dir)
        health = http.get(f"{host.base}/health", timeout=10).json()

    assert done_at_kill < orders, "the kill came after all work was done; nothing was tested"
    records = order_states(state_dir).values()
    numbers = sorted(doc["number"] for r in records for doc in r["documents"])
    assert all(len(r["documents"]) == 1 for r in records)
    # Gap-free and unique: exactly 1..N, whatever was in flight when the process died.
    assert numbers == [f"CA-2026-{n:06d}" for n in range(1, orders + 1)]
    files = [p for p in outbox_files(state_dir) if not p.stem.startswith("verifactu-")]
    assert sorted(p.stem for p in files) == numbers
    # VERI*FACTU (demo-woo): one record per invoice, one unbroken chain, whatever the kill interrupted.
    chain = SqliteStateStore(state_path(state_dir)).list_verifactu_records("B12345674", limit=1000)
    assert sorted(r.invoice_number for r in chain) == numbers
    assert chain_breaks(chain) == []
    assert len([p for p in outbox_files(state_dir) if p.stem.startswith("verifactu-")]) == orders
    for path in files:
        assert re.search(rb"<cbc:ID>CA-2026-\d{6}</cbc:ID>", path.read_bytes())
    queues = health["checks"].get("queues", {})
    assert all(q.get("dead_lettered", 0) == 0 for q in queues.values())
