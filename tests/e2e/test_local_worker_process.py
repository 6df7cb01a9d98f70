"""`make run` (python -m local) serves HTTP in one process and runs queues and timers in a worker process:
a webhook is acknowledged even while the pipeline cannot move, the worker dies with the host, and a
clean stop ends both."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import requests

from local.harness import HostProcess, order_states, send_order, wait_for, woocommerce_order, write_stores

pytestmark = pytest.mark.slow


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def is_gone(pid: int) -> bool:
    """Gone or a zombie: a process that ended and waits only to be reaped runs no code."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def start(tmp_path: Path) -> tuple[HostProcess, int]:
    write_stores(tmp_path / "stores")
    host = HostProcess(tmp_path / "state", tmp_path / "stores", env_overrides={"LOCAL_BUS_POLL_SECONDS": "0.05"})
    host.start()
    try:
        assert host.process is not None
        pid = host.process.pid
        assert wait_for(lambda: len(children(pid)) == 1, 20)
        (worker,) = children(pid)
        # Between fork and exec the child still shows the parent's command line: wait for the exec.
        assert wait_for(lambda: b"local.worker" in Path(f"/proc/{worker}/cmdline").read_bytes(), 20)
    except BaseException:
        host.kill()  # a failed start must not leave a host (and its worker) running after the test
        raise
    return host, worker


def test_webhook_is_acknowledged_while_the_worker_is_frozen_and_processed_when_it_resumes(tmp_path: Path) -> None:
    host, worker = start(tmp_path)
    try:
        os.kill(worker, signal.SIGSTOP)
        try:
            with requests.Session() as http:
                assert send_order(http, host.base, "woocommerce", woocommerce_order(5100)) == 202
            # Acknowledged, and no pipeline step has run: validation is what creates the order record.
            assert ("demo-woo", "5100") not in order_states(host.state_dir)
        finally:
            os.kill(worker, signal.SIGCONT)
        assert wait_for(
            lambda: order_states(host.state_dir).get(("demo-woo", "5100"), {}).get("state") == "invoiced", 60
        )
    finally:
        host.stop()


def test_worker_process_dies_with_a_killed_host(tmp_path: Path) -> None:
    host, worker = start(tmp_path)
    host.kill()
    assert wait_for(lambda: is_gone(worker), 10)


def test_sigterm_stops_host_and_worker_cleanly(tmp_path: Path) -> None:
    host, worker = start(tmp_path)
    host.stop()
    assert host.process is not None and host.process.returncode == 0
    assert wait_for(lambda: is_gone(worker), 10)
