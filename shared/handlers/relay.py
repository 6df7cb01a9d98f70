"""The outbox relay: puts on the bus every event that intake recorded but did not see sent (the process died,
or the send failed, after the insert), then marks it sent. Runs when the host starts and on a timer, so an
event acknowledged to the store reaches the order-events queue without the store sending it again.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta

from shared.bootstrap import Services, queue_name
from shared.domain.records import EventRecord
from shared.handlers.common import log
from shared.handlers.messages import send_outgoing
from shared.ports import QueuedMessage, SendsBatches

# Younger events are most likely still in their intake's hands; sending them too would only be a repeat
# that duplicate detection drops, so the relay leaves them for the next run.
RELAY_MIN_AGE = timedelta(seconds=5)
RELAY_BATCH = 100
ANY_AGE = timedelta(days=1)  # past any clock skew between the processes that record and relay


@dataclass
class RelayResult:
    sent: int = 0
    failed: int = 0


def send_recorded(services: Services, event: EventRecord) -> bool:
    """Send an unsent event's recorded message, then clear its unsent mark. Idempotent: the message id is
    the event key, so the bus drops a repeat.

    Returns False, after logging, when the bus or the mark failed: the event stays unsent and the relay
    sends it later. Only an Exception is caught; a process that dies here leaves the mark for the relay.
    """
    if event.message is None:
        log.error("outbox event=%s store=%s is unsent but has no message", event.event_key, event.store_id)
        return False
    try:
        send_outgoing(services, event.message)
    except Exception as error:
        log.warning(
            "outbox send failed store=%s order=%s event=%s (%s); the relay sends it later",
            event.store_id,
            event.order_id,
            event.event_key,
            error.__class__.__name__,
        )
        return False
    try:
        services.state.mark_event_sent(event.store_id, event.event_key)
    except Exception as error:
        # The message is on the bus: the relay will send it once more and duplicate detection drops it.
        log.warning("outbox mark failed store=%s event=%s (%s)", event.store_id, event.event_key, type(error).__name__)
        return False
    return True


def relay_unsent_events(
    services: Services, min_age: timedelta = RELAY_MIN_AGE, batch: int = RELAY_BATCH
) -> RelayResult:
    """Send every event still marked unsent that is older than `min_age`, oldest first. Idempotent and safe
    to run on several instances at once (repeats are dropped by the bus). An event whose send fails is
    tried once per run, so one refused message cannot hold up the rest or spin the run."""
    # min_age 0 (the continuous relay): every event recorded so far, including one recorded this instant.
    cutoff = services.clock() - min_age if min_age > timedelta(0) else services.clock() + ANY_AGE
    # Relaying young events is the normal path when intake leaves sends to the relay: log it quietly.
    level = logging.DEBUG if min_age <= timedelta(0) else logging.INFO
    result = RelayResult()
    tried: set[tuple[str, str]] = set()
    while True:
        pending = [e for e in services.state.unsent_events(cutoff, batch) if (e.store_id, e.event_key) not in tried]
        tried.update((event.store_id, event.event_key) for event in pending)
        # A bus that takes a batch gets one (one write for the batch, not one per event); if the batch fails as a
        # whole, each event is tried alone, so one refused message cannot hold up the rest.
        left = pending
        if len(pending) > 1 and isinstance(services.bus, SendsBatches):
            left = _send_batch(services, pending, result, level)
        for event in left:
            if send_recorded(services, event):
                result.sent += 1
                log.log(level, "outbox relayed store=%s order=%s", event.store_id, event.order_id)
            else:
                result.failed += 1
        if not pending:
            break
    if result.failed or (result.sent and level > logging.DEBUG):
        log.warning("outbox relay sent=%d failed=%d", result.sent, result.failed)
    return result


def _send_batch(services: Services, events: list[EventRecord], result: RelayResult, level: int) -> list[EventRecord]:
    """Send the events' recorded messages in one batch, then clear their marks in one step. Returns the events
    still to try one by one: all of them when the batch was refused, none otherwise."""
    assert isinstance(services.bus, SendsBatches)
    batch = [(event, event.message) for event in events if event.message is not None]
    messages = [
        QueuedMessage(queue_name(m.queue), m.body, m.message_id, session_id=m.session_id, properties=m.properties)
        for _, m in batch
    ]
    try:
        services.bus.send_batch(messages)
    except Exception as error:
        log.warning("outbox batch of %d refused (%s); sending one by one", len(messages), type(error).__name__)
        return events
    try:
        services.state.mark_events_sent([(event.store_id, event.event_key) for event, _ in batch])
    except Exception as error:
        # The messages are on the bus: the relay sends them once more and duplicate detection drops them.
        log.warning("outbox marks of %d failed (%s)", len(batch), type(error).__name__)
        result.failed += len(batch)
    else:
        result.sent += len(batch)
        for event, _ in batch:
            log.log(level, "outbox relayed store=%s order=%s", event.store_id, event.order_id)
    return [event for event in events if event.message is None]  # send_recorded logs and counts them


def relay_until(services: Services, stop: threading.Event, idle_seconds: float = 0.02) -> None:
    """Relay without waiting for an age, again and again until `stop` is set: the local worker process runs
    this when its HTTP process leaves every send to the relay (INTAKE_SENDS=relay)."""
    while not stop.is_set():
        try:
            result = relay_unsent_events(services, min_age=timedelta(0))
        except Exception as error:  # a passing fault of the state or bus: the next round tries again
            log.warning("outbox relay round failed (%s)", type(error).__name__)
            result = RelayResult(failed=1)
        if not result.sent:
            stop.wait(idle_seconds)
