"""A backfill process killed halfway (SIGKILL right after intake took an order in, before its watermark moved) and
started again, then the real local host running the pipeline: every order is invoiced exactly once, and a third run
takes nothing in."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections import Counter
from contextlib import closing
from pathlib import Path

import pytest
from lxml import etree

from local.harness import ROOT, HostProcess, order_states, outbox_files, wait_for
from shared.targets.ubl import codes
from tests.fake_order_store import FakeStore, woo_order
from tests.support import SKU_MAP, write_store_file

pytestmark = pytest.mark.slow

IDS = [str(n) for n in range(7001, 7009)]
RANGE = ["--from", "2026-11-20", "--to", "2026-11-20"]
# Runs the CLI with intake wrapped: the fourth order is recorded (and put on the bus), then the process dies.
KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    import shared.handlers.backfill as backfill
    taken = []
    original = backfill.accept
    def accept(*args, **kwargs):
        result = original(*args, **kwargs)
        taken.append(result)
        if len(taken) == 4:
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    backfill.accept = accept
    from local.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def _cli(env: dict[str, str], *argv: str, script: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", script, *argv] if script else [sys.executable, "-m", "local.cli", *argv]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _events(state_dir: Path) -> int:
    with closing(sqlite3.connect(state_dir / "state.db", timeout=30)) as db:
        return int(db.execute("SELECT COUNT(*) FROM events").fetchone()[0])


def test_backfill_killed_halfway_and_restarted_invoices_each_order_once(tmp_path: Path, httpserver):
    store = FakeStore(httpserver)
    store.woo = [woo_order(int(order_id), f"2026-11-20T0{n}:15:00") for n, order_id in enumerate(IDS)]
    stores, state_dir = tmp_path / "stores", tmp_path / "state"
    stores.mkdir()
    api = {"base_url": store.base_url, "consumer_key": "ck", "consumer_secret": "cs"}
    write_store_file(stores, "demo-woo", "woocommerce", api=api, sku_map=SKU_MAP)
    env = {**os.environ, "LOCAL_STATE_DIR": str(state_dir), "STORES_DIR": str(stores), "LOG_LEVEL": "WARNING"}

    killed = _cli(env, "backfill", "demo-woo", *RANGE, "--apply", script=KILLED_RUN)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert _events(state_dir) == 4

    resumed = _cli(env, "backfill", "demo-woo", *RANGE, "--apply")
    assert resumed.returncode == 0, resumed.stderr
    outcomes = [o["outcome"] for o in json.loads(resumed.stdout)["orders"]]
    assert outcomes == ["done_before"] * 3 + ["duplicate"] + ["accepted"] * 4

    host = HostProcess(state_dir, stores)
    host.start()
    try:
        invoiced = lambda: sum(r["state"] == "invoiced" for r in order_states(state_dir).values())  # noqa: E731
        assert wait_for(lambda: invoiced() == len(IDS), timeout=120), order_states(state_dir)
    finally:
        host.stop()

    ns = {"cac": codes.NS_CAC, "cbc": codes.NS_CBC}
    invoices = Counter(
        etree.parse(p).findtext("cac:OrderReference/cbc:ID", namespaces=ns)
        for p in outbox_files(state_dir)
        if not p.stem.startswith("verifactu-")  # demo-woo keeps a VERI*FACTU record beside each invoice
    )
    assert invoices == dict.fromkeys(IDS, 1)

    again = _cli(env, "backfill", "demo-woo", *RANGE, "--apply")
    assert json.loads(again.stdout)["counts"] == {"done_before": len(IDS)}
    assert _events(state_dir) == len(IDS)
