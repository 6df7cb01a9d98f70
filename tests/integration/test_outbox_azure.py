"""The outbox on the Azure parts: Table Storage state on Azurite and the Service Bus adapter building the SDK's
own messages. A sender that fails like an unreachable namespace stands in for the network (no emulator)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.data.tables import TableServiceClient
from azure.servicebus import ServiceBusMessage
from azure.servicebus.exceptions import ServiceBusConnectionError

from shared.adapters.servicebus import ServiceBusBus
from shared.adapters.tables import TableStateStore
from shared.bootstrap import Services
from shared.handlers.intake import receive_webhook
from shared.handlers.relay import RELAY_MIN_AGE, relay_unsent_events
from tests.support import SKU_MAP, Crash, crash_after, fixture_json, http_status, make_services, webhook_headers

pytestmark = pytest.mark.azurite

LATER = RELAY_MIN_AGE + timedelta(seconds=1)


class Sender:
    """Records what reaches the queue; while `down`, fails as the SDK does when the namespace is unreachable."""

    def __init__(self, sent: list[ServiceBusMessage], down: list[bool]) -> None:
        self.sent, self.down = sent, down

    def send_messages(self, message: ServiceBusMessage) -> None:
        if self.down[0]:
            raise ServiceBusConnectionError(message="namespace unreachable")
        self.sent.append(message)

    def close(self) -> None:
        pass


@pytest.fixture
def prefix(azurite: str) -> Iterator[str]:
    name = "t" + uuid.uuid4().hex[:10]
    yield name
    tables(azurite, name).drop_tables()


def tables(azurite: str, prefix: str) -> TableStateStore:
    """A TableStateStore as a new process builds it: nothing shared but the storage account."""
    return TableStateStore(TableServiceClient.from_connection_string(azurite), table_prefix=prefix)


@pytest.fixture
def azure(tmp_path: Path, azurite: str, prefix: str) -> tuple[Services, list[ServiceBusMessage], list[bool]]:
    sent: list[ServiceBusMessage] = []
    down = [False]
    services = make_services(tmp_path)
    services = replace(services, state=tables(azurite, prefix), bus=ServiceBusBus(lambda queue: Sender(sent, down)))
    services.state.put_sku_map("demo-woo", SKU_MAP)
    return services, sent, down


def deliver(services: Services) -> int:
    order = fixture_json("woocommerce", "order_created")
    body = json.dumps(order).encode()
    headers = webhook_headers("woocommerce", "order.created", body)
    return http_status(receive_webhook(services, "woocommerce", "demo-woo", body, headers))


def unsent(services: Services) -> list[str]:
    return [event.event_key for event in services.state.unsent_events(services.clock() + timedelta(days=1))]


def later(services: Services, state: Any = None) -> Services:
    now = services.clock() + LATER
    return replace(services, state=state or services.state, clock=lambda: now)


def test_failed_service_bus_send_after_the_table_write_is_accepted_and_relayed(azure):
    services, sent, down = azure
    down[0] = True
    assert deliver(services) == 202
    [event_key] = unsent(services)
    assert sent == []
    down[0] = False
    assert relay_unsent_events(later(services)).sent == 1
    [message] = sent
    assert (message.message_id, message.session_id) == (event_key, "demo-woo/5123")
    assert json.loads(b"".join(message.body))["event"]["event_key"] == event_key
    assert unsent(services) == []
    assert deliver(services) == 200 and len(sent) == 1  # a repeat of a sent event sends nothing


def test_kill_after_the_table_write_is_relayed_by_the_next_process(azure, azurite, prefix, monkeypatch):
    services, sent, _ = azure
    crash_after(services.state, "record_event", monkeypatch)
    with pytest.raises(Crash):
        deliver(services)
    assert sent == []
    assert relay_unsent_events(later(services, state=tables(azurite, prefix))).sent == 1
    assert [message.session_id for message in sent] == ["demo-woo/5123"] and unsent(services) == []
