"""Acknowledged means processed, through the real host process: 600 signed deliveries at once, SIGKILL while
some are recorded but not yet on the bus, a restart, and no delivery sent again. The outbox relay (at host
start and on its timer) must bring every recorded order to exactly one invoice, numbered without a gap."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import pytest
import requests

from local.harness import HostProcess, order_states, outbox_files, send_order, wait_for, woocommerce_order, write_stores

pytestmark = pytest.mark.slow

DELIVERIES = 600
KILL_AFTER_ANSWERS = 120  # mid-burst: well after the first answers, long before the last
NEVER = "0 0 0 1 1 *"  # the other timers stay out of the way (they would only find nothing to do)


def read(path: Path, query: str) -> set[str]:
    """From outside the host process, frozen or dead: WAL readers see the last committed state. Not a
    read-only connection: after a SIGKILL the first reader may have to recover the WAL index."""
    if not path.exists():
        return set()
    with closing(sqlite3.connect(path, timeout=30)) as db:
        return {str(row[0]) for row in db.execute(query)}


def recorded_not_sent(state_dir: Path) -> set[str]:
    """Event keys in the event log whose message the bus has never seen (message id = event key)."""
    events = read(state_dir / "state.db", "SELECT event_key FROM events")
    sent = read(state_dir / "bus.db", "SELECT message_id FROM sent_message_ids WHERE queue = 'order-events'")
    return events - sent


def kill_between_record_and_send(host: HostProcess, answered: Callable[[], int]) -> set[str]:
    """Once the burst is under way, freeze the host until a frozen moment shows an event recorded but not
    yet on the bus, then SIGKILL it there. Returns those event keys."""
    assert host.process is not None
    assert wait_for(lambda: answered() >= KILL_AFTER_ANSWERS, timeout=60, interval=0.005)
    for _ in range(2000):
        host.process.send_signal(signal.SIGSTOP)
        gap = recorded_not_sent(host.state_dir)
        if gap:
            host.kill()
            return gap
        host.process.send_signal(signal.SIGCONT)
        time.sleep(0.002)
    host.kill()
    return set()


def test_sigkill_mid_burst_then_restart_invoices_every_acknowledged_order_once_without_resending(tmp_path: Path):
    state_dir, stores = tmp_path / "state", tmp_path / "stores"
    write_stores(stores)
    env = {
        "LOCAL_TIMERS": "on",
        "OutboxRelaySchedule": "*/2 * * * * *",
        "CatchUpSchedule": NEVER,
        "SweepSchedule": NEVER,
        "RetentionSchedule": NEVER,
        "LOCAL_BUS_LOCK_SECONDS": "3",
        "LOCAL_BUS_BACKOFF_BASE": "0.2",
        "LOCAL_BUS_POLL_SECONDS": "0.05",
    }
    host = HostProcess(state_dir, stores, env_overrides=env)
    host.start()
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def deliver(order_id: int) -> None:
        try:
            status = send_order(requests, host.base, "woocommerce", woocommerce_order(order_id))
        except requests.RequestException:
            status = 0  # no answer: the store would count it as failed (WooCommerce never resends)
        with lock:
            statuses[order_id] = status

    try:
        with ThreadPoolExecutor(48) as pool:
            pool.map(deliver, range(20_000, 20_000 + DELIVERIES))
            gap = kill_between_record_and_send(host, lambda: sum(s in (200, 202) for s in [*statuses.values()]))
        acknowledged = {str(i) for i, status in statuses.items() if status in (200, 202)}
        recorded = read(state_dir / "state.db", "SELECT order_id FROM events")
        host.start()  # nothing is sent again: only the relay can bring the gap to the queue
        everything_invoiced = wait_for(
            lambda: (
                set(states := order_states(state_dir)) >= {("demo-woo", o) for o in recorded}
                and all(r["state"] == "invoiced" for r in states.values())
            ),
            timeout=120,
            interval=0.5,
        )
        unsent = read(state_dir / "state.db", "SELECT event_key FROM events WHERE unsent = 1")
    finally:
        host.stop()

    assert gap, "the kill should land between recording a delivery and sending it"
    assert KILL_AFTER_ANSWERS <= len(acknowledged) < DELIVERIES, "the kill should land mid-burst"
    assert acknowledged <= recorded
    records = order_states(state_dir)
    invoiced = {order for (_, order), record in records.items() if record["state"] == "invoiced"}
    assert everything_invoiced, f"recorded, never invoiced: {sorted(recorded - invoiced)}"
    assert {order for _, order in records} == recorded  # every recorded delivery, answered or not, and no other
    assert all(len(record["documents"]) == 1 for record in records.values())
    numbers = sorted(doc["number"] for record in records.values() for doc in record["documents"])
    assert numbers == [f"CA-2026-{n:06d}" for n in range(1, len(records) + 1)]  # gap-free and unique
    assert sorted(path.stem for path in outbox_files(state_dir) if not path.stem.startswith("verifactu-")) == numbers
    assert unsent == set()
