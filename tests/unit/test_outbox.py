"""Acknowledged means processed: intake records the event and its message together (the outbox), and the
relay sends what intake did not. Crashes are injected between every intake step (record, send, mark); the
restart is a new process on the same state file and the same bus, and the store never sends again.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from azure.functions.timer import TimerRequest

from shared.adapters.sqlite_state import SqliteStateStore
from shared.bootstrap import Services, override_services
from shared.domain.order import OrderState
from shared.errors import RetryableError
from shared.handlers.intake import receive_webhook
from shared.handlers.relay import RELAY_MIN_AGE, relay_unsent_events
from tests.support import Crash, FakeTarget, crash_after, fixture_json, http_status, make_services, webhook_headers

WOO = "demo-woo"
LATER = RELAY_MIN_AGE + timedelta(seconds=1)


@pytest.fixture
def target() -> FakeTarget:
    return FakeTarget()


@pytest.fixture
def services(tmp_path: Path, target: FakeTarget) -> Services:
    return make_services(tmp_path, target)


def woo_order(order_id: int = 5123) -> bytes:
    order = fixture_json("woocommerce", "order_created")
    order.update(id=order_id, number=str(order_id))
    return json.dumps(order).encode()


def deliver(services: Services, body: bytes) -> int:
    return http_status(
        receive_webhook(services, "woocommerce", WOO, body, webhook_headers("woocommerce", "order.created", body))
    )


def restarted(services: Services, after: timedelta = LATER) -> Services:
    """A new process after a kill: the state file and the bus (Service Bus) survive, nothing in memory does."""
    now = services.clock() + after
    return replace(services, state=SqliteStateStore(services.state_dir / "state.db"), clock=lambda: now)


def unsent(services: Services) -> list[str]:
    return [event.order_id for event in services.state.unsent_events(services.clock() + timedelta(days=1))]


def invoices(services: Services, order_id: str = "5123") -> list[tuple[str, Decimal]]:
    record = services.state.get_order(WOO, order_id)
    assert record is not None
    return [(doc.number, doc.total) for doc in record.documents]


class RefusingBus:
    """The bus down: every send fails as Service Bus does when it cannot be reached."""

    def __init__(self, bus: Any, refuse: Any = lambda message_id: True) -> None:
        self.bus, self.refuse, self.refused = bus, refuse, []

    def send(self, queue: str, body: bytes, **kwargs: Any) -> None:
        if self.refuse(kwargs["message_id"]):
            self.refused.append(kwargs["message_id"])
            raise RetryableError("Service Bus unreachable")
        self.bus.send(queue, body, **kwargs)


# -- a kill between every two intake steps -----------------------------------------------------------

INTAKE_STEPS = [
    # (object, method): the step after which the process dies, before intake answers the store
    ("state", "record_event"),  # recorded, nothing sent
    ("bus", "send"),  # on the bus, still marked unsent
    ("state", "mark_event_sent"),  # on the bus and marked sent
]


@pytest.mark.parametrize(("owner", "method"), INTAKE_STEPS)
def test_kill_after_any_intake_step_then_restart_invoices_the_order_once(services, target, monkeypatch, owner, method):
    crashed = crash_after(getattr(services, owner), method, monkeypatch)
    with pytest.raises(Crash):
        deliver(services, woo_order())
    assert crashed
    after = restarted(services)
    relay_unsent_events(after)  # the relay's run at host start; the store never sends again
    after.bus.drain(after)
    assert after.state.get_order(WOO, "5123").state == OrderState.INVOICED
    assert invoices(after) == [("INV-000001", Decimal("53.97"))] and target.calls == 1
    assert unsent(after) == []


def test_kill_between_recording_and_sending_is_relayed_at_restart(services, target, monkeypatch):
    crash_after(services.state, "record_event", monkeypatch)
    with pytest.raises(Crash):
        deliver(services, woo_order())
    [event] = services.state.unsent_events(services.clock() + LATER)
    assert services.bus.messages == []
    after = restarted(services)
    assert relay_unsent_events(after).sent == 1
    # The message id is the event key, so a relay racing a late intake send is a dropped duplicate.
    assert [m.message_id for m in after.bus.messages] == [event.event_key]
    assert unsent(after) == []


def test_failed_send_after_the_record_is_still_accepted_and_the_relay_sends_it(services, target):
    bus = services.bus
    services.bus = RefusingBus(bus)
    assert deliver(services, woo_order()) == 202
    assert bus.messages == [] and unsent(services) == ["5123"]
    services.bus = bus  # Service Bus is back
    after = restarted(services)
    assert relay_unsent_events(after).sent == 1
    bus.drain(after)
    assert invoices(after) == [("INV-000001", Decimal("53.97"))] and target.calls == 1


def test_repeat_of_a_still_unsent_event_sends_it(services, target):
    bus = services.bus
    services.bus = RefusingBus(bus)
    assert deliver(services, woo_order()) == 202
    services.bus = bus
    assert deliver(services, woo_order()) == 200  # a resend, or the catch-up poll finding the order
    assert len(bus.messages) == 1 and unsent(services) == []
    bus.drain(services)
    assert invoices(services) == [("INV-000001", Decimal("53.97"))]


def test_repeat_of_a_sent_event_sends_nothing(services, monkeypatch):
    assert deliver(services, woo_order()) == 202
    sends: list[str] = []
    original = services.bus.send
    monkeypatch.setattr(services.bus, "send", lambda *a, **k: sends.append(k["message_id"]) or original(*a, **k))
    assert deliver(services, woo_order()) == 200
    assert sends == []


def test_relay_leaves_events_younger_than_a_few_seconds_to_their_intake(services):
    services.bus = RefusingBus(services.bus)
    deliver(services, woo_order())
    services.bus = services.bus.bus
    assert relay_unsent_events(restarted(services, after=timedelta(seconds=1))).sent == 0
    assert unsent(services) == ["5123"]
    assert relay_unsent_events(restarted(services)).sent == 1


def test_relay_sends_the_rest_when_one_message_is_refused_and_tries_that_one_once(services):
    bus = services.bus
    services.bus = RefusingBus(bus)
    for order_id in (5123, 5124, 5125):
        deliver(services, woo_order(order_id))
    services.bus = refusing = RefusingBus(bus, refuse=lambda message_id: ":5124:" in message_id)
    result = relay_unsent_events(restarted(services))
    assert (result.sent, result.failed) == (2, 1)
    assert [m.session_id for m in bus.messages] == ["demo-woo/5123", "demo-woo/5125"]
    assert unsent(services) == ["5124"] and len(refusing.refused) == 1  # tried once in this run, no spinning


def test_relay_timer_function_runs_the_relay(services, target):
    import function_app
    from local.registry import registered_functions

    timer = registered_functions(function_app.app)["relay_unsent_events"]
    assert timer.get_trigger().get_dict_repr()["runOnStartup"] is True
    bus = services.bus
    services.bus = RefusingBus(bus)
    deliver(services, woo_order())
    override_services(restarted(replace(services, bus=bus)))
    try:
        timer.get_user_function()(TimerRequest(past_due=False))
    finally:
        override_services(None)
    assert len(bus.messages) == 1 and unsent(services) == []


def test_intake_that_leaves_sends_to_the_relay_records_one_unsent_event_and_sends_nothing(services, target):
    quiet = replace(services, intake_sends=False)
    assert deliver(quiet, woo_order()) == 202
    assert services.bus.messages == [] and unsent(services) == ["5123"]


def test_continuous_relay_sends_young_events_at_once_and_stops_when_asked(services, target):
    import threading

    from shared.handlers.relay import relay_until

    quiet = replace(services, intake_sends=False)
    deliver(quiet, woo_order())
    stop = threading.Event()
    worker = threading.Thread(target=relay_until, args=(services, stop, 0.01))
    worker.start()
    try:
        for _ in range(500):
            if services.bus.messages:
                break
            stop.wait(0.01)
    finally:
        stop.set()
        worker.join(5)
    assert not worker.is_alive()
    assert len(services.bus.messages) == 1 and unsent(services) == []


# -- batches: the local SQLite bus takes the relay's events in one step ----------------------------------


def sqlite_bus_services(services: Services) -> Services:
    from shared.adapters.sqlite_bus import SqliteBus, bus_path

    return replace(services, bus=SqliteBus(bus_path(services.state_dir)), intake_sends=False)


def queued(services: Services) -> list[str]:
    bus = services.bus
    messages = []
    while (message := bus.receive("order-events")) is not None:
        messages.append(message.session_id)
    return messages


def test_relay_sends_a_batch_in_one_step_and_clears_every_mark(services, monkeypatch):
    batched = sqlite_bus_services(services)
    for order_id in (5123, 5124, 5125):
        deliver(batched, woo_order(order_id))
    calls: list[str] = []
    for name in ("send", "send_batch"):
        original = getattr(batched.bus, name)
        monkeypatch.setattr(batched.bus, name, lambda *a, _o=original, _n=name, **k: calls.append(_n) or _o(*a, **k))

    assert relay_unsent_events(batched, min_age=timedelta(0)).sent == 3

    assert calls == ["send_batch"] and unsent(batched) == []
    assert queued(batched) == ["demo-woo/5123", "demo-woo/5124", "demo-woo/5125"]


def test_kill_between_a_batch_and_its_marks_relays_again_and_the_bus_drops_the_repeats(services, monkeypatch):
    batched = sqlite_bus_services(services)
    for order_id in (5123, 5124):
        deliver(batched, woo_order(order_id))
    crash_after(batched.bus, "send_batch", monkeypatch)
    with pytest.raises(Crash):
        relay_unsent_events(batched, min_age=timedelta(0))
    assert unsent(batched) == ["5123", "5124"]  # on the bus, still marked

    after = restarted(batched)
    assert relay_unsent_events(after).sent == 2

    assert unsent(after) == [] and queued(after) == ["demo-woo/5123", "demo-woo/5124"]


def test_refused_batch_is_sent_one_by_one(services, monkeypatch):
    batched = sqlite_bus_services(services)
    for order_id in (5123, 5124, 5125):
        deliver(batched, woo_order(order_id))

    def refuse(messages: Any) -> None:
        raise RetryableError("bus busy")

    monkeypatch.setattr(batched.bus, "send_batch", refuse)
    result = relay_unsent_events(batched, min_age=timedelta(0))

    assert (result.sent, result.failed) == (3, 0) and unsent(batched) == []
    assert queued(batched) == ["demo-woo/5123", "demo-woo/5124", "demo-woo/5125"]
