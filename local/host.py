"""Local host: drives the function objects registered in function_app.py on one machine, no Core Tools.

HTTP triggers are served on 127.0.0.1 under the route prefix (waitress: local/http_server.py), Service
Bus triggers are fed from the SQLite bus (peek-lock, lock renewal, backoff, dead-letter) and timer
triggers run on their NCRONTAB schedule. Function code gets real azure.functions objects and never knows
it runs locally.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import logging
import os
import random
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import azure.functions as func
from azure.functions import _abc as azf_abc
from azure.functions.decorators.function_app import Function
from azure.functions.servicebus import ServiceBusMessage
from azure.functions.timer import TimerRequest

from local.http_server import Answer, HttpSettings, LocalHttpServer, Request, problem
from local.registry import registered_functions
from local.settings import load_local_settings
from local.timers import next_occurrence
from shared.adapters.sqlite_bus import LockLostError, ReceivedMessage, SqliteBus, bus_path
from shared.errors import ConfigError

log = logging.getLogger("local.host")

ROOT = Path(__file__).resolve().parent.parent
_SETTING = re.compile(r"%([^%]+)%")


# -- settings ---------------------------------------------------------------------------------------------


def route_prefix(root: Path = ROOT) -> str:
    """host.json extensions.http.routePrefix; "api" when absent, as on Azure."""
    path = root / "host.json"
    if path.is_file():
        try:
            http = json.loads(path.read_text(encoding="utf-8")).get("extensions", {}).get("http", {})
        except (ValueError, AttributeError):
            http = {}
        if "routePrefix" in http:
            return str(http["routePrefix"]).strip("/")
    return "api"


def resolve_setting(value: str) -> str:
    """Resolve `%Name%` app-setting references the way the Functions host does for trigger names."""

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"app setting {name!r} is not set (referenced as %{name}%)")
        return os.environ[name]

    return _SETTING.sub(lookup, value)


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError as error:
        raise ConfigError(f"{name}={raw!r} is not a number") from error


def _env_int(name: str, default: int) -> int:
    return int(_env_float(name, default))


@dataclass(frozen=True)
class BusSettings:
    """Env overrides: LOCAL_BUS_LOCK_SECONDS, _MAX_DELIVERY, _BACKOFF_BASE, _BACKOFF_CAP, _POLL_SECONDS,
    _CONCURRENCY."""

    lock_seconds: float = 30.0
    max_delivery: int = 10
    backoff_base: float = 2.0
    backoff_cap: float = 300.0
    poll_seconds: float = 0.5
    concurrency: int = 4

    @classmethod
    def from_env(cls) -> BusSettings:
        return cls(
            lock_seconds=_env_float("LOCAL_BUS_LOCK_SECONDS", cls.lock_seconds),
            max_delivery=_env_int("LOCAL_BUS_MAX_DELIVERY", cls.max_delivery),
            backoff_base=_env_float("LOCAL_BUS_BACKOFF_BASE", cls.backoff_base),
            backoff_cap=_env_float("LOCAL_BUS_BACKOFF_CAP", cls.backoff_cap),
            poll_seconds=_env_float("LOCAL_BUS_POLL_SECONDS", cls.poll_seconds),
            concurrency=max(1, _env_int("LOCAL_BUS_CONCURRENCY", cls.concurrency)),
        )


def backoff_delay(delivery_count: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds before a failed message is retried: base * 2^(delivery_count-1), capped, with ±20% jitter."""
    exponent = min(max(delivery_count - 1, 0), 32)
    return min(cap, base * 2**exponent) * (rng or random).uniform(0.8, 1.2)


# -- loading the app --------------------------------------------------------------------------------------


def load_function_app(module_name: str) -> tuple[ModuleType, list[Function]]:
    """Import the app module and return its functions. An import error stops the host loudly: on Azure
    it would make every function silently vanish."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    module = importlib.import_module(module_name)
    apps = [value for value in vars(module).values() if isinstance(value, func.FunctionApp)]
    if not apps:
        raise ConfigError(f"{module_name}: no FunctionApp instance found")
    functions: list[Function] = []
    for app in apps:
        # Through the shared cache: a second app.get_functions() in one process fails its name check.
        functions.extend(registered_functions(app).values())
    return module, functions


def _trigger_type(function: Function) -> str:
    trigger = function.get_trigger()
    return trigger.get_binding_name() if trigger is not None else ""


@dataclass
class _Context(func.Context):
    """What a function gets for a `context` parameter; only the fields a local run can fill."""

    _invocation_id: str
    _function_name: str
    _trace_parent: str = ""
    _trace_state: str = ""
    _retry_count: int = 0
    _max_retry_count: int = 0
    _attributes: dict[str, str] = field(default_factory=dict)
    _thread_local: threading.local = field(default_factory=threading.local)

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._thread_local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return str(ROOT)

    @property
    def trace_context(self) -> Any:
        return _TraceContext(self._trace_parent, self._trace_state, self._attributes)

    @property
    def retry_context(self) -> Any:
        return _RetryContext(self._retry_count, self._max_retry_count)


@dataclass
class _TraceContext(azf_abc.TraceContext):
    _trace_parent: str
    _trace_state: str
    _attributes: dict[str, str]

    @property
    def trace_parent(self) -> str:
        return self._trace_parent

    @property
    def trace_state(self) -> str:
        return self._trace_state

    @property
    def attributes(self) -> dict[str, str]:
        return self._attributes


@dataclass
class _RetryContext(azf_abc.RetryContext):
    _retry_count: int
    _max_retry_count: int

    @property
    def retry_count(self) -> int:
        return self._retry_count

    @property
    def max_retry_count(self) -> int:
        return self._max_retry_count

    @property
    def exception(self) -> Any:
        return None


def _invoke(function: Function, trigger_value: Any, context: _Context) -> Any:
    """Call the user function with its trigger argument (and `context` if it asks for one)."""
    trigger = function.get_trigger()
    assert trigger is not None
    user_function = function.get_user_function()
    parameters = inspect.signature(user_function).parameters
    kwargs: dict[str, Any] = {trigger.name: trigger_value}
    if "context" in parameters and trigger.name != "context":
        kwargs["context"] = context
    result = user_function(**kwargs)
    if inspect.isawaitable(result):
        result = asyncio.run(_await(result))
    return result


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _unsupported_parameters(function: Function) -> list[str]:
    trigger = function.get_trigger()
    parameters = inspect.signature(function.get_user_function()).parameters
    known = {trigger.name if trigger else "", "context"}
    return [name for name in parameters if name not in known]


# -- HTTP -------------------------------------------------------------------------------------------------


def _method_names(methods: Iterable[Any] | None) -> frozenset[str] | None:
    if not methods:
        return None
    return frozenset((method.value if isinstance(method, Enum) else str(method)).upper() for method in methods)


@dataclass(frozen=True)
class HttpRoute:
    """One HTTP-trigger function: its ASP.NET-style route template compiled to a regex."""

    function: Function
    template: str
    methods: frozenset[str] | None  # None: every method
    pattern: re.Pattern[str]
    precedence: tuple[int, ...]

    @classmethod
    def of(cls, function: Function) -> HttpRoute:
        trigger = function.get_trigger()
        template = (getattr(trigger, "route", None) or function.get_function_name() or "").strip("/")
        pattern, precedence = compile_route(template)
        return cls(function, template, _method_names(getattr(trigger, "methods", None)), pattern, precedence)


def compile_route(template: str) -> tuple[re.Pattern[str], tuple[int, ...]]:
    """`orders/{store_id}/{order_id}`, `{id:int}`, `{name?}`, `{*rest}` → regex with named groups.

    Matching is case-insensitive, as in ASP.NET routing. Precedence sorts literal segments before
    parameters and catch-alls last.
    """
    regex = ""
    precedence: list[int] = []
    for segment in template.split("/") if template else []:
        kinds: list[int] = []
        optional_segment = False
        position = 0
        segment_regex = ""
        for match in re.finditer(r"\{([^{}]+)\}", segment):
            segment_regex += re.escape(segment[position : match.start()])
            position = match.end()
            spec = match.group(1)
            catch_all = spec.startswith("*")
            name, _, constraint = spec.lstrip("*").partition(":")
            optional = catch_all or name.endswith("?") or constraint.endswith("?")
            name = name.rstrip("?")
            constraint = constraint.rstrip("?").split("(")[0].lower()
            if catch_all:
                group, kind = f"(?P<{name}>.*)", 3
            elif constraint in ("int", "long"):
                group, kind = f"(?P<{name}>-?[0-9]+)", 1
            elif constraint == "alpha":
                group, kind = f"(?P<{name}>[A-Za-z]+)", 1
            else:
                group, kind = f"(?P<{name}>[^/]+)", 2
            optional_segment = optional and match.group(0) == segment
            segment_regex += f"(?:{group})?" if optional and not optional_segment else group
            kinds.append(kind)
        segment_regex += re.escape(segment[position:])
        precedence.append(max(kinds, default=0))
        separator = "/" if regex else ""
        if optional_segment:
            # A whole optional segment takes its slash with it: `orders/{id?}` also matches `orders`.
            regex += f"(?:{separator}{segment_regex})?"
        else:
            regex += separator + segment_regex
    return re.compile(f"^{regex}$", re.IGNORECASE), tuple(precedence)


# -- queues and timers ------------------------------------------------------------------------------------


@dataclass
class _InFlight:
    function: str
    message: ReceivedMessage
    started: float


class _QueueListener:
    """Worker threads for one Service Bus trigger; each runs one message at a time."""

    def __init__(self, host: LocalHost, function: Function, queue: str, sessions: bool) -> None:
        self.host = host
        self.function = function
        self.name = function.get_function_name() or ""
        self.queue = queue
        self.sessions = sessions
        self.threads = [
            threading.Thread(target=self._work, name=f"{self.name}-{number}", daemon=True)
            for number in range(host.bus_settings.concurrency)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def _work(self) -> None:
        host = self.host
        while not host.stopping.is_set():
            try:
                message = host.bus.receive(self.queue)
            except Exception:
                log.exception("receive from %s failed", self.queue)
                message = None
            if message is None:
                host.stopping.wait(host.bus_settings.poll_seconds)
                continue
            self._process(message)

    def _process(self, message: ReceivedMessage) -> None:
        host = self.host
        settings = host.bus_settings
        key = message.lock_token
        host.in_flight[key] = _InFlight(self.name, message, time.monotonic())
        done = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(message, done), name=f"{self.name}-renew", daemon=True)
        renewer.start()
        invocation_id = str(uuid.uuid4())
        failure: BaseException | None = None
        try:
            _invoke(
                self.function,
                _service_bus_message(message),
                _Context(
                    invocation_id,
                    self.name,
                    _trace_parent=message.properties.get("traceparent", ""),
                    _trace_state=message.properties.get("tracestate", ""),
                    _retry_count=message.delivery_count - 1,
                    _max_retry_count=settings.max_delivery - 1,
                ),
            )
        except Exception as error:
            failure = error
        finally:
            done.set()
            renewer.join()
        try:
            if failure is None:
                host.bus.complete(message)
                log.info(
                    "%s completed message %s (session %s, delivery %d)",
                    self.name,
                    message.message_id,
                    message.session_id,
                    message.delivery_count,
                )
            else:
                delay = backoff_delay(message.delivery_count, settings.backoff_base, settings.backoff_cap)
                dead = host.bus.abandon(message, delay)
                log.warning(
                    "%s failed on message %s (session %s, delivery %d/%d): %s: %s; %s",
                    self.name,
                    message.message_id,
                    message.session_id,
                    message.delivery_count,
                    settings.max_delivery,
                    type(failure).__name__,
                    failure,
                    "dead-lettered" if dead else f"retry in {delay:.1f}s",
                    exc_info=failure if dead else None,
                )
        except LockLostError:
            log.warning(
                "%s lost the lock on message %s before settling it; it will be delivered again",
                self.name,
                message.message_id,
            )
        finally:
            host.in_flight.pop(key, None)

    def _renew(self, message: ReceivedMessage, done: threading.Event) -> None:
        # Renew at a third of the lock so a slow ERP call never lets the lock run out mid-invocation.
        interval = max(self.host.bus.lock_duration / 3, 0.05)
        while not done.wait(interval):
            try:
                self.host.bus.renew_lock(message)
            except LockLostError:
                log.warning("%s: lock on message %s lost while running", self.name, message.message_id)
                return
            except Exception:
                log.exception("%s: renewing the lock on message %s failed", self.name, message.message_id)


def _service_bus_message(message: ReceivedMessage) -> ServiceBusMessage:
    properties: dict[str, Any] = dict(message.properties)
    return ServiceBusMessage(
        body=message.body,
        message_id=message.message_id,
        session_id=message.session_id,
        delivery_count=message.delivery_count,
        enqueued_time_utc=message.enqueued_at,
        enqueued_sequence_number=message.sequence_number,
        sequence_number=message.sequence_number,
        lock_token=message.lock_token,
        locked_until=message.locked_until,
        content_type=message.properties.get("content_type"),
        correlation_id=message.properties.get("correlation_id"),
        application_properties=properties,
        user_properties=dict(properties),
        trigger_metadata={
            "MessageId": message.message_id,
            "SessionId": message.session_id,
            "DeliveryCount": message.delivery_count,
            "EnqueuedTimeUtc": message.enqueued_at.isoformat(),
            "SequenceNumber": message.sequence_number,
            "LockToken": message.lock_token,
            "ApplicationProperties": properties,
            "UserProperties": properties,
        },
    )


class _TimerRunner:
    def __init__(self, host: LocalHost, function: Function, schedule: str, run_on_startup: bool) -> None:
        self.host = host
        self.function = function
        self.name = function.get_function_name() or ""
        self.schedule = schedule
        self.run_on_startup = run_on_startup
        try:  # a bad schedule stops the host at start, not at the first run
            next_occurrence(schedule, datetime.now(UTC))
        except ValueError as error:
            raise ConfigError(f"{self.name}: {error}") from error
        self.thread = threading.Thread(target=self._loop, name=f"{self.name}-timer", daemon=True)
        self.lock = threading.Lock()  # never two runs of one timer at once, as on Azure
        self.last: datetime | None = None

    def start(self) -> None:
        self.thread.start()

    def _loop(self) -> None:
        if self.run_on_startup:
            self.fire(datetime.now(UTC))
        previous = datetime.now(UTC)
        while True:
            # From the later of now and the last run: Event.wait may return a hair early on the wall
            # clock, and computing from "now" would then fire the same occurrence twice.
            due = next_occurrence(self.schedule, max(datetime.now(UTC), previous))
            while (remaining := (due - datetime.now(UTC)).total_seconds()) > 0:
                if self.host.stopping.wait(remaining):
                    return
            if self.host.stopping.is_set():
                return
            self.fire(due)
            previous = due

    def fire(self, due: datetime) -> None:
        with self.lock:
            now = datetime.now(UTC)
            following = next_occurrence(self.schedule, now)
            request = TimerRequest(
                past_due=(now - due).total_seconds() > 1.0,
                schedule_status={
                    "Last": (self.last or due).isoformat(),
                    "Next": following.isoformat(),
                    "LastUpdated": now.isoformat(),
                },
                schedule={"AdjustForDST": True},
            )
            self.last = now
            self.host.in_flight_timers.add(self.name)
            try:
                _invoke(self.function, request, _Context(str(uuid.uuid4()), self.name))
                log.info("timer %s ran", self.name)
            except Exception:
                log.exception("timer %s failed", self.name)
            finally:
                self.host.in_flight_timers.discard(self.name)


# -- the host ---------------------------------------------------------------------------------------------


class LocalHost:
    """The functions of one app, bound to a port, a bus file and worker threads."""

    def __init__(
        self,
        functions: list[Function],
        *,
        bus: SqliteBus,
        bus_settings: BusSettings,
        prefix: str = "api",
        timers_enabled: bool = True,
    ) -> None:
        self.functions = functions
        self.bus = bus
        self.bus_settings = bus_settings
        self.prefix = prefix.strip("/")
        self.stopping = threading.Event()
        self.in_flight: dict[str, _InFlight] = {}
        self.in_flight_timers: set[str] = set()
        self.routes: list[HttpRoute] = []
        self.listeners: list[_QueueListener] = []
        self.timers: dict[str, _TimerRunner] = {}
        self.skipped: list[str] = []
        for function in functions:
            name = function.get_function_name() or ""
            trigger = function.get_trigger()
            kind = _trigger_type(function)
            extra = _unsupported_parameters(function)
            if extra:
                log.warning("%s: parameters %s have no local binding; the call will fail", name, extra)
            if kind == "httpTrigger":
                self.routes.append(HttpRoute.of(function))
            elif kind == "serviceBusTrigger" and trigger is not None:
                queue = resolve_setting(str(getattr(trigger, "queue_name", "") or ""))
                if not queue:
                    raise ConfigError(f"{name}: only Service Bus queue triggers run locally (no topic support)")
                sessions = bool(getattr(trigger, "is_sessions_enabled", False))
                self.listeners.append(_QueueListener(self, function, queue, sessions))
            elif kind == "timerTrigger" and trigger is not None:
                schedule = resolve_setting(str(getattr(trigger, "schedule", "")))
                runner = _TimerRunner(self, function, schedule, bool(getattr(trigger, "run_on_startup", False)))
                self.timers[name] = runner
            else:
                self.skipped.append(f"{name} ({kind or 'no trigger'})")
        self.timers_enabled = timers_enabled
        self.port = 0
        # Literal segments win over parameters, as in ASP.NET routing; stable for equal precedence.
        self.routes.sort(key=lambda route: route.precedence)

    def describe(self) -> list[str]:
        lines = []
        for route in self.routes:
            methods = ",".join(sorted(route.methods)) if route.methods else "ALL"
            lines.append(f"{route.function.get_function_name()}: [{methods}] /{self._full(route.template)}")
        for listener in self.listeners:
            session = ", sessions" if listener.sessions else ""
            lines.append(f"{listener.name}: serviceBusTrigger queue {listener.queue}{session}")
        for name, timer in self.timers.items():
            state = "" if self.timers_enabled else " (disabled by LOCAL_TIMERS)"
            lines.append(f"{name}: timerTrigger {timer.schedule}{state}")
        lines.extend(f"{name}: not run locally" for name in self.skipped)
        return lines

    def _full(self, template: str) -> str:
        return "/".join(part for part in (self.prefix, template) if part)

    def start_workers(self) -> None:
        for listener in self.listeners:
            listener.start()
        if self.timers_enabled:
            for timer in self.timers.values():
                timer.start()

    def stop_workers(self, timeout: float) -> None:
        """Let running invocations finish within `timeout`; what does not is left to its lock expiry."""
        self.stopping.set()
        deadline = time.monotonic() + timeout
        threads = [thread for listener in self.listeners for thread in listener.threads if thread.is_alive()]
        threads += [timer.thread for timer in self.timers.values() if timer.thread.is_alive()]
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for flight in list(self.in_flight.values()):
            log.warning(
                "stopping with %s still running message %s (delivery %d): its lock will expire and it will "
                "be delivered again",
                flight.function,
                flight.message.message_id,
                flight.message.delivery_count,
            )
        for name in list(self.in_flight_timers):
            log.warning("stopping with timer %s still running", name)

    # HTTP

    def handle_http(self, request: Request) -> Answer:
        started = time.monotonic()
        split = urlsplit(request.target)
        path = split.path.strip("/")
        status, headers, body = self._route(request, split.query, path)
        log.info("%s /%s -> %d (%.0f ms)", request.method, path, status, (time.monotonic() - started) * 1000)
        return status, headers, body

    def _route(self, request: Request, query: str, path: str) -> Answer:
        admin = re.fullmatch(r"admin/functions/([^/]+)", path, re.IGNORECASE)
        if admin and request.method == "POST":
            return self._run_admin(admin.group(1))
        if self.prefix:
            if path.lower() != self.prefix.lower() and not path.lower().startswith(self.prefix.lower() + "/"):
                return problem(404, "Not Found", "no function serves this route")
            path = path[len(self.prefix) :].lstrip("/")
        allowed: set[str] = set()
        for route in self.routes:
            match = route.pattern.match(path)
            if match is None:
                continue
            if route.methods is not None and request.method not in route.methods:
                allowed |= route.methods
                continue
            route_params = {name: unquote(value) for name, value in match.groupdict().items() if value is not None}
            return self._call_http(route, request, query, route_params)
        if allowed:
            status, headers, refused = problem(405, "Method Not Allowed", f"allowed: {', '.join(sorted(allowed))}")
            return status, {**headers, "Allow": ", ".join(sorted(allowed))}, refused
        return problem(404, "Not Found", "no function serves this route")

    def _call_http(self, route: HttpRoute, request: Request, query: str, route_params: dict[str, str]) -> Answer:
        headers: dict[str, str] = {}
        for name, value in request.headers:
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        http_request = func.HttpRequest(
            method=request.method,
            url=f"http://{request.host}{request.target}",
            headers=headers,
            params=dict(parse_qsl(query, keep_blank_values=True)),
            route_params=route_params,
            body=request.body,
        )
        name = route.function.get_function_name() or ""
        invocation_id = str(uuid.uuid4())
        trace_parent = http_request.headers.get("traceparent", "")
        trace_state = http_request.headers.get("tracestate", "")
        try:
            result = _invoke(
                route.function,
                http_request,
                _Context(invocation_id, name, _trace_parent=trace_parent, _trace_state=trace_state),
            )
        except Exception:
            log.exception("%s failed (invocation %s)", name, invocation_id)
            return problem(500, "Internal Server Error", f"the function failed; invocation {invocation_id}")
        return _http_result(result)

    def _run_admin(self, name: str) -> tuple[int, Any, bytes]:
        """Core Tools' `POST /admin/functions/{name}`: run a timer function now."""
        for timer_name, timer in self.timers.items():
            if timer_name.lower() == name.lower():
                threading.Thread(target=timer.fire, args=(datetime.now(UTC),), daemon=True).start()
                return 202, {}, b""
        return problem(404, "Not Found", f"no timer function named {name!r}")


def _http_result(result: Any) -> tuple[int, Any, bytes]:
    if isinstance(result, func.HttpResponse):
        headers: list[tuple[str, str]] = list(result.headers.items())
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers.append(("Content-Type", f"{result.mimetype}; charset={result.charset}"))
        return result.status_code, headers, result.get_body()
    if result is None:
        return 204, {}, b""
    if isinstance(result, str | bytes):
        body = result.encode() if isinstance(result, str) else result
        return 200, {"Content-Type": "text/plain; charset=utf-8"}, body
    log.error("function returned %s, not an HttpResponse", type(result).__name__)
    return problem(500, "Internal Server Error", "the function returned no HTTP response")


# -- starting and stopping --------------------------------------------------------------------------------


@dataclass
class RunningHost:
    """A started host: `url` is http://127.0.0.1:PORT; stop() stops accepting, lets work finish, closes."""

    host: LocalHost
    server: LocalHttpServer
    url: str
    port: int
    dashboard_url: str
    state_dir: Path
    _stopped: bool = False

    @property
    def bus(self) -> SqliteBus:
        return self.host.bus

    def stop(self, timeout: float | None = None) -> None:
        if self._stopped:
            return
        self._stopped = True
        if timeout is None:
            timeout = _env_float("LOCAL_HOST_STOP_SECONDS", 30.0)
        self.host.stopping.set()  # workers take no new message
        # Requests being served are answered; then every connection closes, keep-alive ones included.
        self.server.stop(min(timeout, 10.0))
        self.host.stop_workers(timeout)
        self.host.bus.close()

    def __enter__(self) -> RunningHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _absolute(raw: str, root: Path) -> Path:
    path = Path(raw).expanduser()
    return path if path.is_absolute() else (root / path).resolve()


def start_host(
    port: int | None = None,
    *,
    app_module: str | None = None,
    root: Path = ROOT,
    bind: str = "127.0.0.1",
) -> RunningHost:
    """Load settings and the function app, then serve HTTP and run queue workers and timers.

    port None reads PORT (default 7071); 0 picks a free port. app_module None reads LOCAL_FUNCTION_APP
    (default "function_app"). LOCAL_STATE_DIR and STORES_DIR are set in os.environ as absolute paths so
    the functions find the same state; LOCAL_TIMERS=off keeps timers from running on their schedule.
    """
    load_local_settings(root)
    if port is None:
        port = _env_int("PORT", 7071)
    state_dir = _absolute(os.environ.get("LOCAL_STATE_DIR") or ".local", root)
    os.environ["LOCAL_STATE_DIR"] = str(state_dir)
    os.environ["STORES_DIR"] = str(_absolute(os.environ.get("STORES_DIR") or "config/stores", root))
    state_dir.mkdir(parents=True, exist_ok=True)

    module_name = app_module or os.environ.get("LOCAL_FUNCTION_APP") or "function_app"
    _, functions = load_function_app(module_name)
    settings = BusSettings.from_env()
    bus = SqliteBus(bus_path(state_dir), max_delivery_count=settings.max_delivery, lock_duration=settings.lock_seconds)
    timers_enabled = os.environ.get("LOCAL_TIMERS", "on").strip().lower() not in ("off", "0", "false", "no")
    host = LocalHost(
        functions, bus=bus, bus_settings=settings, prefix=route_prefix(root), timers_enabled=timers_enabled
    )

    server = LocalHttpServer(host.handle_http, bind=bind, port=port, settings=HttpSettings.from_env())
    actual_port = server.port
    host.port = actual_port
    os.environ["PORT"] = str(actual_port)
    server.start()
    host.start_workers()
    url = f"http://{bind}:{actual_port}"
    prefix = f"/{host.prefix}" if host.prefix else ""
    return RunningHost(host, server, url, actual_port, f"{url}{prefix}/dashboard", state_dir)


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> int:
    import signal

    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        running = start_host()
    except (OSError, ConfigError) as error:
        out(f"cannot start the local host: {error}")
        return 1
    from shared.bootstrap import services

    try:
        # Built now rather than on the first request, so a refused store file is said before anything else.
        refused = services().broken
    except ConfigError as error:
        running.stop()
        out(f"cannot start the local host: {error}")
        return 1
    for store_id, problems in sorted(refused.items()):
        out(f"STORE NOT LOADED: {store_id} is not served until its file is fixed (its webhooks answer 503):")
        for reason in problems:
            out(f"  {reason}")
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        if stop.is_set():  # a second Ctrl-C: the user does not want to wait
            os._exit(130)
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    out(f"Local host on {running.url} (state in {running.state_dir})")
    out("Functions:")
    for line in running.host.describe():
        out(f"  {line}")
    out(f"Dashboard: {running.dashboard_url}")
    sys.stdout.flush()
    while not stop.wait(0.5):
        pass
    out("Stopping: waiting for running functions to finish…")
    sys.stdout.flush()
    running.stop()
    out("Stopped.")
    return 0
