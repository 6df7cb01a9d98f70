"""The local host's HTTP server: waitress (WSGI) in front of LocalHost's routing, on loopback.

Waitress reads headers and bodies in its I/O thread and hands only complete requests to a bounded pool,
refuses a body over the limit from its Content-Length before reading it, and drops idle connections. This
module adds the local edge policy: loopback Host names only, no cross-site writes, problem+json errors.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask
from waitress.utilities import BadRequest

from shared.errors import ConfigError

log = logging.getLogger("local.host")

MAX_REQUEST_BYTES = 1024 * 1024  # the webhook contract's limit (1 MiB), for every route of the local host
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
LINGER_SECONDS = 2.0  # how long a refused client's unread body is drained before the connection closes
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Connection-level headers belong to the server, never to a function's response (PEP 3333 hop-by-hop).
_SERVER_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer", "upgrade"}
    | {"proxy-authenticate", "proxy-authorization"}
)

Headers = Mapping[str, str] | Iterable[tuple[str, str]]
Answer = tuple[int, Headers, bytes]


def problem(status: int, title: str, detail: str = "") -> tuple[int, dict[str, str], bytes]:
    """RFC 9457 problem details for errors the host itself answers."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    return status, {"Content-Type": "application/problem+json"}, json.dumps(body).encode()


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError as error:
        raise ConfigError(f"{name}={raw!r} is not a number") from error
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be greater than 0")
    return value


@dataclass(frozen=True)
class HttpSettings:
    """Env overrides: LOCAL_HTTP_THREADS, LOCAL_HTTP_CONNECTION_LIMIT, LOCAL_HTTP_BACKLOG,
    LOCAL_HTTP_READ_TIMEOUT (whole seconds a connection may stay silent), LOCAL_MAX_REQUEST_BYTES,
    LOCAL_ALLOWED_HOSTS (comma-separated extra Host names, `*` for any)."""

    threads: int = 8
    connection_limit: int = 256
    backlog: int = 1024
    read_timeout: int = 15
    max_request_bytes: int = MAX_REQUEST_BYTES
    allowed_hosts: frozenset[str] = LOOPBACK_HOSTS

    @classmethod
    def from_env(cls) -> HttpSettings:
        extra = {
            name.strip().lower().rstrip(".")
            for name in os.environ.get("LOCAL_ALLOWED_HOSTS", "").split(",")
            if name.strip()
        }
        return cls(
            threads=int(_env_number("LOCAL_HTTP_THREADS", cls.threads)),
            connection_limit=int(_env_number("LOCAL_HTTP_CONNECTION_LIMIT", cls.connection_limit)),
            backlog=int(_env_number("LOCAL_HTTP_BACKLOG", cls.backlog)),
            read_timeout=max(1, round(_env_number("LOCAL_HTTP_READ_TIMEOUT", cls.read_timeout))),
            max_request_bytes=int(_env_number("LOCAL_MAX_REQUEST_BYTES", cls.max_request_bytes)),
            allowed_hosts=LOOPBACK_HOSTS | extra,
        )


@dataclass(frozen=True)
class Request:
    """One complete HTTP request as the routing sees it; `target` is the raw path and query as sent."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    host: str  # the Host header as sent, already checked


# -- edge policy ------------------------------------------------------------------------------------------


def split_host(value: str) -> tuple[str, str] | None:
    """`Host` → (lower-case name, port or ""); IPv6 literals keep their brackets. None when malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        name, bracket, rest = value.partition("]")
        name += bracket
        if not bracket or (rest and not rest.startswith(":")):
            return None
        port = rest[1:]
    else:
        name, _, port = value.partition(":")
    name = name.rstrip(".")
    if not name or (port and not port.isdigit()) or any(c in name for c in "/@ \\"):
        return None
    return name, port


def host_allowed(value: str, allowed: frozenset[str]) -> bool:
    """DNS rebinding guard: a page on evil.example resolved to 127.0.0.1 still sends `Host: evil.example`."""
    parts = split_host(value)
    return parts is not None and ("*" in allowed or parts[0] in allowed)


def same_origin(origin: str, host: str) -> bool:
    """Is the `Origin` the host's own, http://<Host>? ("null" from sandboxed frames and files is not.)"""
    try:
        parsed = urlsplit(origin.strip())
        origin_port = parsed.port
    except ValueError:
        return False
    own = split_host(host)
    if parsed.scheme != "http" or not parsed.hostname or own is None:
        return False
    name = f"[{parsed.hostname}]" if ":" in parsed.hostname else parsed.hostname
    return name.rstrip(".") == own[0] and (origin_port or 80) == int(own[1] or 80)


def refusal(method: str, host: str | None, origin: str | None, settings: HttpSettings) -> Answer | None:
    """The edge's answer when a request must not reach a function, else None."""
    if host is None:
        return problem(400, "Bad Request", "the Host header is required")
    if not host_allowed(host, settings.allowed_hosts):
        return problem(
            421,
            "Misdirected Request",
            "this local host answers only to 127.0.0.1, localhost and [::1]; LOCAL_ALLOWED_HOSTS adds names",
        )
    if method in STATE_CHANGING and origin is not None and not same_origin(origin, host):
        return problem(403, "Forbidden", "cross-site requests may not change state here")
    return None


# -- waitress ---------------------------------------------------------------------------------------------


class _ProblemErrorTask(ErrorTask):
    """Waitress's own refusals (413 from Content-Length, 400 framing, 431) as problem+json, not text.

    An unsupported Transfer-Encoding is bad input: 400 rather than waitress's 501, so input never gets a 5xx.
    """

    def execute(self) -> None:
        error = self.request.error
        code = 400 if error.code >= 500 else int(error.code)
        detail = str(error.body)
        if code == 413:
            limit = self.channel.server.adj.max_request_body_size - 1
            detail = f"request bodies are limited to {limit} bytes"
        status, headers, body = problem(code, HTTPStatus(code).phrase, detail)
        self.status = f"{status} {HTTPStatus(status).phrase}"
        self.response_headers.extend(headers.items())
        self.set_close_on_finish()
        self.channel.linger_on_close = True  # the client may still be sending the body refused here
        self.content_length = len(body)
        self.write(body)
        log.info("request refused by the server: %d %s", status, detail)


class _Channel(HTTPChannel):
    """A connection that, after refusing a request whose body it did not read, drains what the client
    still sends for a moment before closing (what nginx calls lingering close): closing with unread data
    makes the kernel send a reset, and the client may lose the 413 it was about to read."""

    error_task_class = _ProblemErrorTask
    request: Any  # the request being read (waitress's parser), None between requests
    linger_on_close = False
    lingering_until = 0.0

    def handle_close(self) -> None:
        if not self.linger_on_close or self.lingering_until or not self.connected:
            super().handle_close()
            return
        try:
            self.socket.shutdown(socket.SHUT_WR)  # the answer is out; the client sees end of stream
        except OSError:
            super().handle_close()
            return
        self.will_close = False
        self.lingering_until = time.monotonic() + min(LINGER_SECONDS, float(self.adj.channel_timeout))

    def readable(self) -> bool:
        if not self.lingering_until:
            return bool(super().readable())
        if time.monotonic() >= self.lingering_until:
            super().handle_close()
            return False
        return True

    def writable(self) -> bool:
        return False if self.lingering_until else bool(super().writable())

    def handle_read(self) -> None:
        try:
            data = self.socket.recv(65536 if self.lingering_until else self.adj.recv_bytes)
        except OSError:  # reset by the client: nobody left to answer
            super().handle_close()
            return
        if self.lingering_until:  # read and forget: nothing of it is kept
            if not data:
                super().handle_close()
        elif data:
            self.last_activity = time.time()
            self.received(data)
        else:
            self._client_finished_sending()

    def _client_finished_sending(self) -> None:
        """End of stream from the client. In the middle of a request (a body cut short, a header left
        unfinished) it is answered 400, which a client that only shut down its sending side can read."""
        partial = self.request
        if partial is None or self.requests or not (partial.header_plus or partial.headers_finished):
            super().handle_close()
            return
        partial.error = BadRequest("the connection ended in the middle of the request")
        partial.completed = True
        with self.requests_lock:
            self.requests.append(partial)
            self.request = None
        self.server.add_task(self)


class _Server(TcpWSGIServer):
    channel_class = _Channel


def _wsgi_headers(environ: Mapping[str, Any]) -> list[tuple[str, str]]:
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:]
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key
        else:
            continue
        headers.append(("-".join(part.capitalize() for part in name.split("_")), str(value)))
    return headers


class LocalHttpServer:
    """Waitress on (bind, port) in a thread of its own; `handler` answers each checked request."""

    def __init__(
        self,
        handler: Callable[[Request], Answer],
        *,
        bind: str,
        port: int,
        settings: HttpSettings,
    ) -> None:
        self.handler = handler
        self.settings = settings
        adjustments = Adjustments(
            host=bind,
            port=port,
            threads=settings.threads,
            connection_limit=settings.connection_limit,
            backlog=settings.backlog,
            # Whole seconds (waitress's unit). A silent client is cut off between the timeout and the timeout
            # plus the cleanup interval: its idle connections are looked for that often.
            channel_timeout=settings.read_timeout,
            cleanup_interval=min(30, max(settings.read_timeout // 2, 1)),
            asyncore_loop_timeout=1,
            # Waitress refuses Content-Length >= this, so the limit itself is still accepted.
            max_request_body_size=settings.max_request_bytes + 1,
            max_request_header_size=64 * 1024,
            ident="o2c-local-host",
            expose_tracebacks=False,
            clear_untrusted_proxy_headers=True,
            log_socket_errors=False,
        )
        # Requests waiting for a worker are the bounded pool doing its job, not news for every request.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        self.server = _Server(self._wsgi, map={}, adj=adjustments)
        self.port = int(self.server.effective_port)
        self.thread = threading.Thread(target=self.server.run, name="local-http", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        method = str(environ["REQUEST_METHOD"])
        host = environ.get("HTTP_HOST")
        refused = refusal(method, host, environ.get("HTTP_ORIGIN"), self.settings)
        if refused is not None:
            status, headers, body = refused
            log.info("%s %s -> %d (refused at the edge)", method, environ.get("PATH_INFO", ""), status)
        else:
            length = int(environ.get("CONTENT_LENGTH") or 0)  # waitress has the whole body, chunked or not
            request = Request(
                method=method,
                target=str(environ.get("REQUEST_URI") or "/"),
                headers=_wsgi_headers(environ),
                body=environ["wsgi.input"].read(length) if length > 0 else b"",
                host=str(host),
            )
            try:
                status, headers, body = self.handler(request)
            except Exception:  # a fault of the host itself; a function's own failure is answered by the host
                log.exception("%s %s: the local host failed", method, environ.get("PATH_INFO", ""))
                status, headers, body = problem(500, "Internal Server Error", "the local host failed; see its log")
        pairs = [
            (str(name), str(value))
            for name, value in (headers.items() if isinstance(headers, Mapping) else headers)
            if str(name).lower() not in _SERVER_HEADERS
        ]
        if method == "HEAD":
            body = b""
        pairs.append(("Content-Length", str(len(body))))
        start_response(f"{status} {_phrase(status)}", pairs)
        return [body]

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening, let requests already being served be answered, then close every connection
        (idle keep-alive ones included) and end the server thread."""
        server = self.server
        server.trigger.pull_trigger(self._stop_listening)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(
            channel.requests for channel in list(server.active_channels.values())
        ):
            time.sleep(0.02)
        try:
            server.trigger.pull_trigger(self._close_connections)
        except OSError:
            # The trigger is already closed: the server loop has ended and its connections with it.
            log.debug("local HTTP server: loop already ended at stop")
        self.thread.join(max(1.0, deadline - time.monotonic()))
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=max(0.1, deadline - time.monotonic()))

    def _stop_listening(self) -> None:
        # In the server thread: waitress's loop owns its sockets.
        self.server.accepting = False
        wasyncore.dispatcher.close(self.server)  # the listening socket only; the trigger goes last

    def _close_connections(self) -> None:
        server = self.server
        for channel in list(server.active_channels.values()):
            if channel.total_outbufs_len:
                channel.will_close = True  # closes once its answer is written
            else:
                channel.handle_close()
        server.trigger.close()


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
