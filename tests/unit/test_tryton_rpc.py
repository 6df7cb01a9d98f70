"""Tryton JSON-RPC client against a stub HTTP server on 127.0.0.1: retries, refusals, timeouts and limits."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shared.errors import PermanentError, RetryableError
from shared.stores import TrytonSettings
from shared.targets.tryton.limits import RetryPolicy, TokenBucket
from shared.targets.tryton.rpc import TrytonRpc, UncertainOutcome


class StubTryton:
    """Answers login and preferences itself; every other call takes the next scripted action."""

    def __init__(self) -> None:
        self.script: list[tuple[str, Any]] = []
        self.calls: list[str] = []
        self.bodies: list[dict[str, Any]] = []  # every model call's request, for tests that check its params
        self.logins = 0
        self.login_statuses: list[int] = []  # HTTP statuses the next logins answer before one succeeds
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                method = body["method"]
                with stub.lock:
                    stub.calls.append(method)
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                try:
                    self._answer(body, method)
                finally:
                    with stub.lock:
                        stub.in_flight -= 1

            def _answer(self, body: dict[str, Any], method: str) -> None:
                if method == "common.db.login":
                    if stub.login_statuses:
                        self.send_response(stub.login_statuses.pop(0))
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return None
                    stub.logins += 1
                    return self._json({"id": body["id"], "result": [1, f"token{stub.logins}", None]})
                if method == "model.res.user.get_preferences":
                    return self._json({"id": body["id"], "result": {"company": 1, "language": "es"}})
                stub.bodies.append(body)
                with stub.lock:
                    kind, value = stub.script.pop(0) if stub.script else ("result", True)
                if kind == "sleep":
                    time.sleep(value)
                    return self._json({"id": body["id"], "result": "late"})
                if kind == "status":
                    code, headers = value
                    self.send_response(code)
                    for name, header in headers.items():
                        self.send_header(name, header)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                return self._json({"id": body["id"], kind: value})

            def _json(self, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def model_calls(self) -> list[str]:
        return [c for c in self.calls if c.startswith("model.") and "get_preferences" not in c]


@pytest.fixture
def stub() -> Iterator[StubTryton]:
    server = StubTryton()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def _client(stub: StubTryton, **settings: Any) -> tuple[TrytonRpc, list[float]]:
    slept: list[float] = []
    values = {"url": stub.url, "password": "secret", "timeout_seconds": 0.5, "requests_per_second": 1000, "burst": 100}
    client = TrytonRpc(
        TrytonSettings(**{**values, **settings}),
        f"store-{uuid.uuid4().hex[:8]}",  # limits are per store and process: a fresh store per test
        retry=RetryPolicy(attempts=4, base_seconds=0.01, cap_seconds=1.0),
        sleep=slept.append,
    )
    return client, slept


def test_429_and_503_are_retried_with_retry_after_then_succeed(stub: StubTryton) -> None:
    stub.script = [("status", (429, {"Retry-After": "2"})), ("status", (503, {})), ("result", [7])]
    client, slept = _client(stub)
    assert client.model("sale.sale", "search", []) == [7]
    assert len(stub.model_calls()) == 3
    assert slept[0] == 2.0  # the server's Retry-After, not our backoff
    assert 0 <= slept[1] <= 0.02  # full jitter within base x 2^1


def test_server_errors_exhaust_retries_as_retryable(stub: StubTryton) -> None:
    stub.script = [("status", (503, {}))] * 4
    client, slept = _client(stub)
    with pytest.raises(RetryableError, match="after 4 attempts"):
        client.model("sale.sale", "search", [])
    assert len(stub.model_calls()) == 4
    assert len(slept) == 3


def test_login_refused_404_by_a_busy_erp_is_retried_then_logs_in(stub: StubTryton) -> None:
    # Tryton answers 404 to a login whose session row meets "database is locked" (trytond dispatcher.login).
    stub.login_statuses = [404, 404]
    client, slept = _client(stub)
    assert client.model("sale.sale", "search", []) is True
    assert stub.logins == 1
    assert len(slept) == 2


def test_404_that_outlasts_the_retries_is_the_permanent_missing_database(stub: StubTryton) -> None:
    stub.login_statuses = [404] * 4
    client, slept = _client(stub, database="nope")
    with pytest.raises(PermanentError) as refused:
        client.model("sale.sale", "search", [])
    assert refused.value.code == "erp_not_found"
    assert refused.value.data == {"database": "nope"}
    assert len(slept) == 3


def test_read_timeout_is_retried_for_a_read(stub: StubTryton) -> None:
    stub.script = [("sleep", 1.0), ("result", [{"id": 1}])]
    client, _slept = _client(stub)
    assert client.search_read("sale.sale", [], ["id"]) == [{"id": 1}]
    assert len(stub.model_calls()) == 2


def test_timeout_on_a_create_is_uncertain_and_not_resent(stub: StubTryton) -> None:
    stub.script = [("sleep", 1.0)]
    client, _slept = _client(stub)
    with pytest.raises(UncertainOutcome):
        client.create("sale.sale", [{"reference": "demo-woo:4711"}])
    assert stub.model_calls() == ["model.sale.sale.create"]


def test_500_on_a_create_is_uncertain_but_429_is_retried(stub: StubTryton) -> None:
    stub.script = [("status", (429, {})), ("result", [12])]
    client, _slept = _client(stub)
    assert client.create("sale.sale", [{"reference": "demo-woo:4711"}]) == [12]
    stub.script = [("status", (500, {}))]
    with pytest.raises(UncertainOutcome):
        client.create("sale.sale", [{"reference": "demo-woo:4712"}])


PARTY_CODE_UNIQUE = "The code on party must be unique."
# The ERP's catalogue of unique-constraint messages, as ir.message search (English) and read (session language).
CATALOGUE = [("result", [162, 279]), ("result", [{"id": 162, "text": PARTY_CODE_UNIQUE}, {"id": 279, "text": "x"}])]


def test_user_error_is_a_permanent_refusal_with_the_erp_message(stub: StubTryton) -> None:
    message = 'To post invoice "FV2026-00001", the period "2026-11" must be open.'
    stub.script = [("error", ["UserError", [message, "", None]]), *CATALOGUE]
    client, slept = _client(stub)
    with pytest.raises(PermanentError) as caught:
        client.button("account.invoice", "post", [1])
    assert caught.value.code == "erp_refused"
    assert caught.value.message == message
    assert stub.model_calls().count("model.account.invoice.post") == 1 and slept == []


def test_unique_constraint_error_is_a_race_and_the_create_is_sent_again(stub: StubTryton) -> None:
    stub.script = [("error", ["UserError", [PARTY_CODE_UNIQUE, "", None]]), *CATALOGUE, ("result", [31])]
    client, slept = _client(stub)
    assert client.create("party.party", [{"name": "Lucía Pérez"}]) == [31]
    assert stub.model_calls() == [
        "model.party.party.create",
        "model.ir.message.search",
        "model.ir.message.read",
        "model.party.party.create",
    ]
    assert len(slept) == 1


def test_unique_constraint_error_that_outlasts_the_retries_is_left_to_the_bus(stub: StubTryton) -> None:
    race = ("error", ["UserError", [PARTY_CODE_UNIQUE, "", None]])
    stub.script = [race, *CATALOGUE, race, race, race]
    client, _slept = _client(stub)
    with pytest.raises(RetryableError, match="unique constraint") as caught:
        client.create("party.party", [{"name": "Lucía Pérez"}])
    assert not isinstance(caught.value, UncertainOutcome)  # Tryton rolled back: nothing to look up
    assert stub.model_calls().count("model.ir.message.search") == 1  # the catalogue is read once per session


def test_unique_constraint_texts_are_found_in_english_and_read_in_the_session_language(stub: StubTryton) -> None:
    stub.script = list(CATALOGUE)
    client, _slept = _client(stub)
    client.login()
    stub.bodies.clear()
    assert client.unique_constraint_texts() == frozenset({PARTY_CODE_UNIQUE, "x"})
    search, read = stub.bodies
    assert search["params"][0] == [["text", "ilike", "%unique%"]] and search["params"][-1]["language"] == "en"
    assert read["params"][-1]["language"] == "es"


@pytest.mark.parametrize(
    "fault",
    [
        "could not serialize access due to concurrent update",  # PostgreSQL, after trytond's own retries
        "database is locked",  # SQLite
        "canceling statement due to lock timeout",
    ],
)
def test_serialization_and_lock_errors_are_retried_even_for_a_create(stub: StubTryton, fault: str) -> None:
    stub.script = [("error", [fault, "Traceback (most recent call last): ..."]), ("result", [32])]
    client, slept = _client(stub)
    assert client.create("party.party", [{"name": "Lucía Pérez"}]) == [32]
    assert stub.model_calls() == ["model.party.party.create", "model.party.party.create"] and len(slept) == 1


def test_user_warning_is_refused_with_its_name_kept(stub: StubTryton) -> None:
    stub.script = [("error", ["UserWarning", ["invoice_date_future", "The invoice date is in the future.", ""]])]
    client, _slept = _client(stub)
    with pytest.raises(PermanentError) as caught:
        client.button("account.invoice", "post", [1])
    assert caught.value.message == "The invoice date is in the future."
    assert caught.value.detail == "invoice_date_future"


def test_expired_session_logs_in_again_once(stub: StubTryton) -> None:
    stub.script = [("status", (401, {})), ("result", 3)]
    client, _slept = _client(stub)
    assert client.model("sale.sale", "search_count", []) == 3
    assert stub.logins == 2


def test_decimal_and_dates_round_trip_in_trytons_json_classes(stub: StubTryton) -> None:
    stub.script = [("result", [{"total_amount": {"__class__": "Decimal", "decimal": "60.75"}}])]
    client, _slept = _client(stub)
    (row,) = client.search_read("account.invoice", [], ["total_amount"])
    assert row["total_amount"] == Decimal("60.75")


def test_concurrency_toward_the_erp_is_capped_per_store(stub: StubTryton) -> None:
    stub.script = [("sleep", 0.2)] * 4
    client, _slept = _client(stub, max_concurrency=1, timeout_seconds=5)
    client.login()
    threads = [threading.Thread(target=client.model, args=("sale.sale", "search", [])) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert stub.max_in_flight == 1
    assert len(stub.model_calls()) == 4


def test_token_bucket_allows_a_burst_then_paces_requests() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(rate=2.0, burst=2, clock=lambda: now[0], sleep=sleep)
    waits = [bucket.acquire() for _ in range(4)]
    assert waits[:2] == [0.0, 0.0]
    assert waits[2] == pytest.approx(0.5)
    assert waits[3] == pytest.approx(0.5)
    assert now[0] == pytest.approx(1.0)


def test_backoff_grows_and_is_capped_with_jitter() -> None:
    policy = RetryPolicy(attempts=8, base_seconds=0.5, cap_seconds=4.0)
    delays = [policy.delay(attempt) for attempt in range(8) for _ in range(20)]
    assert all(0 <= d <= 4.0 for d in delays)
    assert max(policy.delay(0) for _ in range(50)) <= 0.5
    assert len({round(d, 6) for d in delays}) > 20  # jittered, not a fixed schedule
