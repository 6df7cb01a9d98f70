"""`make bench`: figures for the real local host over loopback, as JSON lines, the last one a summary.

- floor: the same load on a minimal durable receiver (local/floor.py), run first, as the yardstick;
- intake: bursts of signed WooCommerce orders from 8 and 32 concurrent senders, ratio to the floor;
- steady: 100 webhooks/s while the pipeline drains, latency from each request's scheduled send time;
- pipeline: first webhook to last order invoiced (UBL outbox), orders per second;
- oversized: 8 senders declaring 95 MB bodies at once: time to the 413s and the host's peak memory.
BENCH_BURST (default 2000) sizes each burst, BENCH_RATE (100) and BENCH_STEADY_SECONDS (20) the steady
run; BENCH_HOST_ROOT measures another checkout's host (before/after). Figures depend on this machine's
load: compare runs, do not assert on them.
"""

from __future__ import annotations

import json
import os
import select
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from local.harness import ROOT, SECRETS, HostProcess, free_port, running_host, woocommerce_order
from shared.channels.common import sign

OVERSIZED_BYTES = 95 * 1000 * 1000


def _percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {"p50_ms": pick(0.50), "p95_ms": pick(0.95), "p99_ms": pick(0.99), "max_ms": round(ordered[-1] * 1000, 2)}


def _post(base: str, body: bytes, headers: dict[str, str]) -> str:
    """One signed order on a fresh connection, as a store sends it: "202" | other status | "connection_error"."""
    try:
        answer = requests.post(f"{base}/webhooks/woocommerce/demo-woo", data=body, headers=headers, timeout=30)
    except requests.ConnectionError:
        return "connection_error"
    except requests.Timeout:
        return "timeout"
    return str(answer.status_code)


def _signed(order_id: int) -> tuple[bytes, dict[str, str]]:
    """Body and headers made before the clock starts, so the load generator spends its time sending."""
    body = woocommerce_order(order_id)
    headers = {
        "Content-Type": "application/json",
        "X-WC-Webhook-Topic": "order.created",
        "X-WC-Webhook-Signature": sign(body, SECRETS["woocommerce"]),
    }
    return body, headers


def _burst_send(base: str, order: tuple[bytes, dict[str, str]]) -> tuple[str, float]:
    started = time.perf_counter()
    status = _post(base, *order)
    return status, time.perf_counter() - started


def _statuses(answers: list[tuple[str, float]]) -> dict[str, int]:
    statuses: dict[str, int] = {}
    for status, _ in answers:
        statuses[status] = statuses.get(status, 0) + 1
    return statuses


def burst(base: str, senders: int, orders: int, first_id: int, name: str = "intake") -> dict[str, Any]:
    signed = [_signed(first_id + i) for i in range(orders)]
    started = time.perf_counter()
    with ThreadPoolExecutor(senders) as pool:
        answers = list(pool.map(lambda order: _burst_send(base, order), signed))
    wall = time.perf_counter() - started
    statuses = _statuses(answers)
    return {
        "bench": f"{name}_burst_{senders}",
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


def steady(base: str, rate: float, seconds: float, first_id: int) -> dict[str, Any]:
    """Open loop: request i is due at start + i/rate whatever the answers before it; its latency counts
    from that time, so a host that falls behind shows it (no coordinated omission)."""
    count = int(rate * seconds)
    signed = [_signed(first_id + i) for i in range(count)]
    start = time.perf_counter() + 0.5

    def send(index: int) -> tuple[str, float]:
        due = start + index / rate
        time.sleep(max(0.0, due - time.perf_counter()))
        status = _post(base, *signed[index])
        return status, time.perf_counter() - due

    with ThreadPoolExecutor(128) as pool:
        answers = list(pool.map(send, range(count)))
    return {
        "bench": f"steady_{rate:g}_per_s",
        "requests": count,
        "seconds": seconds,
        "connection_errors": sum(status in ("connection_error", "timeout") for status, _ in answers),
        "statuses": _statuses(answers),
        **_percentiles([elapsed for _, elapsed in answers]),
    }


def invoiced(state_dir: Path) -> int:
    """Orders whose invoice is issued, counted in SQL: decoding every record each poll would load the host."""
    path = state_dir / "state.db"
    if not path.exists():
        return 0
    with sqlite3.connect(path, timeout=30) as db:
        row = db.execute("SELECT count(*) FROM orders WHERE json_extract(record, '$.state') = 'invoiced'").fetchone()
    return int(row[0])


def floor(work: Path, senders: list[int], orders: int) -> list[dict[str, Any]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "local.floor", str(port), str(work / "floor.db"), SECRETS["woocommerce"]], cwd=ROOT
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        base = f"http://127.0.0.1:{port}/api"
        return [burst(base, count, orders, 1_000_000 * count, "floor") for count in senders]
    finally:
        process.terminate()
        process.wait(10)


def main() -> int:
    orders = int(os.environ.get("BENCH_BURST", "2000"))
    rate = float(os.environ.get("BENCH_RATE", "100"))
    seconds = float(os.environ.get("BENCH_STEADY_SECONDS", "20"))
    root = Path(os.environ.get("BENCH_HOST_ROOT") or ROOT).resolve()
    work = Path(tempfile.mkdtemp(prefix="o2c-bench-"))
    results: dict[str, dict[str, Any]] = {}

    def emit(line: dict[str, Any]) -> None:
        results[line["bench"]] = line
        print(json.dumps(line), flush=True)

    for line in floor(work, [8, 32], orders):
        emit(line)
    state = work / "state"
    with running_host(state, root=root) as host:
        started = time.perf_counter()
        for senders in (8, 32):
            line = burst(host.base, senders, orders, 100_000 * senders)
            line["ratio_to_floor"] = round(
                line["requests_per_s"] / results[f"floor_burst_{senders}"]["requests_per_s"], 2
            )
            emit(line)
        emit(steady(host.base, rate, seconds, 10_000_000))
        total = 2 * orders + int(rate * seconds)
        done = wait_for_count(lambda: invoiced(state), total, 900)
        wall = time.perf_counter() - started
        emit(
            {
                "bench": "pipeline_to_invoiced",
                "orders": total,
                "invoiced": invoiced(state),
                "finished": done,
                "seconds_from_first_webhook": round(wall, 2),
                "orders_per_s": round(total / wall, 1),
            }
        )
        emit(oversized(host, 8))
    burst_32 = results["intake_burst_32"]
    steady_line = results[f"steady_{rate:g}_per_s"]
    summary = {
        "summary": True,
        "host_root": str(root),
        "floor_32_requests_per_s": results["floor_burst_32"]["requests_per_s"],
        "burst_32_requests_per_s": burst_32["requests_per_s"],
        "burst_32_ratio_to_floor": burst_32["ratio_to_floor"],
        "burst_32_connection_errors": burst_32["connection_errors"],
        "burst_32_p99_ms": burst_32["p99_ms"],
        "burst_8_ratio_to_floor": results["intake_burst_8"]["ratio_to_floor"],
        "steady_p99_ms": steady_line["p99_ms"],
        "steady_max_ms": steady_line["max_ms"],
        "steady_connection_errors": steady_line["connection_errors"],
        "pipeline_orders_per_s": results["pipeline_to_invoiced"]["orders_per_s"],
        "all_invoiced": done,
        "oversized_8_seconds": results["oversized_bodies_8"]["seconds_to_all_answers"],
        "oversized_8_host_peak_rss_mib": results["oversized_bodies_8"]["host_peak_rss_mib_after"],
    }
    print(json.dumps(summary), flush=True)
    return 0 if done else 1


def wait_for_count(count: Any, total: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if count() >= total:
            return True
        time.sleep(1.0)
    return bool(count() >= total)


if __name__ == "__main__":
    sys.exit(main())
