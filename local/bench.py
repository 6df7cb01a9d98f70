"""`make bench`: figures for the real local host over loopback, as JSON lines, the last one a summary.

- intake: webhook latency (signed WooCommerce orders, sequential, 8 senders, then a burst of 32);
- pipeline: time from the first webhook to the last order invoiced (UBL outbox), orders per second;
- oversized: 8 senders declaring 95 MB bodies at once: time to the 413s and the host's peak memory.
BENCH_ORDERS (default 400) sizes the first run, BENCH_BURST (default 2000) the burst. Figures depend on
this machine's load: compare runs, do not assert on them.
"""

from __future__ import annotations

import json
import os
import select
import socket
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from local.harness import SECRETS, HostProcess, order_states, running_host, send_order, wait_for, woocommerce_order
from shared.channels.common import sign

OVERSIZED_BYTES = 95 * 1000 * 1000


def _percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {"p50_ms": pick(0.50), "p95_ms": pick(0.95), "p99_ms": pick(0.99), "max_ms": round(ordered[-1] * 1000, 2)}


def _timed_send(http: Any, base: str, order_id: int) -> float:
    body = woocommerce_order(order_id)
    started = time.perf_counter()
    status = send_order(http, base, "woocommerce", body)
    elapsed = time.perf_counter() - started
    if status != 202:
        raise RuntimeError(f"order {order_id}: HTTP {status}")
    return elapsed


def _burst_send(base: str, order_id: int) -> tuple[str, float]:
    """One order on a fresh connection, as a store sends it: ("202" | other status | "connection_error", s)."""
    body = woocommerce_order(order_id)
    started = time.perf_counter()
    try:
        status = str(send_order(requests, base, "woocommerce", body))
    except requests.ConnectionError:
        status = "connection_error"
    except requests.Timeout:
        status = "timeout"
    return status, time.perf_counter() - started


def burst(base: str, senders: int, orders: int, first_id: int) -> dict[str, Any]:
    started = time.perf_counter()
    with ThreadPoolExecutor(senders) as pool:
        answers = list(pool.map(lambda i: _burst_send(base, first_id + i), range(orders)))
    wall = time.perf_counter() - started
    statuses: dict[str, int] = {}
    for status, _ in answers:
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "bench": f"intake_burst_{senders}",
        "requests": orders,
        "accepted": statuses.get("202", 0),
        "connection_errors": statuses.get("connection_error", 0) + statuses.get("timeout", 0),
        "statuses": statuses,
        "requests_per_s": round(orders / wall, 1),
        **_percentiles([elapsed for _, elapsed in answers]),
    }


def _oversized_send(port: int) -> tuple[str, float]:
    """Declare a 95 MB signed-looking webhook and stream it until the host answers or it is all sent."""
    piece = b"x" * 65536
    headers = (
        "POST /api/webhooks/woocommerce/demo-woo HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {OVERSIZED_BYTES}\r\n"
        f"X-WC-Webhook-Topic: order.created\r\nX-WC-Webhook-Signature: {sign(b'', SECRETS['woocommerce'])}\r\n\r\n"
    )
    started = time.perf_counter()
    sent = 0
    answer = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=120) as raw:
            raw.sendall(headers.encode())
            while sent < OVERSIZED_BYTES:
                readable, _, _ = select.select([raw], [], [], 0)
                if readable:
                    break
                raw.sendall(piece[: OVERSIZED_BYTES - sent])
                sent += len(piece)
            while b"\r\n" not in answer and (chunk := raw.recv(65536)):
                answer += chunk
    except OSError:
        pass  # the host may close while we are still sending; what it answered is already read or lost
    if not answer:
        return "no_answer", time.perf_counter() - started
    return answer.split(b" ", 2)[1].decode(), time.perf_counter() - started


def _peak_rss_mib(pid: int) -> float:
    """VmHWM: the process's peak resident memory since it started (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def oversized(host: HostProcess, senders: int) -> dict[str, Any]:
    assert host.process is not None
    before = _peak_rss_mib(host.process.pid)
    started = time.perf_counter()
    with ThreadPoolExecutor(senders) as pool:
        answers = list(pool.map(lambda _: _oversized_send(host.port), range(senders)))
    wall = time.perf_counter() - started
    return {
        "bench": f"oversized_bodies_{senders}",
        "declared_bytes_each": OVERSIZED_BYTES,
        "statuses": sorted(status for status, _ in answers),
        "seconds_to_all_answers": round(wall, 2),
        "max_ms": round(max(elapsed for _, elapsed in answers) * 1000, 2),
        "host_peak_rss_mib_before": before,
        "host_peak_rss_mib_after": _peak_rss_mib(host.process.pid),
    }


def main() -> int:
    orders = int(os.environ.get("BENCH_ORDERS", "400"))
    burst_orders = int(os.environ.get("BENCH_BURST", "2000"))
    work = Path(tempfile.mkdtemp(prefix="o2c-bench-"))
    results: dict[str, dict[str, Any]] = {}

    def emit(line: dict[str, Any]) -> None:
        results[line["bench"]] = line
        print(json.dumps(line), flush=True)

    with running_host(work / "state") as host, requests.Session() as http:
        sequential = [_timed_send(http, host.base, 100_000 + i) for i in range(orders // 4)]
        emit({"bench": "intake_sequential", "requests": len(sequential), **_percentiles(sequential)})

        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            parallel = list(pool.map(lambda i: _timed_send(requests, host.base, 200_000 + i), range(orders)))
        wall = time.perf_counter() - started
        emit(
            {
                "bench": "intake_parallel_8",
                "requests": len(parallel),
                "requests_per_s": round(len(parallel) / wall, 1),
                **_percentiles(parallel),
            }
        )

        total = len(sequential) + len(parallel)
        done = wait_for(
            lambda: sum(r["state"] == "invoiced" for r in order_states(work / "state").values()) == total, 600, 0.25
        )
        pipeline_wall = time.perf_counter() - started
        emit(
            {
                "bench": "pipeline_to_invoiced",
                "orders": total,
                "finished": done,
                "seconds_after_parallel_start": round(pipeline_wall, 2),
                "orders_per_s": round(len(parallel) / pipeline_wall, 1),
            }
        )
    # A fresh host for the burst, so that its figures do not depend on the work left from the run above.
    with running_host(work / "burst-state") as host:
        emit(oversized(host, 8))
        emit(burst(host.base, 32, burst_orders, 300_000))
    burst_line = results["intake_burst_32"]
    summary = {
        "summary": True,
        "orders": total,
        "intake_p95_ms": results["intake_parallel_8"]["p95_ms"],
        "intake_p50_ms": statistics.median(
            [results["intake_sequential"]["p50_ms"], results["intake_parallel_8"]["p50_ms"]]
        ),
        "pipeline_orders_per_s": results["pipeline_to_invoiced"]["orders_per_s"],
        "all_invoiced": done,
        "burst_32_connection_errors": burst_line["connection_errors"],
        "burst_32_requests_per_s": burst_line["requests_per_s"],
        "burst_32_p99_ms": burst_line["p99_ms"],
        "burst_32_max_ms": burst_line["max_ms"],
        "oversized_8_seconds": results["oversized_bodies_8"]["seconds_to_all_answers"],
        "oversized_8_host_peak_rss_mib": results["oversized_bodies_8"]["host_peak_rss_mib_after"],
    }
    print(json.dumps(summary), flush=True)
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(main())
