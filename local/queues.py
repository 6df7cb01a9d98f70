"""Queue listeners: worker threads that feed Service Bus trigger functions from the SQLite bus with
peek-lock, lock renewal, exponential backoff on failure and dead-letter after the last delivery."""

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
    ) -> None:
        self.bus = bus
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
            try:
                message = self.bus.receive(self.queue)
            except Exception:
                log.exception("receive from %s failed", self.queue)
                message = None
            if message is None:
                self.stopping.wait(self.settings.poll_seconds)
                continue
            self._process(message)

    def _process(self, message: ReceivedMessage) -> None:
        settings = self.settings
        key = message.lock_token
        self.in_flight[key] = InFlight(self.name, message, time.monotonic())
        done = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(message, done), name=f"{self.name}-renew", daemon=True)
        renewer.start()
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
            done.set()
            renewer.join()
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

    def _renew(self, message: ReceivedMessage, done: threading.Event) -> None:
        # Renew at a third of the lock so a slow ERP call never lets the lock run out mid-invocation.
        interval = max(self.bus.lock_duration / 3, 0.05)
        while not done.wait(interval):
            try:
                self.bus.renew_lock(message)
            except LockLostError:
                log.warning("%s: lock on message %s lost while running", self.name, message.message_id)
                return
            except Exception:
                log.exception("%s: renewing the lock on message %s failed", self.name, message.message_id)


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
