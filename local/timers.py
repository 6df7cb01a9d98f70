"""Timers for the local host: when the catch-up poll, sweeper and reconciliation run next, and the
runner that calls each timer function on its schedule (never two runs of one timer at once).

Azure Functions timers use NCRONTAB, six fields with the seconds first ("0 */5 * * * *"), or a TimeSpan
("00:05:00", App Service plans only). croniter reads the six-field form with `second_at_beginning`.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from datetime import UTC, datetime, timedelta

from azure.functions.decorators.function_app import Function
from azure.functions.timer import TimerRequest

from local.invocation import InvocationContext, invoke
from shared.errors import ConfigError

log = logging.getLogger("local.host")

_TIMESPAN = re.compile(r"^(?:(?P<days>\d+)\.)?(?P<hours>\d{1,2}):(?P<minutes>\d{2})(?::(?P<seconds>\d{2}))?$")


def next_occurrence(schedule: str, after: datetime) -> datetime:
    """The first time strictly after `after` that the schedule fires; `after` must be timezone-aware."""
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    schedule = schedule.strip()
    span = _TIMESPAN.match(schedule)
    if span is not None:
        interval = timedelta(
            days=int(span["days"] or 0),
            hours=int(span["hours"]),
            minutes=int(span["minutes"]),
            seconds=int(span["seconds"] or 0),
        )
        if interval <= timedelta(0):
            raise ValueError(f"timer schedule {schedule!r}: the interval must be positive")
        return after + interval
    fields = schedule.split()
    if len(fields) != 6:
        raise ValueError(
            f"timer schedule {schedule!r}: NCRONTAB needs six fields, seconds first (e.g. '0 */5 * * * *')"
        )
    try:
        # Imported here so a host without timer functions starts even where croniter is not installed.
        from croniter import croniter
    except ImportError as error:
        raise ValueError("timer schedules need the croniter package (requirements-dev.txt)") from error
    try:
        result = croniter(schedule, after, second_at_beginning=True).get_next(datetime)
    except (ValueError, KeyError) as error:
        raise ValueError(f"timer schedule {schedule!r}: {error}") from error
    assert isinstance(result, datetime)
    return result


class TimerRunner:
    """One timer-trigger function on its schedule in its own thread; `fire` runs it now."""

    def __init__(
        self,
        function: Function,
        schedule: str,
        run_on_startup: bool,
        *,
        stopping: threading.Event,
        in_flight: set[str],
    ) -> None:
        self.stopping = stopping
        self.in_flight = in_flight
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
                if self.stopping.wait(remaining):
                    return
            if self.stopping.is_set():
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
            self.in_flight.add(self.name)
            try:
                invoke(self.function, request, InvocationContext(str(uuid.uuid4()), self.name))
                log.info("timer %s ran", self.name)
            except Exception:
                log.exception("timer %s failed", self.name)
            finally:
                self.in_flight.discard(self.name)
