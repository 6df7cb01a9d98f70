"""Drive the local host as a separate process: start, kill, send signed store orders, read state.

Used by the end-to-end tests, `make bench` and `make chaos`, so that all three measure the real host
(`python -m local`) over real HTTP on loopback.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from shared.channels.common import sign

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
SECRETS = {"woocommerce": "wc-harness-secret", "shopify": "shpss_harness_secret"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_stores(folder: Path) -> None:
    """Two stores like the demo ones, with known secrets, for a harness run."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, channel in (("demo-woo", "woocommerce"), ("demo-shopify", "shopify")):
        text = (ROOT / "config" / "stores" / f"{name}.yaml").read_text(encoding="utf-8")
        text = text.replace(
            f"env:{'DEMO_WOO_SECRET' if channel == 'woocommerce' else 'DEMO_SHOPIFY_SECRET'}", SECRETS[channel]
        )
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")


@dataclass
class HostProcess:
    """One `python -m local` process on a free loopback port, with its own state and stores."""

    state_dir: Path
    stores_dir: Path
    port: int = field(default_factory=free_port)
    env_overrides: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    root: Path = ROOT  # the checkout whose `local` runs (`make bench` may measure another one)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self, timeout: float = 30.0) -> None:
        env = dict(os.environ)
        env.update(
            {
                "PORT": str(self.port),
                "LOCAL_STATE_DIR": str(self.state_dir),
                "STORES_DIR": str(self.stores_dir),
                "LOCAL_TIMERS": "off",
                "LOG_LEVEL": "WARNING",
            }
        )
        env.update(self.env_overrides)
        self.log_path = self.state_dir.parent / f"host-{self.port}.log"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local"], cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"local host exited with {self.process.returncode}; see {self.log_path}")
            try:
                if requests.get(f"{self.base}/health", timeout=1).status_code in (200, 503):
                    return
            except requests.RequestException:
                time.sleep(0.2)
        raise TimeoutError(f"local host did not answer within {timeout} s; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL: no clean-up, as when a machine dies."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def running_host(state_dir: Path, root: Path = ROOT, **env: str) -> Iterator[HostProcess]:
    stores = state_dir.parent / "stores"
    write_stores(stores)
    host = HostProcess(state_dir, stores, env_overrides=env, root=root)
    host.start()
    try:
        yield host
    finally:
        host.stop()


def woocommerce_order(order_id: int) -> bytes:
    """The WooCommerce sample order with another id and number."""
    data = json.loads((FIXTURES / "woocommerce" / "order_created.json").read_bytes())
    data["id"] = order_id
    data["number"] = str(order_id)
    data["order_key"] = f"wc_order_{order_id}"
    return json.dumps(data).encode()


def shopify_order(order_id: int) -> bytes:
    data = json.loads((FIXTURES / "shopify" / "orders_create.json").read_bytes())
    data["id"] = order_id
    data["name"] = f"#{order_id}"
    data["order_number"] = order_id
    return json.dumps(data).encode()


def send_order(session: Any, base: str, channel: str, body: bytes, event_id: str = "") -> int:
    signature = sign(body, SECRETS[channel])
    if channel == "woocommerce":
        headers = {"X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-Signature": signature}
        store = "demo-woo"
    else:
        headers = {
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Hmac-Sha256": signature,
            "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        }
        store = "demo-shopify"
    headers["Content-Type"] = "application/json"
    response = session.post(f"{base}/webhooks/{channel}/{store}", data=body, headers=headers, timeout=30)
    return response.status_code


def order_states(state_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Read the orders straight from the state file (works while the host is dead)."""
    import sqlite3

    path = state_dir / "state.db"
    if not path.exists():
        return {}
    with sqlite3.connect(path, timeout=30) as db:
        rows = db.execute("SELECT store_id, order_id, record FROM orders").fetchall()
    return {(store, order): json.loads(record) for store, order, record in rows}


def outbox_files(state_dir: Path) -> list[Path]:
    return sorted((state_dir / "outbox").rglob("*.xml"))


def wait_for(predicate: Any, timeout: float, interval: float = 0.2) -> Any:
    """Ask `predicate` every `interval` seconds until it answers something true, for at most `timeout` seconds;
    returns that answer, or its last (false) answer when time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(interval)
    return predicate()
