"""The SQLite bus keeps the Service Bus semantics the handlers rely on (real SQLite, fake clock)."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.sqlite_bus import MAX_DELIVERY_COUNT_EXCEEDED, LockLostError, SqliteBus, bus_path
from shared.ports import QueuedMessage

QUEUE = "order-events"


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def bus(tmp_path: Path, clock: FakeClock) -> SqliteBus:
    bus = SqliteBus(bus_path(tmp_path), max_delivery_count=3, lock_duration=30.0, duplicate_window=600.0, clock=clock)
    yield bus
    bus.close()


def order_event(order_id: str, sku: str = "BLUE-MUG-350ML") -> bytes:
    return json.dumps({"store_id": "demo-woo", "order_id": order_id, "lines": [{"sku": sku, "qty": 2}]}).encode()


def test_send_then_receive_carries_every_field(bus: SqliteBus, clock: FakeClock) -> None:
    bus.send(
        QUEUE,
        order_event("1001"),
        message_id="demo-woo:1001:2025-03-14T09:29:58",
        session_id="demo-woo/1001",
        properties={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
    )

    message = bus.receive(QUEUE)

    assert message is not None
    assert message.message_id == "demo-woo:1001:2025-03-14T09:29:58"
    assert message.session_id == "demo-woo/1001"
    assert json.loads(message.body)["lines"][0]["sku"] == "BLUE-MUG-350ML"
    assert message.properties == {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    assert message.delivery_count == 1
    assert message.enqueued_at == clock.now
    assert message.locked_until == clock.now + timedelta(seconds=30)
    assert bus.receive(QUEUE) is None, "a locked message is not handed out twice"


def test_duplicate_send_within_window_is_dropped(bus: SqliteBus, clock: FakeClock) -> None:
    bus.send(QUEUE, order_event("1001"), message_id="evt-1001")
    clock.advance(599)
    bus.send(QUEUE, order_event("1001"), message_id="evt-1001")

    assert bus.stats(QUEUE).active == 1


def test_duplicate_send_after_window_is_accepted(bus: SqliteBus, clock: FakeClock) -> None:
    bus.send(QUEUE, order_event("1001"), message_id="evt-1001")
    clock.advance(601)
    bus.send(QUEUE, order_event("1001"), message_id="evt-1001")

    assert bus.stats(QUEUE).active == 2


def test_duplicate_window_counts_from_first_send_and_is_per_queue(bus: SqliteBus, clock: FakeClock) -> None:
    bus.send(QUEUE, b"a", message_id="evt-1")
    clock.advance(400)
    bus.send(QUEUE, b"a", message_id="evt-1")  # dropped; does not extend the window
    bus.send("invoice-requests", b"a", message_id="evt-1")  # another queue has its own ids
    clock.advance(201)
    bus.send(QUEUE, b"a", message_id="evt-1")

    assert bus.stats(QUEUE).active == 2
    assert bus.stats("invoice-requests").active == 1


def test_batch_drops_repeats_as_single_sends_do(bus: SqliteBus, clock: FakeClock) -> None:
    bus.send(QUEUE, order_event("1001"), message_id="evt-1001")
    clock.advance(10)
    bus.send_batch(
        [
            QueuedMessage(QUEUE, order_event("1001"), "evt-1001", session_id="demo-woo/1001"),  # sent before
            QueuedMessage(QUEUE, order_event("1002"), "evt-1002", session_id="demo-woo/1002"),
            QueuedMessage(QUEUE, order_event("1002"), "evt-1002", session_id="demo-woo/1002"),  # twice in the batch
            QueuedMessage("invoice-requests", b"{}", "evt-1002", properties={"type": "issue_invoice"}),  # other queue
        ]
    )

    assert bus.stats(QUEUE).active == 2 and bus.stats("invoice-requests").active == 1
    first, second = bus.receive(QUEUE), bus.receive(QUEUE)
    assert first is not None and second is not None
    assert (second.message_id, second.session_id, second.enqueued_at) == ("evt-1002", "demo-woo/1002", clock.now)
    invoice = bus.receive("invoice-requests")
    assert invoice is not None and invoice.properties == {"type": "issue_invoice"}
    clock.advance(595)
    bus.send(QUEUE, order_event("1002"), message_id="evt-1002")  # the batch's send counts for the window
    assert bus.stats(QUEUE).active == 2  # the two received ones, their locks run out by now; no third


def test_batch_is_sent_whole_or_not_at_all(bus: SqliteBus) -> None:
    with pytest.raises(ValueError, match="message_id"):
        bus.send_batch([QueuedMessage(QUEUE, b"{}", "evt-1001"), QueuedMessage(QUEUE, b"{}", "")])

    assert bus.stats(QUEUE).active == 0
    bus.send(QUEUE, b"{}", message_id="evt-1001")  # not remembered as sent either
    assert bus.stats(QUEUE).active == 1


def test_a_send_wakes_a_receiver_waiting_in_this_process(tmp_path: Path) -> None:
    receiving = SqliteBus(bus_path(tmp_path))
    sending = SqliteBus(bus_path(tmp_path))  # handlers send through their own object on the same file
    seen = receiving.arrivals_seen(QUEUE)
    assert receiving.receive(QUEUE) is None
    woke: list[float] = []

    def wait() -> None:
        started = time.monotonic()
        receiving.wait_for_arrival(QUEUE, seen, timeout=120)
        woke.append(time.monotonic() - started)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.1)
    sending.send(QUEUE, b"{}", message_id="evt-1001")
    waiter.join(120)

    # Far below the 120 s it would have slept without a wake-up, whatever the machine's load.
    assert woke and woke[0] < 60, "the receiver slept through the send"
    assert receiving.receive(QUEUE) is not None
    receiving.wait_for_arrival(QUEUE, seen, timeout=10)  # a send since `seen`: returns at once
    receiving.close()
    sending.close()


def test_complete_removes_the_message(bus: SqliteBus) -> None:
    bus.send(QUEUE, order_event("1001"), message_id="evt-1001")
    message = bus.receive(QUEUE)
    assert message is not None

    bus.complete(message)

    assert bus.stats(QUEUE) == bus.stats(QUEUE).__class__(0, 0, 0, 0, 0.0)
    assert bus.receive(QUEUE) is None


def test_lock_expiry_redelivers_with_higher_delivery_count(bus: SqliteBus, clock: FakeClock) -> None:
    bus.send(QUEUE, order_event("1001"), message_id="evt-1001")
    first = bus.receive(QUEUE)
    assert first is not None
    clock.advance(29)
    assert bus.receive(QUEUE) is None, "still locked"

    clock.advance(2)
    second = bus.receive(QUEUE)

    assert second is not None
    assert second.message_id == "evt-1001"
    assert second.delivery_count == 2
    assert second.lock_token != first.lock_token


def test_stale_lock_token_cannot_complete(bus: SqliteBus, clock: FakeClock) -> None:
    bus.send(QUEUE, order_event("1001"), message_id="evt-1001")
    stale = bus.receive(QUEUE)
    assert stale is not None
    clock.advance(31)
    fresh = bus.receive(QUEUE)
    assert fresh is not None

    with pytest.raises(LockLostError):
        bus.complete(stale)
    bus.complete(fresh)
    assert bus.stats(QUEUE).locked == 0


def test_expired_lock_cannot_complete_even_if_nobody_took_it(bus: SqliteBus, clock: FakeClock) -> None:
    bus.send(QUEUE, order_event("1001"), message_id="evt-1001")
    message = bus.receive(QUEUE)
    assert message is not None
    clock.advance(31)

    with pytest.raises(LockLostError):
        bus.complete(message)
    assert bus.stats(QUEUE).active == 1


def test_renew_lock_keeps_the_message_from_redelivery(bus: SqliteBus, clock: FakeClock) -> None:
    bus.send(QUEUE, order_event("1001"), message_id="evt-1001")
    message = bus.receive(QUEUE)
    assert message is not None
    clock.advance(20)

    locked_until = bus.renew_lock(message)
    clock.advance(20)

    assert locked_until == message.locked_until == clock.now + timedelta(seconds=10)
    assert bus.receive(QUEUE) is None
    bus.complete(message)


def test_renew_after_lock_lost_raises(bus: SqliteBus, clock: FakeClock) -> None:
    bus.send(QUEUE, order_event("1001"), message_id="evt-1001")
    message = bus.receive(QUEUE)
    assert message is not None
    clock.advance(31)

    with pytest.raises(LockLostError):
        bus.renew_lock(message)


def test_abandon_with_delay_hides_the_message_until_the_delay_passes(bus: SqliteBus, clock: FakeClock) -> None:
    bus.send(QUEUE, order_event("1001"), message_id="evt-1001")
    message = bus.receive(QUEUE)
    assert message is not None

    assert bus.abandon(message, delay_seconds=4.0) is False
    clock.advance(3.9)
    assert bus.receive(QUEUE) is None
    clock.advance(0.2)
    again = bus.receive(QUEUE)

    assert again is not None
    assert again.delivery_count == 2


def test_failing_on_last_allowed_delivery_dead_letters_with_reason(bus: SqliteBus, clock: FakeClock) -> None:
    bus.send(QUEUE, order_event("1001"), message_id="evt-1001", session_id="demo-woo/1001")
    outcomes = []
    for _ in range(3):
        message = bus.receive(QUEUE)
        assert message is not None
        outcomes.append(bus.abandon(message))

    assert outcomes == [False, False, True]
    assert bus.receive(QUEUE) is None
    [dead] = bus.list_dead_letters(QUEUE)
    assert dead.message_id == "evt-1001"
    assert dead.session_id == "demo-woo/1001"
    assert dead.reason == MAX_DELIVERY_COUNT_EXCEEDED
    assert dead.delivery_count == 3
    assert bus.stats(QUEUE).dead_lettered == 1


def test_lock_expiry_on_last_allowed_delivery_dead_letters(bus: SqliteBus, clock: FakeClock) -> None:
    bus.send(QUEUE, order_event("1001"), message_id="evt-1001")
    for _ in range(3):
        assert bus.receive(QUEUE) is not None
        clock.advance(31)  # the worker died: the lock just runs out

    assert bus.receive(QUEUE) is None
    assert [dead.reason for dead in bus.list_dead_letters(QUEUE)] == [MAX_DELIVERY_COUNT_EXCEEDED]


def test_explicit_dead_letter_keeps_reason_and_description(bus: SqliteBus) -> None:
    bus.send(QUEUE, b"not json", message_id="evt-1001")
    message = bus.receive(QUEUE)
    assert message is not None

    bus.dead_letter(message, "MalformedEvent", "body is not JSON")

    [dead] = bus.list_dead_letters(QUEUE)
    assert (dead.reason, dead.description, dead.body) == ("MalformedEvent", "body is not JSON", b"not json")
    with pytest.raises(LockLostError):
        bus.complete(message)


def test_resubmit_dead_letter_replays_with_fresh_delivery_count(bus: SqliteBus, clock: FakeClock) -> None:
    bus.send(QUEUE, order_event("1001"), message_id="evt-1001", properties={"store_id": "demo-woo"})
    message = bus.receive(QUEUE)
    assert message is not None
    bus.dead_letter(message, "TargetRefused", "ERP rejected the tax id")
    [dead] = bus.list_dead_letters(QUEUE)

    new_sequence = bus.resubmit_dead_letter(QUEUE, dead.sequence_number)
    replayed = bus.receive(QUEUE)

    assert replayed is not None
    assert replayed.sequence_number == new_sequence != dead.sequence_number
    assert (replayed.message_id, replayed.delivery_count) == ("evt-1001", 1)
    assert replayed.properties == {"store_id": "demo-woo"}
    assert bus.list_dead_letters(QUEUE) == []
    with pytest.raises(KeyError):
        bus.resubmit_dead_letter(QUEUE, dead.sequence_number)


def test_session_delivers_in_order_and_one_at_a_time(bus: SqliteBus) -> None:
    for step in ("created", "paid", "completed"):
        bus.send(QUEUE, step.encode(), message_id=f"1001-{step}", session_id="demo-woo/1001")

    first = bus.receive(QUEUE)
    assert first is not None and first.body == b"created"
    assert bus.receive(QUEUE) is None, "the session has a message in flight"
    bus.complete(first)
    second = bus.receive(QUEUE)
    assert second is not None and second.body == b"paid"
    bus.complete(second)
    third = bus.receive(QUEUE)
    assert third is not None and third.body == b"completed"


def test_session_head_backing_off_blocks_the_rest_of_its_session(bus: SqliteBus, clock: FakeClock) -> None:
    bus.send(QUEUE, b"created", message_id="1001-created", session_id="demo-woo/1001")
    bus.send(QUEUE, b"paid", message_id="1001-paid", session_id="demo-woo/1001")
    head = bus.receive(QUEUE)
    assert head is not None
    bus.abandon(head, delay_seconds=10)

    assert bus.receive(QUEUE) is None, "'paid' must not overtake 'created'"
    clock.advance(10)
    again = bus.receive(QUEUE)
    assert again is not None and again.body == b"created"


def test_different_sessions_are_delivered_in_parallel(bus: SqliteBus) -> None:
    bus.send(QUEUE, b"created", message_id="1001-created", session_id="demo-woo/1001")
    bus.send(QUEUE, b"paid", message_id="1001-paid", session_id="demo-woo/1001")
    bus.send(QUEUE, b"created", message_id="1002-created", session_id="demo-woo/1002")

    first = bus.receive(QUEUE)
    second = bus.receive(QUEUE)

    assert first is not None and second is not None
    assert {first.session_id, second.session_id} == {"demo-woo/1001", "demo-woo/1002"}
    assert bus.receive(QUEUE) is None
    assert bus.stats(QUEUE).locked == 2


def test_scheduled_message_is_invisible_until_due(bus: SqliteBus, clock: FakeClock) -> None:
    bus.send(QUEUE, b"sweep", message_id="sweep-1", scheduled_at=clock.now + timedelta(minutes=5))

    assert bus.receive(QUEUE) is None
    assert bus.stats(QUEUE).scheduled == 1
    clock.advance(299)
    assert bus.receive(QUEUE) is None
    clock.advance(1)
    message = bus.receive(QUEUE)
    assert message is not None
    assert message.enqueued_at == clock.now


def test_scheduled_message_does_not_block_its_session(bus: SqliteBus, clock: FakeClock) -> None:
    bus.send(QUEUE, b"later", message_id="1001-later", session_id="s", scheduled_at=clock.now + timedelta(hours=1))
    bus.send(QUEUE, b"now", message_id="1001-now", session_id="s")

    message = bus.receive(QUEUE)

    assert message is not None and message.body == b"now"


def test_stats_count_each_state_and_age_of_oldest(bus: SqliteBus, clock: FakeClock) -> None:
    bus.send(QUEUE, b"1", message_id="m1")
    clock.advance(60)
    bus.send(QUEUE, b"2", message_id="m2")
    bus.send(QUEUE, b"3", message_id="m3")
    bus.send(QUEUE, b"4", message_id="m4", scheduled_at=clock.now + timedelta(hours=1))
    locked = bus.receive(QUEUE)
    dead = bus.receive(QUEUE)
    assert locked is not None and dead is not None
    bus.dead_letter(dead, "Test")
    clock.advance(15)

    stats = bus.stats(QUEUE)

    assert (stats.active, stats.scheduled, stats.locked, stats.dead_lettered) == (1, 1, 1, 1)
    assert stats.oldest_enqueued_age_seconds == pytest.approx(75.0)
    assert bus.queues() == [QUEUE]


def test_naive_scheduled_time_is_refused(bus: SqliteBus) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        bus.send(QUEUE, b"x", message_id="m1", scheduled_at=datetime(2025, 3, 14, 10, 0))


def _drain(path: str, start: Any, results: Any) -> None:
    bus = SqliteBus(Path(path), lock_duration=60.0)
    start.wait(30)
    taken = []
    while (message := bus.receive(QUEUE)) is not None:
        taken.append(message.message_id)
        time.sleep(0.001)  # hold the lock a moment, as a real handler would
        bus.complete(message)
    bus.close()
    results.put(taken)


def test_receivers_in_two_processes_never_get_the_same_message(tmp_path: Path) -> None:
    path = bus_path(tmp_path)
    sender = SqliteBus(path)
    for number in range(300):
        sender.send(QUEUE, order_event(str(2000 + number)), message_id=f"evt-{number}")
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    results = context.Queue()
    workers = [context.Process(target=_drain, args=(str(path), start, results)) for _ in range(2)]

    for worker in workers:
        worker.start()
    start.set()
    taken = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)

    everything = taken[0] + taken[1]
    assert len(everything) == 300
    assert len(set(everything)) == 300, "a message was delivered to both processes"
    assert all(taken), "both processes should have received messages concurrently"
    assert sender.stats(QUEUE).active == 0
    sender.close()
