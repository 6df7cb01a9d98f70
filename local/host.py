"""Local host: drives the function objects registered in function_app.py on one machine, no Core Tools.

HTTP triggers are served on 127.0.0.1 (local/http_functions.py on waitress), Service Bus triggers are fed
from the SQLite bus (local/queues.py) and timer triggers run on their schedule (local/timers.py). `make run`
serves HTTP in this process and runs queues and timers in a worker process (local/worker.py), so that
acknowledging a webhook never waits for pipeline work; `start_host()` runs all of it in one process.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from azure.functions.decorators.function_app import Function

from local.config import ROOT, BusSettings, env_float, env_int, resolve_setting, route_prefix
from local.http_functions import HttpFunctions
from local.http_server import Answer, HttpSettings, LocalHttpServer, Request
from local.invocation import load_function_app, trigger_type, unsupported_parameters
from local.queues import InFlight, LockRenewer, QueueListener
from local.settings import load_local_settings
from local.timers import TimerRunner
from shared.adapters.sqlite_bus import SqliteBus, bus_path
from shared.errors import ConfigError

log = logging.getLogger("local.host")


class LocalHost:
    """The functions of one app: HTTP routes under a prefix, queue listeners on a bus file, timers."""

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
        self.stopping = threading.Event()
        self.in_flight: dict[str, InFlight] = {}
        self.in_flight_timers: set[str] = set()
        self.listeners: list[QueueListener] = []
        renewer = LockRenewer(bus)
        self.timers: dict[str, TimerRunner] = {}
        self.skipped: list[str] = []
        http_functions: list[Function] = []
        for function in functions:
            name = function.get_function_name() or ""
            trigger = function.get_trigger()
            kind = trigger_type(function)
            extra = unsupported_parameters(function)
            if extra:
                log.warning("%s: parameters %s have no local binding; the call will fail", name, extra)
            if kind == "httpTrigger":
                http_functions.append(function)
            elif kind == "serviceBusTrigger" and trigger is not None:
                queue = resolve_setting(str(getattr(trigger, "queue_name", "") or ""))
                if not queue:
                    raise ConfigError(f"{name}: only Service Bus queue triggers run locally (no topic support)")
                sessions = bool(getattr(trigger, "is_sessions_enabled", False))
                self.listeners.append(
                    QueueListener(
                        function,
                        queue,
                        sessions,
                        bus=bus,
                        settings=bus_settings,
                        stopping=self.stopping,
                        in_flight=self.in_flight,
                        renewer=renewer,
                    )
                )
            elif kind == "timerTrigger" and trigger is not None:
                schedule = resolve_setting(str(getattr(trigger, "schedule", "")))
                self.timers[name] = TimerRunner(
                    function,
                    schedule,
                    bool(getattr(trigger, "run_on_startup", False)),
                    stopping=self.stopping,
                    in_flight=self.in_flight_timers,
                )
            else:
                self.skipped.append(f"{name} ({kind or 'no trigger'})")
        self.http = HttpFunctions(http_functions, prefix, self.run_timer_now)
        self.prefix = self.http.prefix
        self.timers_enabled = timers_enabled
        self.port = 0

    def describe(self) -> list[str]:
        lines = []
        for route in self.http.routes:
            methods = ",".join(sorted(route.methods)) if route.methods else "ALL"
            lines.append(f"{route.function.get_function_name()}: [{methods}] /{self.http.full_path(route.template)}")
        for listener in self.listeners:
            session = ", sessions" if listener.sessions else ""
            lines.append(f"{listener.name}: serviceBusTrigger queue {listener.queue}{session}")
        for name, timer in self.timers.items():
            state = "" if self.timers_enabled else " (disabled by LOCAL_TIMERS)"
            lines.append(f"{name}: timerTrigger {timer.schedule}{state}")
        lines.extend(f"{name}: not run locally" for name in self.skipped)
        return lines

    def handle_http(self, request: Request) -> Answer:
        return self.http.handle(request)

    def run_timer_now(self, name: str) -> bool:
        """Start a timer function now in its own thread; False when no timer has that name."""
        for timer_name, timer in self.timers.items():
            if timer_name.lower() == name.lower():
                threading.Thread(target=timer.fire, args=(datetime.now(UTC),), daemon=True).start()
                return True
        return False

    def start_workers(self) -> None:
        for listener in self.listeners:
            listener.start()
        if self.timers_enabled:
            for timer in self.timers.values():
                timer.start()

    def stop_workers(self, timeout: float) -> None:
        """Let running invocations finish within `timeout`; what does not is left to its lock expiry."""
        self.stopping.set()
        for listener in self.listeners:
            listener.wake()
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


@dataclass
class RunningHost:
    """A started host: `url` is http://127.0.0.1:PORT; stop() stops accepting, lets work finish, closes.
    A worker-only host (serve_http=False) has no server and an empty url."""

    host: LocalHost
    server: LocalHttpServer | None
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
            timeout = env_float("LOCAL_HOST_STOP_SECONDS", 30.0)
        self.host.stopping.set()  # workers take no new message
        if self.server is not None:
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
    serve_http: bool = True,
    run_workers: bool = True,
) -> RunningHost:
    """Load settings and the function app, then serve HTTP and run queue workers and timers.

    port None reads PORT (default 7071); 0 picks a free port. app_module None reads LOCAL_FUNCTION_APP
    (default "function_app"). LOCAL_STATE_DIR and STORES_DIR are set in os.environ as absolute paths so
    the functions find the same state; LOCAL_TIMERS=off keeps timers from running on their schedule.
    serve_http / run_workers pick the HTTP and the worker half (both by default: one process).
    """
    load_local_settings(root)
    if port is None:
        port = env_int("PORT", 7071)
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
    server: LocalHttpServer | None = None
    url = dashboard_url = ""
    if serve_http:
        server = LocalHttpServer(host.handle_http, bind=bind, port=port, settings=HttpSettings.from_env())
        port = host.port = server.port
        os.environ["PORT"] = str(port)
        server.start()
        url = f"http://{bind}:{port}"
        prefix = f"/{host.prefix}" if host.prefix else ""
        dashboard_url = f"{url}{prefix}/dashboard"
    if run_workers:
        host.start_workers()
    return RunningHost(host, server, url, port, dashboard_url, state_dir)


def worker_process_wanted() -> bool:
    """LOCAL_WORKERS=process (default): queues and timers in a second process; thread: all in one."""
    value = os.environ.get("LOCAL_WORKERS", "process").strip().lower()
    if value not in ("process", "thread"):
        raise ConfigError(f"LOCAL_WORKERS={value!r}: use process or thread")
    return value == "process"


class WorkerProcess:
    """The queue and timer half of `make run` as a child process; started again if it dies."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # The child inherits the environment start_host() completed (absolute state dir and stores folder).
        self.process = subprocess.Popen([sys.executable, "-m", "local.worker", str(os.getpid())], cwd=ROOT)

    def check(self, out: Callable[[str], None]) -> None:
        if self.process is not None and self.process.poll() is not None:
            out(f"worker process exited with {self.process.returncode}; starting it again")
            self.start()

    def stop(self, timeout: float) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def wait_for_signal(on_tick: Callable[[], None] = lambda: None) -> None:
    """Block until SIGINT or SIGTERM; a second one exits at once (the user does not want to wait)."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        if stop.is_set():
            os._exit(130)
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    while not stop.wait(0.5):
        on_tick()


def configure_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> int:
    configure_logging()
    try:
        separate = worker_process_wanted()
        if separate:
            # Acknowledging a webhook costs one insert here; the worker process relays the queue messages.
            os.environ.setdefault("INTAKE_SENDS", "relay")
        running = start_host(run_workers=not separate)
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
    worker = WorkerProcess()
    if separate:
        worker.start()
    out(f"Local host on {running.url} (state in {running.state_dir})")
    if separate:
        out("Queues and timers run in a worker process (LOCAL_WORKERS=thread keeps them in this one)")
    out("Functions:")
    for line in running.host.describe():
        out(f"  {line}")
    out(f"Dashboard: {running.dashboard_url}")
    sys.stdout.flush()
    wait_for_signal(lambda: worker.check(out))
    out("Stopping: waiting for running functions to finish…")
    sys.stdout.flush()
    timeout = env_float("LOCAL_HOST_STOP_SECONDS", 30.0)
    running.stop(timeout)
    worker.stop(timeout + 5)
    out("Stopped.")
    return 0
