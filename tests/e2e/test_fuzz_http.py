"""Property-based HTTP tests against the in-process local host (127.0.0.1): random methods, paths, query
strings, bodies and headers on every route never get a 5xx; every refusal is RFC 9457 problem+json and
leaves the state and the bus as they were. Hypothesis runs derandomized, with fewer examples than the
handler-level fuzz in tests/unit/test_fuzz_intake.py.
"""

from __future__ import annotations

import http.client
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from local.host import RunningHost
from shared.adapters.sqlite_bus import bus_path
from shared.adapters.sqlite_state import SqliteStateStore, state_path
from shared.channels.common import sign
from tests.support import SECRETS, fixture_bytes, fixture_json, in_process_host, webhook_headers, write_store_file

DEEP = int(os.environ.get("FUZZ_EXAMPLES", "0"))  # FUZZ_EXAMPLES=2000 explores deeper with fresh examples
FUZZ = settings(
    max_examples=DEEP or 120,
    deadline=None,
    derandomize=not DEEP,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
STORES = {"demo-woo": "woocommerce", "demo-shopify": "shopify"}
WOO_ORDER = "5123"
SHOPIFY_ORDER = "9007199254740993"
# Routes that may change state when they succeed; a refusal on any route, or any read, must not.
WRITES = ("webhooks/", "/retry", "/sku-map", "/backfill", "/reconciliation")


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    """demo-woo maps its SKUs (its order is invoiced); demo-shopify maps none (its order is held)."""
    base = tmp_path_factory.mktemp("fuzz-host")
    stores = base / "stores"
    stores.mkdir()
    write_store_file(stores, "demo-woo", "woocommerce", sku_map={"BLUE-MUG-350ML": "MUG-BLUE-350"})
    write_store_file(stores, "demo-shopify", "shopify")
    with in_process_host(base, stores, LOCAL_BUS_BACKOFF_BASE="0.2") as running:
        for channel, topic, fixture in (
            ("woocommerce", "order.created", "order_created"),
            ("shopify", "orders/create", "orders_create"),
        ):
            body = fixture_bytes(channel, fixture)
            store_id = "demo-woo" if channel == "woocommerce" else "demo-shopify"
            status, _, answer = call(running, "POST", f"/api/webhooks/{channel}/{store_id}", body, signed(body, topic))
            assert status == 202, answer
        wait_until_idle(running)
        yield running


def signed(body: bytes, topic: str) -> dict[str, str]:
    channel = "woocommerce" if "." in topic else "shopify"
    return {**webhook_headers(channel, topic, body), "Content-Type": "application/json"}


def call(
    host: RunningHost, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection, path sent exactly as given."""
    connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=30)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def bus_mark(host: RunningHost) -> tuple[int, int]:
    """(last message sequence, duplicate-detection ids): both only grow when something is sent."""
    with sqlite3.connect(bus_path(host.state_dir)) as db:
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'messages'").fetchone()
        sent = db.execute("SELECT COUNT(*) FROM sent_message_ids").fetchone()
    return (int(row[0]) if row else 0, int(sent[0]))


def snapshot(host: RunningHost) -> tuple[dict[str, list[Any]], tuple[int, int]]:
    store = SqliteStateStore(state_path(host.state_dir))
    try:
        return store.dump(), bus_mark(host)
    finally:
        store.close()


def wait_until_idle(host: RunningHost, timeout: float = 20.0) -> None:
    """The pipeline has nothing waiting or in flight (scheduled retries aside), so state holds still."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = 0
        for queue in host.bus.queues():
            stats = host.bus.stats(queue)
            busy += stats.active + stats.locked
        if not busy:
            return
        time.sleep(0.05)
    raise AssertionError(f"the pipeline did not settle within {timeout}s")


# -- what a client may send ------------------------------------------------------------------------------

segment_text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=0, max_size=20).map(
    lambda text: quote(text, safe="")
)
segments = st.one_of(
    st.sampled_from(
        [
            "demo-woo",
            "demo-shopify",
            "woocommerce",
            "shopify",
            WOO_ORDER,
            SHOPIFY_ORDER,
            "DEMO-WOO",
            "..",
            ".",
            "%",
            "%zz",
            "%00",
            "%ff",
            "%C3%28",  # an overlong/invalid UTF-8 sequence once unquoted
            "a%2Fb",
            "%20",
            "x" * 3000,
        ]
    ),
    segment_text,
)
CHANNEL, STORE, ORDER, ANY = "channel", "store", "order", "any"
KNOWN = {
    CHANNEL: ["woocommerce", "shopify", "WooCommerce"],
    STORE: ["demo-woo", "demo-shopify", "DEMO-WOO"],
    ORDER: [WOO_ORDER, SHOPIFY_ORDER, "0", "-1"],
    ANY: ["api", "orders", "dashboard"],
}
# (route template, its slots, the methods it serves)
ROUTES: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("webhooks/{}/{}", (CHANNEL, STORE), ("POST",)),
    ("orders/{}/{}", (STORE, ORDER), ("GET",)),
    ("orders", (), ("GET",)),
    ("orders/{}/{}/retry", (STORE, ORDER), ("POST",)),
    ("stores/{}/sku-map", (STORE,), ("GET", "PUT")),
    ("stores/{}/unmapped-skus", (STORE,), ("GET",)),
    ("simulate/{}", (STORE,), ("POST",)),
    ("dashboard", (), ("GET",)),
    ("dashboard/static/{}", (ANY,), ("GET",)),
    ("dashboard/reconciliation", (), ("GET",)),
    ("stores/{}/reconciliation", (STORE,), ("GET", "POST")),
    ("stores/{}/backfill", (STORE,), ("POST",)),
    ("health", (), ("GET",)),
    ("{}", (ANY,), ("GET",)),
    ("{}/{}/{}/{}", (ANY, ANY, ANY, ANY), ("GET", "POST")),
]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
query_keys = st.sampled_from(
    ["store", "state", "limit", "format", "lang", "code", "order", "from", "to", "x"]
) | st.text(max_size=8)
query_values = st.one_of(
    st.sampled_from(
        [
            "demo-woo",
            "held",
            "invoiced",
            "HELD",
            "0",
            "-1",
            "1001",
            "1e3",
            "50",
            "json",
            "es",
            "en",
            "zz",
            "",
            "2026-11-20",
        ]
    ),
    st.text(max_size=30),
)
queries = st.one_of(
    st.just(""),
    st.lists(st.tuples(query_keys, query_values), max_size=4).map(lambda pairs: urlencode(pairs)),
    st.sampled_from(["%", "limit=%zz", "&&&", "=", "limit", "store=demo-woo&store=demo-shopify", "a=%00"]),
)


@st.composite
def requests_lines(draw: st.DrawFn) -> tuple[str, str]:
    """(method, path with query): mostly a route's own method and known ids, so requests get past routing."""
    route, slots, methods = draw(st.sampled_from(ROUTES))
    method = draw(st.sampled_from(methods) if draw(st.integers(0, 3)) else st.sampled_from(METHODS))
    filled = route.format(
        *(draw(st.sampled_from(KNOWN[slot]) if draw(st.integers(0, 2)) else segments) for slot in slots)
    )
    prefix = draw(st.sampled_from(["/api/", "/api/", "/api/", "/api/", "/API/", "/", "//api//", "/api/../api/"]))
    query = draw(queries)
    return method, f"{prefix}{filled}" + (f"?{query}" if query else "")


def one_value_changed(document: dict[str, Any], key: str, value: Any) -> bytes:
    changed = dict(document)
    changed[key] = value
    return json.dumps(changed).encode()


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(["NaN", "1e999999999", "1E+308", "10,50", "9999-12-31T23:59:59-01:00", "&amp;"]),
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["empty", "binary", "fixture", "changed", "json", "csv", "ping", "nested"]))
    if kind == "empty":
        return b""
    if kind == "binary":
        return draw(st.binary(max_size=200))
    if kind == "ping":
        return b"webhook_id=" + str(draw(st.integers(min_value=0))).encode()
    if kind == "nested":
        return b"[" * draw(st.integers(min_value=1, max_value=100_000))
    channel = draw(st.sampled_from(["woocommerce", "shopify"]))
    fixture = "order_created" if channel == "woocommerce" else "orders_create"
    if kind == "fixture":
        return fixture_bytes(channel, fixture)
    if kind == "changed":
        document = fixture_json(channel, fixture)
        return one_value_changed(document, draw(st.sampled_from(sorted(document))), draw(json_scalars))
    if kind == "json":
        return json.dumps(
            draw(st.recursive(json_scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(), c)))
        ).encode()
    rows = draw(st.lists(st.tuples(st.text(max_size=12), st.text(max_size=12)), max_size=4))
    header = draw(st.sampled_from(["sku,item_code", "sku,variant_id,item_code", "item_code", "", "sku;item_code"]))
    return "\n".join([header, *(f"{sku},{code}" for sku, code in rows)]).encode()


# Header values the client library can put on the wire: Latin-1, no CR/LF.
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=40)


@st.composite
def headers_for(draw: st.DrawFn, body: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    if draw(st.booleans()):
        headers["Content-Type"] = draw(
            st.sampled_from(
                [
                    "application/json",
                    "text/csv",
                    "text/plain; charset=utf-8",
                    "application/x-www-form-urlencoded",
                    "multipart/form-data; boundary=x",
                    "json",
                ]
            )
            | header_values
        )
    if draw(st.booleans()):
        topic = draw(
            st.sampled_from(["order.created", "order.updated", "orders/create", "orders/paid", "ORDER.CREATED"])
        )
        headers["X-WC-Webhook-Topic" if "." in topic.lower() else "X-Shopify-Topic"] = topic
        secret = draw(st.sampled_from([SECRETS["woocommerce"], SECRETS["shopify"], "wrong"]))
        signature = sign(body, secret)
        headers["X-WC-Webhook-Signature"] = signature
        headers["X-Shopify-Hmac-Sha256"] = signature
        headers["X-Shopify-Event-Id"] = str(draw(st.integers(min_value=0, max_value=2**70)))
    names = st.sampled_from(["Accept", "Accept-Language", "X-WC-Webhook-Topic", "X-Shopify-Topic", "traceparent"])
    headers.update(draw(st.dictionaries(names, header_values, max_size=3)))
    return headers


def is_write(method: str, path: str) -> bool:
    return method in ("POST", "PUT") and any(marker in path.lower() for marker in WRITES)


def assert_problem(status: int, headers: dict[str, str], body: bytes, method: str) -> None:
    assert headers.get("content-type", "").startswith("application/problem+json"), (status, headers, body[:200])
    if method == "HEAD":
        return
    problem = json.loads(body)
    assert problem["status"] == status and isinstance(problem["title"], str) and problem["title"], problem


# -- properties -------------------------------------------------------------------------------------------


@FUZZ
@given(data=st.data(), line=requests_lines(), body=bodies())
def test_any_request_gets_no_5xx_and_a_refusal_changes_nothing(
    host: RunningHost, data: st.DataObject, line: tuple[str, str], body: bytes
) -> None:
    method, path = line
    headers = data.draw(headers_for(body), label="headers")
    before = snapshot(host)
    status, answer_headers, answer = call(host, method, path, body, headers)
    event(f"{method} {path.split('?')[0].split('/')[2][:12] if path.count('/') > 1 else path} {status}")
    assert status < 500, (method, path, status, answer[:300])
    if status >= 400:
        assert_problem(status, answer_headers, answer, method)
    if status >= 400 or not is_write(method, path):
        assert snapshot(host) == before, (method, path, status)
    else:
        wait_until_idle(host)


@FUZZ
@given(
    channel_store=st.sampled_from([("woocommerce", "demo-woo"), ("shopify", "demo-shopify")]),
    key=st.sampled_from(["id", "total", "total_price", "line_items", "date_modified_gmt", "created_at", "currency"]),
    value=json_scalars,
    signature=st.sampled_from(["right", "wrong", "none"]),
)
def test_webhook_with_one_odd_value_is_202_200_or_a_clean_refusal(
    host: RunningHost, channel_store: tuple[str, str], key: str, value: Any, signature: str
) -> None:
    channel, store_id = channel_store
    document = fixture_json(channel, "order_created" if channel == "woocommerce" else "orders_create")
    body = one_value_changed(document, key, value)
    topic = "order.updated" if channel == "woocommerce" else "orders/updated"
    headers = signed(body, topic)
    name = "X-WC-Webhook-Signature" if channel == "woocommerce" else "X-Shopify-Hmac-Sha256"
    headers = {k: v for k, v in headers.items() if k.lower() != name.lower()}
    if signature != "none":
        headers[name] = sign(body, SECRETS[channel] if signature == "right" else "wrong")
    before = snapshot(host)
    status, answer_headers, answer = call(host, "POST", f"/api/webhooks/{channel}/{store_id}", body, headers)
    event(f"{signature} {status}")
    if signature == "right":
        assert status in (200, 202, 400), (status, answer[:300])
    else:
        assert status == 401, (status, answer[:300])
    if status >= 400:
        assert_problem(status, answer_headers, answer, "POST")
        assert snapshot(host) == before
    else:
        wait_until_idle(host)


LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "LocalHost", "[::1]", "127.0.0.1:7071", "localhost:1", "[::1]:80"]
FOREIGN_HOSTS = ["evil.example", "evil.example:7071", "127.0.0.1.nip.example", "10.0.0.5", "[::2]", "", "a b"]
# Random text that happens to name a loopback host is not foreign; the sampled loopback names cover those.
foreign_text = header_values.filter(
    lambda text: text.strip().lower().split(":")[0].rstrip(".") not in ("127.0.0.1", "localhost", "[")
)


@FUZZ
@given(
    method=st.sampled_from(["POST", "PUT", "PATCH", "DELETE", "GET"]),
    path=st.sampled_from(
        ["/api/webhooks/woocommerce/demo-woo", "/api/stores/demo-woo/sku-map", "/api/orders/demo-woo/5123/retry"]
    ),
    foreign=st.booleans(),
    data=st.data(),
    origin=st.one_of(
        st.none(), st.sampled_from(["http://evil.example", "null", "https://127.0.0.1", "file://"]), header_values
    ),
)
def test_foreign_host_or_cross_site_origin_is_refused_and_changes_nothing(
    host: RunningHost, method: str, path: str, foreign: bool, data: st.DataObject, origin: str | None
) -> None:
    host_header = data.draw(
        st.sampled_from(FOREIGN_HOSTS) | foreign_text if foreign else st.sampled_from(LOOPBACK_HOSTS)
    )
    body = fixture_bytes("woocommerce", "order_created")
    headers = {**signed(body, "order.updated"), "Host": host_header}
    if origin is not None:
        headers["Origin"] = origin
    before = snapshot(host)
    status, answer_headers, answer = call(host, method, path, body, headers)
    event(f"{'foreign' if foreign else 'loopback'} {status}")
    assert status < 500, (method, path, host_header, origin, status, answer[:300])
    if foreign:
        assert status in (400, 421), (host_header, status)
    elif method != "GET" and origin is not None:
        assert status == 403, (origin, status)
    if status >= 400:
        assert_problem(status, answer_headers, answer, method)
        assert snapshot(host) == before
    else:
        wait_until_idle(host)


def test_body_over_one_mebibyte_is_413_problem_and_changes_nothing(host: RunningHost) -> None:
    body = b'{"id": 1, "note": "' + b"x" * (1024 * 1024) + b'"}'
    before = snapshot(host)
    status, headers, answer = call(
        host, "POST", "/api/webhooks/woocommerce/demo-woo", body, signed(body, "order.created")
    )
    assert status == 413
    assert_problem(status, headers, answer, "POST")
    assert snapshot(host) == before


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: abc\r\n\r\n",
        b"Content-Length: -5\r\n\r\n",
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"Transfer-Encoding: chunked\r\n\r\n5\r\nab",
        b"Transfer-Encoding: gzip\r\n\r\nab",
        b"X-Padding: " + b"x" * 70_000 + b"\r\n\r\n",
        b"Content-Length: 10\r\n\r\nab",
    ],
    ids=[
        "length-not-a-number",
        "negative-length",
        "chunk-size-not-hex",
        "chunk-cut-short",
        "unsupported-transfer-encoding",
        "headers-over-64-kib",
        "body-cut-short",
    ],
)
def test_malformed_request_framing_is_answered_without_5xx(host: RunningHost, framing: bytes) -> None:
    import socket

    before = snapshot(host)
    with socket.create_connection(("127.0.0.1", host.port), timeout=10) as raw:
        raw.sendall(b"POST /api/webhooks/woocommerce/demo-woo HTTP/1.1\r\nHost: 127.0.0.1\r\n" + framing)
        raw.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0]
    # HTTP/1.0 when the request line itself could not be read (headers over the limit).
    assert status_line.startswith((b"HTTP/1.1 4", b"HTTP/1.0 4")), answer[:300]
    assert b"application/problem+json" in answer.split(b"\r\n\r\n", 1)[0]
    assert snapshot(host) == before
