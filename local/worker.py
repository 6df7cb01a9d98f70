"""The worker process of `make run`: queue listeners and timers on the same state and bus files as the
HTTP process that started it. It dies with its parent, so a killed host leaves no orphan working on."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from dataclasses import dataclass

from local.host import configure_logging, start_host, wait_for_signal
from shared.errors import ConfigError

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies (SIGKILL of the host, as in the chaos runs);
    elsewhere the tick in main() notices the parent is gone."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request above took effect
        os._exit(1)


def yield_to_intake() -> None:
    """Lower this process's CPU priority (LOCAL_WORKER_NICE, default 10; 0 keeps it): when both are busy
    the HTTP process answers webhooks first and the pipeline drains with the CPU left over."""
    raw = os.environ.get("LOCAL_WORKER_NICE", "10").strip() or "10"
    try:
        increment = int(raw)
    except ValueError as error:
        raise ConfigError(f"LOCAL_WORKER_NICE={raw!r} is not a whole number") from error
    if increment > 0:
        os.nice(increment)


def main(argv: list[str]) -> int:
    parent = int(argv[0]) if argv else os.getppid()
    die_with_parent(parent)
    configure_logging()
    # Workers per queue. 8 drained fastest while workers slept in SQLite's busy handler and between polls; with
    # those waits gone the threads only contend for the GIL, and 4 drains faster on 2 cores (3,000 orders:
    # 130-142 orders/s against 103-108 with 6 to 8) while leaving room for a slow ERP call (docs/local-host.md).
    os.environ.setdefault("LOCAL_BUS_CONCURRENCY", "4")
    try:
        yield_to_intake()
        running = start_host(serve_http=False)
        relay = start_relay()
    except (OSError, ConfigError) as error:
        print(f"cannot start the worker process: {error}", flush=True)
        return 1

    def parent_alive() -> None:
        if os.getppid() != parent:
            os._exit(1)

    wait_for_signal(parent_alive)
    if relay is not None:
        relay.stop.set()
        relay.thread.join(10)
    running.stop()
    return 0


@dataclass
class _Relay:
    stop: threading.Event
    thread: threading.Thread


def start_relay() -> _Relay | None:
    """When the HTTP process leaves every send to the relay (INTAKE_SENDS=relay), relay here continuously,
    so an acknowledged webhook reaches the order-events queue within milliseconds."""
    from shared.bootstrap import services
    from shared.handlers.relay import relay_until

    found = services()
    if found.intake_sends:
        return None
    stop = threading.Event()
    thread = threading.Thread(target=relay_until, args=(found, stop), name="outbox-relay", daemon=True)
    thread.start()
    return _Relay(stop, thread)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
