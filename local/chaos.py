"""`make chaos`: kill the local host with SIGKILL at random moments while orders flow, restart it, and
check that every order ends invoiced exactly once with a gap-free numbering. JSON lines out, the last
one a summary. CHAOS_ORDERS (default 300) and CHAOS_KILLS (default 6) size the run."""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from local.harness import HostProcess, order_states, outbox_files, send_order, wait_for, woocommerce_order, write_stores
from shared.adapters.sqlite_state import SqliteStateStore, state_path
from shared.fiscal.verifactu import chain_breaks, issuer_of
from shared.store_files import load_store


def _deliver(host: HostProcess, ids: list[int], results: dict[int, int]) -> None:
    """Send each order once, as a store would; a refused connection is noted, not retried here."""
    for order_id in ids:
        try:
            results[order_id] = send_order(requests, host.base, "woocommerce", woocommerce_order(order_id))
        except requests.RequestException:
            results[order_id] = 0


def main() -> int:
    orders = int(os.environ.get("CHAOS_ORDERS", "300"))
    kills = int(os.environ.get("CHAOS_KILLS", "6"))
    rng = random.Random(int(os.environ.get("CHAOS_SEED", "20261128")))
    work = Path(tempfile.mkdtemp(prefix="o2c-chaos-"))
    write_stores(work / "stores")
    env = {
        "LOCAL_BUS_LOCK_SECONDS": "2",
        "LOCAL_BUS_BACKOFF_BASE": "0.2",
        "LOCAL_BUS_POLL_SECONDS": "0.05",
        # The outbox relay sends what a kill left recorded but not queued (at start, then every 2 s); the
        # other timers have nothing to do here and stay out of the way.
        "LOCAL_TIMERS": "on",
        "OutboxRelaySchedule": "*/2 * * * * *",
        "CatchUpSchedule": "0 0 0 1 1 *",
        "SweepSchedule": "0 0 0 1 1 *",
        "RetentionSchedule": "0 0 0 1 1 *",
        "VerifactuSendSchedule": "0 0 0 1 1 *",
    }
    host = HostProcess(work / "state", work / "stores", env_overrides=env)
    started = time.monotonic()
    host.start()
    ids = [50_000 + i for i in range(orders)]
    batches = [ids[i::kills] for i in range(kills)]
    results: dict[int, int] = {}
    for round_number, batch in enumerate(batches, start=1):
        sender = threading.Thread(target=_deliver, args=(host, batch, results))
        sender.start()
        delay = rng.uniform(0.01, 0.15)
        time.sleep(delay)
        host.kill()
        sender.join()
        states = order_states(host.state_dir)
        print(
            json.dumps(
                {
                    "round": round_number,
                    "killed_after_s": round(delay, 3),
                    "orders_seen": len(states),
                    "invoiced_at_kill": sum(r["state"] == "invoiced" for r in states.values()),
                    "refused_while_down": sum(results.get(i) == 0 for i in batch),
                }
            ),
            flush=True,
        )
        host.start()
        # The store sends again what got no answer (Shopify retries; for WooCommerce the catch-up poll would).
        _deliver(host, [i for i in batch if results.get(i) not in (200, 202)], results)
    sent_ok = sum(status in (200, 202) for status in results.values())
    finished = wait_for(
        lambda: sum(r["state"] == "invoiced" for r in order_states(host.state_dir).values()) == orders, 300, 0.5
    )
    elapsed = time.monotonic() - started
    host.stop()
    records = list(order_states(host.state_dir).values())
    chain = SqliteStateStore(state_path(host.state_dir)).list_verifactu_records(
        issuer_of(load_store(host.stores_dir / "demo-woo.yaml")), limit=100_000
    )
    numbers = sorted(int(d["number"].rsplit("-", 1)[1]) for r in records for d in r["documents"])
    summary = {
        "summary": True,
        "orders_sent": orders,
        "accepted": sent_ok,
        "kills": kills,
        "invoiced": sum(r["state"] == "invoiced" for r in records),
        "invoices": len(numbers),
        "files": len([p for p in outbox_files(host.state_dir) if not p.stem.startswith("verifactu-")]),
        # demo-woo keeps VERI*FACTU records: one per invoice, one unbroken chain whatever the kills cut.
        "verifactu_records": len(chain),
        "verifactu_chain_ok": chain_breaks(chain) == [] and len(chain) == len(numbers),
        "duplicates": len(numbers) - len(set(numbers)),
        "gap_free": numbers == list(range(1, len(numbers) + 1)),
        "lost": orders - len(records),
        "finished": finished,
        "seconds": round(elapsed, 2),
    }
    print(json.dumps(summary), flush=True)
    ok = finished and summary["duplicates"] == 0 and summary["gap_free"] and summary["lost"] == 0
    ok = ok and bool(summary["verifactu_chain_ok"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
