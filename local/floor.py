"""The floor for `make bench`: a minimal durable webhook receiver with only the standard library
(threads, HMAC, JSON, one SQLite insert with synchronous=FULL). The host's intake is measured against it.

Written by hand on purpose: it is the yardstick, so it must be the least a durable receiver can do.
`python -m local.floor PORT DB_PATH SECRET` serves until SIGTERM.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import signal
import sqlite3
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_local = threading.local()


def make_server(port: int, db_path: Path, secret: str) -> ThreadingHTTPServer:
    with sqlite3.connect(db_path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS events (key TEXT PRIMARY KEY, body TEXT NOT NULL)")
    key = secret.encode()

    def connection() -> sqlite3.Connection:
        if not hasattr(_local, "db"):
            db = sqlite3.connect(db_path, timeout=30, isolation_level=None)
            db.execute("PRAGMA synchronous=FULL")
            _local.db = db
        current: sqlite3.Connection = _local.db
        return current

    class Receiver(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            expected = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()
            if not hmac.compare_digest(expected, self.headers.get("X-WC-Webhook-Signature", "")):
                return self._answer(401)
            try:
                order: dict[str, Any] = json.loads(body)
                event_key = f"{order['id']}:{order.get('date_modified_gmt', '')}"
            except (ValueError, KeyError, TypeError):
                return self._answer(400)
            inserted = connection().execute(
                "INSERT OR IGNORE INTO events (key, body) VALUES (?, ?)", (event_key, body.decode())
            )
            self._answer(202 if inserted.rowcount else 200)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    server.daemon_threads = True
    server.request_queue_size = 128
    return server


def main(argv: list[str]) -> int:
    port, db_path, secret = int(argv[0]), Path(argv[1]), argv[2]
    server = make_server(port, db_path, secret)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
