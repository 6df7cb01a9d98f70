"""On Service Bus a passing fault is retried by a scheduled copy with exponential backoff (an abandoned
message would come back at once); when the retries are used up the order is marked failed."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path

import pytest
from azure.functions.servicebus import ServiceBusMessage

from functions.pipeline import retry_policy
from shared.domain.order import OrderState
from shared.errors import RetryableError
from shared.handlers.dispatch import RetryPolicy, handle_message
from shared.handlers.intake import receive_webhook
from tests.support import FakeTarget, fixture_bytes, make_services, webhook_headers


@pytest.fixture
def services(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("BUS_BACKEND", "servicebus")
    target = FakeTarget(fail_with=lambda: RetryableError("ERP answered 503"))
    found = make_services(tmp_path, target)
    body = fixture_bytes("woocommerce", "order_created")
    headers = webhook_headers("woocommerce", "order.created", body)
    receive_webhook(found, "woocommerce", "demo-woo", body, headers)
    found.bus.drain(found, limit=1)  # validated; the invoice command is waiting
    return found


def deliver(services, sent, properties: dict[str, str]) -> None:
    trigger = ServiceBusMessage(
        body=sent.body,
        message_id=sent.message_id,
        session_id=sent.session_id,
        delivery_count=1,
        application_properties=properties,
        user_properties={},
    )
    handle_message(
        services,
        "invoicing",
        sent.body,
        sent.message_id,
        1,
        policy=retry_policy(),  # BUS_BACKEND=servicebus: retries are scheduled copies
        properties=properties,
        trigger=trigger,
    )


def test_a_passing_fault_schedules_a_delayed_copy_and_completes(services):
    command = services.bus.messages.pop(0)
    deliver(services, command, {})
    retry = services.bus.messages[-1]
    assert retry.message_id == f"{command.message_id}~retry1"
    assert retry.session_id == command.session_id and retry.body == command.body
    assert retry.properties["retry_attempt"] == "1"
    assert timedelta(seconds=4) <= retry.scheduled_at - services.clock() <= timedelta(seconds=6)
    assert services.state.get_order("demo-woo", json.loads(command.body)["order_id"]).state == OrderState.VALIDATED


def test_when_retries_are_used_up_the_order_fails_and_the_message_goes_to_dead_letter(services):
    command = services.bus.messages.pop(0)
    with pytest.raises(RetryableError):
        deliver(services, command, {"retry_attempt": "9"})
    order_id = json.loads(command.body)["order_id"]
    record = services.state.get_order("demo-woo", order_id)
    assert record.state == OrderState.FAILED and record.problems[0].code == "processing_failed"
    assert services.bus.messages == []


def test_backoff_doubles_with_jitter_and_is_capped():
    rng = random.Random(7)
    delays = [RetryPolicy().delay(n, rng) for n in range(1, 12)]
    assert 4 <= delays[0] <= 6 and 8 <= delays[1] <= 12
    assert all(d <= 900 * 1.2 for d in delays)
    assert delays[-1] >= 900 * 0.8


def test_the_queue_triggers_read_the_retry_policy_from_the_settings(monkeypatch):
    monkeypatch.delenv("BUS_BACKEND", raising=False)
    monkeypatch.delenv("RETRY_SCHEDULING", raising=False)
    monkeypatch.delenv("MAX_DELIVERY_COUNT", raising=False)
    monkeypatch.setenv("LOCAL_BUS_MAX_DELIVERY", "4")
    assert retry_policy() == RetryPolicy(max_delivery_count=4, schedule_retries=False)
    monkeypatch.setenv("BUS_BACKEND", "servicebus")
    monkeypatch.setenv("MAX_DELIVERY_COUNT", "7")
    assert retry_policy() == RetryPolicy(max_delivery_count=7, schedule_retries=True)
    monkeypatch.setenv("RETRY_SCHEDULING", "off")
    assert not retry_policy().schedule_retries
