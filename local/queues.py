"""Queue listeners: worker threads that feed Service Bus trigger functions from the SQLite bus with
peek-lock, lock renewal (one renewer thread per host), exponential backoff on failure and dead-letter after
the last delivery."""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from azure.functions.decorators.function_app import Function
from azure.functions.servicebus import ServiceBusMessage

from local.config import BusSettings
from local.invocation import InvocationContext, invoke
from shared.adapters.sqlite_bus import LockLostError, ReceivedMessage, SqliteBus

log = logging.getLogger("local.host")


def backoff_delay(delivery_count: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds before a failed message is retried: base * 2^(delivery_count-1), capped, with ±20% jitter."""
    exponent = min(max(delivery_count - 1, 0), 32)
    return min(cap, base * 2**exponent) * (rng or random).uniform(0.8, 1.2)


@dataclass
class InFlight:
    function: str
    message: ReceivedMessage
    started: float


class LockRenewer:
    """Renews the peek-locks of running messages at a third of the lock duration, so a slow ERP call never lets
    a lock run out mid-invocation. One thread for every listener of a host instead of one per message."""

    def __init__(self, bus: SqliteBus) -> None:
        self.bus = bus
        self.interval = max(bus.lock_duration / 3, 0.05)
        self._changed = threading.Condition()
        # lock token -> (monotonic time of the next renewal, function name, message)
        self._due: dict[str, tuple[float, str, ReceivedMessage]] = {}
        self._renewing = threading.Lock()  # held during a renewal: forget() waits one out before the settle
        self._thread: threading.Thread | None = None

    def track(self, function: str, message: ReceivedMessage) -> None:
        with self._changed:
            self._due[message.lock_token] = (time.monotonic() + self.interval, function, message)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lock-renewer", daemon=True)
                self._thread.start()
            # No notify: the renewer already plans to wake no later than this new message falls due.

    def forget(self, message: ReceivedMessage) -> None:
        """Stop renewing; once this returns no renewal of the message is under way (it can be settled)."""
        with self._renewing, self._changed:
            self._due.pop(message.lock_token, None)

    def _run(self) -> None:
        while True:
            with self._changed:
                now = time.monotonic()
                due = [(token, function, message) for token, (at, function, message) in self._due.items() if at <= now]
                if not due:
                    wait = min((at for at, _, _ in self._due.values()), default=now + self.interval) - now
                    self._changed.wait(max(wait, 0.001))
                    continue
            for token, function, message in due:
                with self._renewing:
                    with self._changed:
                        if token not in self._due:  # settled meanwhile
                            continue
                        self._due[token] = (time.monotonic() + self.interval, function, message)
                    self._renew(token, function, message)

    def _renew(self, token: str, function: str, message: ReceivedMessage) -> None:
        try:
            self.bus.renew_lock(message)
        except LockLostError:
            log.warning("%s: lock on message %s lost while running", function, message.message_id)
            with self._changed:
                self._due.pop(token, None)
        except Exception:
            log.exception("%s: renewing the lock on message %s failed", function, message.message_id)


class QueueListener:
    """Worker threads for one Service Bus trigger; each runs one message at a time."""

    def __init__(
        self,
        function: Function,
        queue: str,
        sessions: bool,
        *,
        bus: SqliteBus,
        settings: BusSettings,
        stopping: threading.Event,
        in_flight: dict[str, InFlight],
        renewer: LockRenewer | None = None,
    ) -> None:
        self.bus = bus
        self.renewer = renewer or LockRenewer(bus)
        self.settings = settings
        self.stopping = stopping
        self.in_flight = in_flight
        self.function = function
        self.name = function.get_function_name() or ""
        self.queue = queue
        self.sessions = sessions
        self.threads = [
            threading.Thread(target=self._work, name=f"{self.name}-{number}", daemon=True)
            for number in range(settings.concurrency)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def _work(self) -> None:
        while not self.stopping.is_set():
            seen = self.bus.arrivals_seen(self.queue)
            try:
                message = self.bus.receive(self.queue)
            except Exception:
                log.exception("receive from %s failed", self.queue)
                self.stopping.wait(self.settings.poll_seconds)
                continue
            if message is None:
                # Woken at once by a send or settle in this process; the poll finds what comes due by itself.
                self.bus.wait_for_arrival(self.queue, seen, self.settings.poll_seconds)
                continue
            self._process(message)

    def wake(self) -> None:
        """Let idle workers see `stopping` now rather than at their next poll."""
        self.bus.wake_receivers(self.queue)

    def _process(self, message: ReceivedMessage) -> None:
        settings = self.settings
        key = message.lock_token
        self.in_flight[key] = InFlight(self.name, message, time.monotonic())
        self.renewer.track(self.name, message)
        invocation_id = str(uuid.uuid4())
        failure: BaseException | None = None
        try:
            invoke(
                self.function,
                service_bus_message(message),
                InvocationContext(
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
            self.renewer.forget(message)
        try:
            if failure is None:
                self.bus.complete(message)
                log.info(
                    "%s completed message %s (session %s, delivery %d)",
                    self.name,
                    message.message_id,
                    message.session_id,
                    message.delivery_count,
                )
            else:
                delay = backoff_delay(message.delivery_count, settings.backoff_base, settings.backoff_cap)
                dead = self.bus.abandon(message, delay)
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
            self.in_flight.pop(key, None)


def service_bus_message(message: ReceivedMessage) -> ServiceBusMessage:
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
