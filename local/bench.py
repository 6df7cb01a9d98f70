"""`make bench`: figures for the real local host over loopback, as JSON lines, the last one a summary.

- intake: webhook latency (signed WooCommerce orders, sequential and with 8 senders in parallel);
- pipeline: time from the first webhook to the last order invoiced (UBL outbox), orders per second.
BENCH_ORDERS (default 400) sizes the run. Figures depend on this machine's load: compare runs, do not
assert on them.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from local.harness import order_states, running_host, send_order, wait_for, woocommerce_order


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {"p50_ms": pick(0.50), "p95_ms": pick(0.95), "p99_ms": pick(0.99), "max_ms": round(ordered[-1] * 1000, 2)}


def _timed_send(http: requests.Session, base: str, order_id: int) -> float:
    body = woocommerce_order(order_id)
    started = time.perf_counter()
    status = send_order(http, base, "woocommerce", body)
    elapsed = time.perf_counter() - started
    if status != 202:
        raise RuntimeError(f"order {order_id}: HTTP {status}")
    return elapsed


def main() -> int:
    orders = int(os.environ.get("BENCH_ORDERS", "400"))
    work = Path(tempfile.mkdtemp(prefix="o2c-bench-"))
    state_dir = work / "state"
    results = []
    with running_host(state_dir) as host, requests.Session() as http:
        sequential = [_timed_send(http, host.base, 100_000 + i) for i in range(orders // 4)]
        line = {"bench": "intake_sequential", "requests": len(sequential), **_percentiles(sequential)}
        results.append(line)
        print(json.dumps(line), flush=True)

        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            parallel = list(pool.map(lambda i: _timed_send(requests, host.base, 200_000 + i), range(orders)))
        wall = time.perf_counter() - started
        line = {
            "bench": "intake_parallel_8",
            "requests": len(parallel),
            "requests_per_s": round(len(parallel) / wall, 1),
            **_percentiles(parallel),
        }
        results.append(line)
        print(json.dumps(line), flush=True)

        total = len(sequential) + len(parallel)
        done = wait_for(
            lambda: sum(r["state"] == "invoiced" for r in order_states(state_dir).values()) == total, 600, 0.25
        )
        pipeline_wall = time.perf_counter() - started
        line = {
            "bench": "pipeline_to_invoiced",
            "orders": total,
            "finished": done,
            "seconds_after_parallel_start": round(pipeline_wall, 2),
            "orders_per_s": round(len(parallel) / pipeline_wall, 1),
        }
        results.append(line)
        print(json.dumps(line), flush=True)
    summary = {
        "summary": True,
        "orders": total,
        "intake_p95_ms": results[1]["p95_ms"],
        "intake_p50_ms": statistics.median([results[0]["p50_ms"], results[1]["p50_ms"]]),
        "pipeline_orders_per_s": results[2]["orders_per_s"],
        "all_invoiced": done,
    }
    print(json.dumps(summary), flush=True)
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(main())
