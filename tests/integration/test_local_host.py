"""The local host drives a real FunctionApp: HTTP over 127.0.0.1, queue triggers fed from the SQLite bus
(retries, backoff, dead-letter, sessions, lock renewal), timers, and recovery after kill -9."""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path

import pytest
import requests

from local.host import RunningHost, start_host
from local.http_functions import compile_route
from local.queues import backoff_delay
from local.settings import load_local_settings
from local.timers import next_occurrence
from shared.adapters.sqlite_bus import MAX_DELIVERY_COUNT_EXCEEDED, SqliteBus, bus_path
from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.fixtures.host_app.function_app"


def calls(records: Path, function: str) -> list[sqlite3.Row]:
    if not records.exists():
        return []
    with closing(sqlite3.connect(records, timeout=30)) as db:
        db.row_factory = sqlite3.Row
        try:
            return db.execute("SELECT * FROM calls WHERE function = ? ORDER BY rowid", (function,)).fetchall()
        except sqlite3.OperationalError:  # table not created yet
            return []


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    base = tmp_path_factory.mktemp("host")
    with pytest.MonkeyPatch.context() as env:
        for name, value in {
            "LOCAL_STATE_DIR": str(base / "state"),
            "STORES_DIR": str(base / "stores"),
            "PORT": "0",
            "HOST_APP_RECORDS": str(base / "records.db"),
            "HOST_APP_SIDE_EFFECT_FILE": str(base / "side-effects.txt"),
            "HostTestEventsQueue": "order-events",
            "HostTestTimerSchedule": "*/1 * * * * *",
            "LOCAL_BUS_LOCK_SECONDS": "1.0",
            "LOCAL_BUS_MAX_DELIVERY": "3",
            "LOCAL_BUS_BACKOFF_BASE": "0.3",
            "LOCAL_BUS_BACKOFF_CAP": "2.0",
            "LOCAL_BUS_POLL_SECONDS": "0.05",
            "LOCAL_BUS_CONCURRENCY": "4",
        }.items():
            env.setenv(name, value)
        # root=base: no local.settings.json or host.json of the repo leaks into this test process.
        running = start_host(0, app_module=APP, root=base)
        try:
            yield running
        finally:
            running.stop(timeout=10)


@pytest.fixture
def records(host: RunningHost) -> Path:
    return Path(os.environ["HOST_APP_RECORDS"])


@pytest.fixture
def sender(host: RunningHost) -> Iterator[SqliteBus]:
    bus = SqliteBus(bus_path(host.state_dir))
    yield bus
    bus.close()


# -- HTTP -------------------------------------------------------------------------------------------------


def test_route_params_query_and_response_headers_reach_the_client(host: RunningHost) -> None:
    response = requests.get(f"{host.url}/api/orders/demo-woo/1001?include=timeline", timeout=10)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["X-Order-State"] == "invoiced"
    assert response.json() == {
        "store_id": "demo-woo",
        "order_id": "1001",
        "include": "timeline",
        "method": "GET",
        "url": f"{host.url}/api/orders/demo-woo/1001?include=timeline",
    }


def test_literal_route_wins_over_parameter_route_and_post_body_arrives(host: RunningHost) -> None:
    response = requests.post(
        f"{host.url}/api/orders/demo-woo/1001/retry",
        json={"reason": "ERP back online"},
        headers={"X-WC-Webhook-Signature": "c2lnbmF0dXJl"},
        timeout=10,
    )

    assert response.status_code == 202
    assert response.json() == {
        "order_id": "1001",
        "reason": "ERP back online",
        "signature": "c2lnbmF0dXJl",
        "function": "retry_order",
    }


def test_chunked_request_body_is_read_whole(host: RunningHost) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"reason": '
        yield b'"ERP back online"}'

    response = requests.post(f"{host.url}/api/orders/demo-woo/1001/retry", data=chunks(), timeout=10)

    assert response.status_code == 202
    assert response.json()["reason"] == "ERP back online"


def test_plain_text_response_gets_text_content_type(host: RunningHost) -> None:
    response = requests.get(f"{host.url}/api/health", timeout=10)

    assert (response.status_code, response.text) == (200, "ok")
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize("path", ["/api/nowhere", "/api/orders/demo-woo", "/orders/demo-woo/1001", "/"])
def test_unknown_route_is_404_problem(host: RunningHost, path: str) -> None:
    response = requests.get(f"{host.url}{path}", timeout=10)

    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_wrong_method_is_405_with_allow(host: RunningHost) -> None:
    response = requests.delete(f"{host.url}/api/orders/demo-woo/1001", timeout=10)

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"


def test_function_exception_is_500_problem_without_details(host: RunningHost) -> None:
    response = requests.get(f"{host.url}/api/boom", timeout=10)

    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert response.json()["title"] == "Internal Server Error"


def test_route_templates_follow_aspnet_syntax() -> None:
    pattern, _ = compile_route("orders/{id:int}/{*rest}")
    assert pattern.match("orders/42/lines/3")["rest"] == "lines/3"  # type: ignore[index]
    assert pattern.match("orders/abc/lines") is None
    optional, _ = compile_route("stores/{store_id}/sku-map/{format?}")
    assert optional.match("stores/demo-woo/sku-map")["format"] is None  # type: ignore[index]
    assert optional.match("STORES/demo-woo/SKU-MAP/csv")["format"] == "csv"  # type: ignore[index]


def raw_exchange(port: int, data: bytes, *, finish: bool = True, timeout: float = 20.0) -> bytes:
    """Send bytes exactly as given on a fresh connection and read until the host closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        raw.sendall(data)
        if finish:
            raw.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    return answer


def status_and_body(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, body


@contextmanager
def host_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **settings: str) -> Iterator[RunningHost]:
    """A second host of the test app, with its own state and the given settings."""
    for name, value in {
        "LOCAL_STATE_DIR": str(tmp_path / "state"),
        "HOST_APP_RECORDS": str(tmp_path / "records.db"),
        "PORT": "0",
        "LOCAL_TIMERS": "off",
        "HostTestEventsQueue": "order-events",
        "HostTestTimerSchedule": "0 0 * * * *",
        **settings,
    }.items():
        monkeypatch.setenv(name, value)
    running = start_host(0, app_module=APP, root=tmp_path)
    try:
        yield running
    finally:
        running.stop(timeout=10)


@pytest.mark.parametrize("host_name", ["127.0.0.1", "localhost", "LOCALHOST", "[::1]", "localhost:7071", "[::1]:80"])
def test_loopback_host_names_are_served(host: RunningHost, host_name: str) -> None:
    response = requests.get(f"{host.url}/api/health", headers={"Host": host_name}, timeout=10)

    assert (response.status_code, response.text) == (200, "ok")


@pytest.mark.parametrize(
    "host_name", ["evil.example", "evil.example:7071", "127.0.0.1.evil.example", "192.168.1.20:7071", "[::1", "a/b"]
)
def test_other_host_names_are_refused_as_dns_rebinding(host: RunningHost, host_name: str) -> None:
    # A page on evil.example whose name was made to resolve to 127.0.0.1 still sends its own Host.
    response = requests.get(f"{host.url}/api/orders/demo-woo/1001", headers={"Host": host_name}, timeout=10)

    assert response.status_code == 421
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 421


def test_request_without_host_header_is_400_problem(host: RunningHost) -> None:
    status, headers, body = status_and_body(raw_exchange(host.port, b"GET /api/health HTTP/1.1\r\n\r\n"))

    assert status == 400
    assert headers["content-type"] == "application/problem+json"
    assert "Host" in json.loads(body)["detail"]


def test_allowed_hosts_setting_admits_more_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with host_with(tmp_path, monkeypatch, LOCAL_ALLOWED_HOSTS="o2c.test, laptop.lan") as running:
        named = requests.get(f"{running.url}/api/health", headers={"Host": "laptop.lan:7071"}, timeout=10)
        other = requests.get(f"{running.url}/api/health", headers={"Host": "evil.example"}, timeout=10)

    assert named.status_code == 200
    assert other.status_code == 421


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "https://127.0.0.1", "http://127.0.0.1:1"])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_cross_site_origin_may_not_change_state(host: RunningHost, records: Path, origin: str, method: str) -> None:
    response = requests.request(
        method,
        f"{host.url}/api/orders/demo-woo/1001/retry",
        json={"reason": "from another site"},
        headers={"Origin": origin},
        timeout=10,
    )

    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 403


def test_same_origin_and_originless_writes_reach_the_function(host: RunningHost) -> None:
    own = requests.post(
        f"{host.url}/api/orders/demo-woo/1001/retry",
        json={"reason": "from the dashboard"},
        headers={"Origin": host.url},
        timeout=10,
    )
    # Stores send webhooks without an Origin; a cross-site Origin on a read changes nothing and is served.
    store = requests.post(f"{host.url}/api/orders/demo-woo/1001/retry", json={"reason": "from a store"}, timeout=10)
    read = requests.get(f"{host.url}/api/health", headers={"Origin": "http://evil.example"}, timeout=10)

    assert (own.status_code, own.json()["reason"]) == (202, "from the dashboard")
    assert (store.status_code, store.json()["reason"]) == (202, "from a store")
    assert read.status_code == 200


def test_body_of_exactly_the_limit_is_accepted_and_one_byte_more_is_413(host: RunningHost) -> None:
    limit = 1024 * 1024
    padding = b'{"reason": "' + b"x" * (limit - len(b'{"reason": ""}')) + b'"}'
    assert len(padding) == limit
    accepted = requests.post(f"{host.url}/api/orders/demo-woo/1001/retry", data=padding, timeout=30)
    refused = requests.post(f"{host.url}/api/orders/demo-woo/1001/retry", data=padding + b" ", timeout=30)

    assert accepted.status_code == 202
    assert refused.status_code == 413
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json()["status"] == 413


def test_declared_oversized_body_is_refused_413_before_it_is_sent(host: RunningHost) -> None:
    # 95 MB declared, 64 KiB sent, and the client waits: the old host read the whole body first and never
    # answered such a client. The answer must come from the Content-Length alone.
    headers = (
        f"POST /api/orders/demo-woo/1001/retry HTTP/1.1\r\nHost: 127.0.0.1:{host.port}\r\n"
        "Content-Type: application/json\r\nContent-Length: 95000000\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", host.port), timeout=20) as raw:
        raw.sendall(headers + b"x" * 65536)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer) < answer.index(b"\r\n\r\n") + 10:
            chunk = raw.recv(65536)
            if not chunk:
                break
            answer += chunk
        status, answer_headers, body = status_and_body(answer)

    assert status == 413
    assert answer_headers["content-type"] == "application/problem+json"
    assert json.loads(body)["detail"] == "request bodies are limited to 1048576 bytes"


def test_chunked_body_over_the_limit_is_413_problem(host: RunningHost) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"x" * 65536

    response = requests.post(f"{host.url}/api/orders/demo-woo/1001/retry", data=chunks(), timeout=30)

    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    "sent",
    [
        b"POST /api/orders/demo-woo/1001/retry HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{",
        b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half-A-Hea",
    ],
    ids=["body-stalls", "header-stalls"],
)
def test_client_that_stalls_is_cut_off_after_the_read_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sent: bytes
) -> None:
    with host_with(tmp_path, monkeypatch, LOCAL_HTTP_READ_TIMEOUT="1") as running:
        # The client's own timeout is far longer: the host, not the client, ends the connection.
        try:
            answer = raw_exchange(running.port, sent, finish=False, timeout=60)
        except ConnectionResetError:  # closed by the host too, only more abruptly
            answer = b""

    assert answer == b""


def test_open_connections_take_no_worker_thread_each(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with host_with(tmp_path, monkeypatch, LOCAL_HTTP_THREADS="2") as running:
        before = threading.active_count()
        slow = [socket.create_connection(("127.0.0.1", running.port), timeout=10) for _ in range(30)]
        try:
            for connection in slow:  # a slow body: headers, then a trickle that has not ended
                connection.sendall(
                    b"POST /api/orders/demo-woo/1001/retry HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 50\r\n\r\n{"
                )
            health = requests.get(f"{running.url}/api/health", timeout=10)
            during = threading.active_count()
        finally:
            for connection in slow:
                connection.close()

    assert health.status_code == 200, "slow senders must not starve the workers"
    assert during - before < 5, f"{during - before} threads for 30 open connections"


def test_keep_alive_connection_serves_several_requests_and_is_closed_by_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with host_with(tmp_path, monkeypatch) as running:
        connection = socket.create_connection(("127.0.0.1", running.port), timeout=20)
        request = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        answers = []
        for _ in range(2):
            connection.sendall(request)
            answer = b""
            while not answer.endswith(b"ok"):
                answer += connection.recv(65536)
            answers.append(answer)
        running.stop(timeout=10)
        after_stop = connection.recv(65536)
        connection.close()

    assert all(answer.startswith(b"HTTP/1.1 200 ") for answer in answers)
    assert after_stop == b"", "an idle keep-alive connection must not outlive stop()"


# -- queues -----------------------------------------------------------------------------------------------


def test_queue_function_gets_a_real_message_and_completes_it(
    host: RunningHost, sender: SqliteBus, records: Path
) -> None:
    sender.send(
        "order-events",
        json.dumps({"order_id": "1001", "sku": "BLUE-MUG-350ML"}).encode(),
        message_id="demo-woo:1001:created",
        session_id="demo-woo/1001",
        properties={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
    )

    [call] = wait_until(
        lambda: [c for c in calls(records, "record_event") if c["message_id"] == "demo-woo:1001:created"]
    )
    assert call["session_id"] == "demo-woo/1001"
    assert call["delivery_count"] == 1
    assert json.loads(call["body"])["sku"] == "BLUE-MUG-350ML"
    wait_until(lambda: sender.stats("order-events").locked == 0 and sender.stats("order-events").active == 0)


def test_failing_twice_then_succeeding_is_delivered_three_times_with_backoff(
    host: RunningHost, sender: SqliteBus, records: Path
) -> None:
    sender.send("flaky-events", b'{"order_id": "1002"}', message_id="demo-woo:1002:created")

    attempts = wait_until(lambda: (rows := calls(records, "flaky")) and len(rows) >= 3 and rows, timeout=30)
    wait_until(lambda: sender.stats("flaky-events") == sender.stats("flaky-events").__class__(0, 0, 0, 0, 0.0))

    assert [row["delivery_count"] for row in attempts] == [1, 2, 3]
    first_gap = attempts[1]["started"] - attempts[0]["started"]
    second_gap = attempts[2]["started"] - attempts[1]["started"]
    assert first_gap >= 0.3 * 0.8 - 0.01, "backoff after delivery 1 is base * ~1"
    assert second_gap >= 0.6 * 0.8 - 0.01, "backoff after delivery 2 doubles"
    time.sleep(0.5)
    assert len(calls(records, "flaky")) == 3, "a completed message is not delivered again"


def test_always_failing_message_is_dead_lettered_after_max_deliveries(
    host: RunningHost, sender: SqliteBus, records: Path
) -> None:
    sender.send("poison-events", b'{"order_id": "1003"}', message_id="demo-woo:1003:created")

    [dead] = wait_until(lambda: sender.list_dead_letters("poison-events"), timeout=30)

    assert dead.message_id == "demo-woo:1003:created"
    assert dead.reason == MAX_DELIVERY_COUNT_EXCEEDED
    assert [row["delivery_count"] for row in calls(records, "poison")] == [1, 2, 3]


def test_sessions_run_in_order_one_at_a_time_and_in_parallel_with_each_other(
    host: RunningHost, sender: SqliteBus, records: Path
) -> None:
    sessions = [f"demo-shop/55{n}" for n in range(3)]
    for step in range(4):
        for session in sessions:
            sender.send(
                "order-events",
                json.dumps({"session": session, "step": step}).encode(),
                message_id=f"{session}:{step}",
                session_id=session,
                properties={"sleep": "0.15"},
            )

    rows = wait_until(
        lambda: (
            (r := [c for c in calls(records, "record_event") if c["session_id"] in sessions]) and len(r) == 12 and r
        ),
        timeout=30,
    )

    for session in sessions:
        mine = [row for row in rows if row["session_id"] == session]
        assert [json.loads(row["body"])["step"] for row in mine] == [0, 1, 2, 3]
        for earlier, later in itertools.pairwise(mine):
            assert later["started"] >= earlier["ended"], "two messages of one session overlapped"
    overlapping = any(
        a["session_id"] != b["session_id"] and a["started"] < b["ended"] and b["started"] < a["ended"]
        for a in rows
        for b in rows
    )
    assert overlapping, "different sessions should run in parallel"


def test_lock_is_renewed_while_a_slow_function_runs(host: RunningHost, sender: SqliteBus, records: Path) -> None:
    # The lock lasts 1 s; the function takes 2.5 s (a slow ERP). Without renewal it would run twice.
    sender.send(
        "order-events",
        b'{"order_id": "1004"}',
        message_id="slow-1004",
        session_id="demo-woo/1004",
        properties={"sleep": "2.5"},
    )

    wait_until(lambda: [c for c in calls(records, "record_event") if c["message_id"] == "slow-1004"], timeout=30)
    wait_until(lambda: sender.stats("order-events").locked == 0)
    time.sleep(1.5)

    assert [c["delivery_count"] for c in calls(records, "record_event") if c["message_id"] == "slow-1004"] == [1]


def test_stop_lets_a_running_function_finish_and_settle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HOST_APP_RECORDS", str(tmp_path / "records.db"))
    monkeypatch.setenv("PORT", "0")
    monkeypatch.setenv("LOCAL_TIMERS", "off")
    running = start_host(0, app_module=APP, root=tmp_path)
    running.bus.send(
        "order-events",
        b'{"order_id": "1005"}',
        message_id="stop-1005",
        session_id="demo-woo/1005",
        properties={"sleep": "1.0"},
    )
    wait_until(lambda: running.bus.stats("order-events").locked == 1)

    running.stop(timeout=10)

    probe = SqliteBus(bus_path(tmp_path / "state"))
    assert probe.stats("order-events").locked == probe.stats("order-events").active == 0
    assert [c["message_id"] for c in calls(tmp_path / "records.db", "record_event")] == ["stop-1005"]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{running.url}/api/health", timeout=2)
    probe.close()


# -- timers and settings ----------------------------------------------------------------------------------


def test_timer_runs_on_its_ncrontab_schedule(host: RunningHost, records: Path) -> None:
    runs = wait_until(lambda: (rows := calls(records, "sweep")) and len(rows) >= 2 and rows, timeout=10)

    payload = json.loads(runs[-1]["body"])
    assert isinstance(payload["past_due"], bool)
    assert datetime.fromisoformat(payload["next"]).timestamp() > runs[-1]["started"]


def test_timer_fires_each_occurrence_once(host: RunningHost, records: Path) -> None:
    before = len(calls(records, "sweep"))
    time.sleep(3.2)

    runs = [row["started"] for row in calls(records, "sweep")[before:]]

    assert 2 <= len(runs) <= 4
    assert all(later - earlier > 0.5 for earlier, later in itertools.pairwise(runs))


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        ("0 */5 * * * *", "2025-03-14T09:31:07+00:00", "2025-03-14T09:35:00+00:00"),
        ("30 0 2 * * *", "2025-03-14T09:31:07+00:00", "2025-03-15T02:00:30+00:00"),
        ("0 0 9 * * 0", "2025-03-14T09:31:07+00:00", "2025-03-16T09:00:00+00:00"),  # 0 = Sunday in NCRONTAB
        ("00:05:00", "2025-03-14T09:31:07+00:00", "2025-03-14T09:36:07+00:00"),  # TimeSpan form
    ],
)
def test_ncrontab_schedules_have_seconds_first(schedule: str, after: str, expected: str) -> None:
    assert next_occurrence(schedule, datetime.fromisoformat(after)) == datetime.fromisoformat(expected)


def test_five_field_cron_is_refused_with_a_hint() -> None:
    with pytest.raises(ValueError, match="six fields"):
        next_occurrence("*/5 * * * *", datetime.fromisoformat("2025-03-14T09:31:07+00:00"))


def test_admin_endpoint_runs_a_timer_now(host: RunningHost, records: Path) -> None:
    before = len(calls(records, "sweep"))

    response = requests.post(f"{host.url}/admin/functions/sweep", json={"input": ""}, timeout=10)

    assert response.status_code == 202
    wait_until(lambda: len(calls(records, "sweep")) > before, timeout=5)


def test_local_settings_fill_the_environment_without_overriding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "local.settings.example.json").write_text(json.dumps({"Values": {"OrderEventsQueue": "example"}}))
    (tmp_path / "local.settings.json").write_text(
        json.dumps(
            {"IsEncrypted": False, "Values": {"OrderEventsQueue": "order-events", "DEMO_WOO_SECRET": "from-file"}}
        )
    )
    queue_setting = "OrderEventsQueue"  # Azure app-setting names are mixed case
    monkeypatch.delenv(queue_setting, raising=False)  # also removes what load_local_settings sets, on teardown
    monkeypatch.setenv("DEMO_WOO_SECRET", "from-environment")

    assert load_local_settings(tmp_path) == tmp_path / "local.settings.json"
    assert os.environ[queue_setting] == "order-events"
    assert os.environ["DEMO_WOO_SECRET"] == "from-environment"


def test_backoff_doubles_per_delivery_with_jitter_and_cap() -> None:
    delays = [backoff_delay(count, base=2.0, cap=60.0) for count in (1, 2, 3, 10)]

    assert 1.6 <= delays[0] <= 2.4
    assert 3.2 <= delays[1] <= 4.8
    assert 6.4 <= delays[2] <= 9.6
    assert 48.0 <= delays[3] <= 72.0


# -- a real process killed mid-way ------------------------------------------------------------------------


class HostProcess:
    def __init__(self, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def wait_ready(self) -> None:
        wait_until(lambda: any(line.startswith("Dashboard: http://127.0.0.1:") for line in self.lines), timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.mark.slow
def test_kill_9_mid_way_then_restart_applies_every_side_effect_exactly_once(tmp_path: Path) -> None:
    count = 40
    records = tmp_path / "records.db"
    side_effects = tmp_path / "side-effects.txt"
    env = {
        **os.environ,
        "LOCAL_FUNCTION_APP": APP,
        "LOCAL_STATE_DIR": str(tmp_path / "state"),
        "STORES_DIR": str(tmp_path / "stores"),
        "PORT": "0",
        "LOCAL_TIMERS": "off",
        "HOST_APP_RECORDS": str(records),
        "HOST_APP_SIDE_EFFECT_FILE": str(side_effects),
        "HOST_APP_SIDE_EFFECT_SECONDS": "0.1",
        "HostTestEventsQueue": "order-events",
        "HostTestTimerSchedule": "0 0 * * * *",
        "LOCAL_BUS_LOCK_SECONDS": "1.0",
        "LOCAL_BUS_BACKOFF_BASE": "0.1",
        "LOCAL_BUS_POLL_SECONDS": "0.05",
        "LOCAL_BUS_CONCURRENCY": "4",
        "PYTHONUNBUFFERED": "1",
    }
    bus = SqliteBus(bus_path(tmp_path / "state"))
    for number in range(count):
        bus.send(
            "side-effects",
            json.dumps({"order_id": str(3000 + number), "sku": "BLUE-MUG-350ML"}).encode(),
            message_id=f"demo-woo:{3000 + number}:stock",
        )

    def applied() -> list[str]:
        return side_effects.read_text().splitlines() if side_effects.exists() else []

    first = HostProcess(env)
    try:
        first.wait_ready()
        wait_until(lambda: len(applied()) >= count // 4, timeout=30, interval=0.01)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
    finally:
        first.stop()
    assert len(applied()) < count, "the kill should land mid-way"

    restarted = time.time()
    second = HostProcess(env)
    try:
        second.wait_ready()
        wait_until(lambda: bus.stats("side-effects").active == 0 and bus.stats("side-effects").locked == 0, timeout=60)
        second.process.send_signal(signal.SIGTERM)
        assert second.process.wait(30) == 0
    finally:
        second.stop()

    lines = applied()
    assert sorted(lines) == sorted(f"demo-woo:{3000 + number}:stock" for number in range(count))
    assert bus.list_dead_letters("side-effects") == []
    attempts = calls(records, "apply_side_effect")
    redelivered = [row for row in attempts if row["delivery_count"] > 1]
    assert redelivered, "messages in flight at the kill should have been delivered again"
    after_restart = [row["message_id"] for row in attempts if row["started"] >= restarted]
    assert len(after_restart) == len(set(after_restart)), "the live host delivered a message twice"
    assert any(line.startswith("Stopped.") for line in second.lines)
    bus.close()
