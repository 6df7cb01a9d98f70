"""ServiceBusBus builds the SDK's own ServiceBusMessage objects; a recording sender stands in for the network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from azure.servicebus import ServiceBusMessage
from azure.servicebus.exceptions import MessageSizeExceededError, ServiceBusServerBusyError
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from shared.adapters.servicebus import CLAIM_CHECK_BYTES, CLAIM_CHECK_PROPERTY, ServiceBusBus, resolve_body
from shared.errors import ConfigError, RetryableError

ORDER_BODY = b'{"store_id": "demo-woo", "order_id": "4711", "sku": "BLUE-MUG-350ML"}'


class RecordingSender:
    def __init__(self, queue: str, fail_with: Exception | None = None) -> None:
        self.queue = queue
        self.sent: list[ServiceBusMessage] = []
        self.closed = False
        self.fail_with = fail_with

    def send_messages(self, message: ServiceBusMessage) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(message)

    def close(self) -> None:
        self.closed = True


class FakeClaimChecks:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def put(self, data: bytes, prefix: str) -> str:
        name = f"{prefix}/{len(self.blobs)}"
        self.blobs[name] = data
        return name

    def get(self, reference: str) -> bytes:
        return self.blobs[reference]


class Factory:
    def __init__(self) -> None:
        self.senders: dict[str, RecordingSender] = {}
        self.created = 0

    def __call__(self, queue: str) -> RecordingSender:
        self.created += 1
        self.senders[queue] = RecordingSender(queue)
        return self.senders[queue]


def _sdk_tracer() -> trace.Tracer:
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())
    return trace.get_tracer("tests")


def test_message_carries_event_key_session_and_properties() -> None:
    factory = Factory()
    bus = ServiceBusBus(factory)
    bus.send(
        "order-events",
        ORDER_BODY,
        message_id="demo-woo/4711/2025-03-14T09:30:00Z",
        session_id="demo-woo/4711",
        properties={"store_id": "demo-woo", "kind": "order.upserted"},
    )
    (message,) = factory.senders["order-events"].sent
    assert message.message_id == "demo-woo/4711/2025-03-14T09:30:00Z"
    assert message.session_id == "demo-woo/4711"
    assert b"".join(message.body) == ORDER_BODY
    assert message.application_properties is not None
    assert message.application_properties["store_id"] == "demo-woo"
    assert message.application_properties["kind"] == "order.upserted"
    assert message.scheduled_enqueue_time_utc is None


def test_scheduled_redelivery_is_converted_to_utc() -> None:
    factory = Factory()
    at = datetime(2025, 3, 14, 11, 0, tzinfo=timezone(timedelta(hours=1)))
    ServiceBusBus(factory).send("invoice-requests", ORDER_BODY, message_id="retry-1", scheduled_at=at)
    (message,) = factory.senders["invoice-requests"].sent
    assert message.scheduled_enqueue_time_utc == datetime(2025, 3, 14, 10, 0, tzinfo=UTC)
    assert message.scheduled_enqueue_time_utc.utcoffset() == timedelta(0)


def test_naive_schedule_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        ServiceBusBus(Factory()).send("order-events", ORDER_BODY, message_id="m", scheduled_at=datetime(2025, 3, 14))


def test_current_trace_context_is_injected_as_w3c_traceparent() -> None:
    tracer = _sdk_tracer()
    factory = Factory()
    with tracer.start_as_current_span("intake") as span:
        ServiceBusBus(factory).send("order-events", ORDER_BODY, message_id="m1", session_id="demo-woo/4711")
        context = span.get_span_context()
    properties: Any = factory.senders["order-events"].sent[0].application_properties
    version, trace_id, span_id, _flags = properties["traceparent"].split("-")
    assert (version, trace_id, span_id) == ("00", f"{context.trace_id:032x}", f"{context.span_id:016x}")
    assert properties["Diagnostic-Id"] == properties["traceparent"]


def test_no_trace_context_outside_a_span() -> None:
    factory = Factory()
    ServiceBusBus(factory).send("order-events", ORDER_BODY, message_id="m1")
    assert "traceparent" not in (factory.senders["order-events"].sent[0].application_properties or {})


def test_sender_per_queue_is_created_once_and_closed() -> None:
    factory = Factory()
    bus = ServiceBusBus(factory)
    for n in range(3):
        bus.send("order-events", ORDER_BODY, message_id=f"m{n}")
    bus.send("stock-updates", ORDER_BODY, message_id="s1")
    assert factory.created == 2
    assert len(factory.senders["order-events"].sent) == 3
    bus.close()
    assert factory.senders["order-events"].closed and factory.senders["stock-updates"].closed


def test_message_id_longer_than_service_bus_allows_is_hashed_stably() -> None:
    factory = Factory()
    bus = ServiceBusBus(factory)
    key = "demo-shopify/" + "5" * 200
    bus.send("order-events", ORDER_BODY, message_id=key)
    bus.send("order-events", ORDER_BODY, message_id=key)
    first, second = factory.senders["order-events"].sent
    assert len(first.message_id or "") <= 128
    assert first.message_id == second.message_id


def test_body_over_192_kb_goes_to_claim_check_and_resolves_back() -> None:
    factory = Factory()
    claim_checks = FakeClaimChecks()
    bus = ServiceBusBus(factory, claim_checks=claim_checks)  # type: ignore[arg-type]
    big = b"{" + b" " * CLAIM_CHECK_BYTES + b"}"
    bus.send("order-events", big, message_id="big-1", session_id="demo-woo/4711")
    (message,) = factory.senders["order-events"].sent
    assert b"".join(message.body) == b""
    properties: Any = message.application_properties
    reference = properties[CLAIM_CHECK_PROPERTY]
    assert reference.startswith("messages/order-events/")
    assert resolve_body(b"", properties, claim_checks) == big  # type: ignore[arg-type]


def test_body_at_the_limit_stays_inline() -> None:
    factory = Factory()
    bus = ServiceBusBus(factory, claim_checks=FakeClaimChecks())  # type: ignore[arg-type]
    body = b"x" * CLAIM_CHECK_BYTES
    bus.send("order-events", body, message_id="edge")
    (message,) = factory.senders["order-events"].sent
    assert b"".join(message.body) == body
    assert CLAIM_CHECK_PROPERTY not in (message.application_properties or {})


def test_big_body_without_claim_check_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="CLAIM_CHECK"):
        ServiceBusBus(Factory()).send("order-events", b"x" * (CLAIM_CHECK_BYTES + 1), message_id="big")


def test_server_busy_is_retryable_and_size_exceeded_is_not() -> None:
    busy = ServiceBusBus(lambda queue: RecordingSender(queue, ServiceBusServerBusyError(message="busy")))
    with pytest.raises(RetryableError):
        busy.send("order-events", ORDER_BODY, message_id="m")
    too_big = ServiceBusBus(lambda queue: RecordingSender(queue, MessageSizeExceededError(message="too big")))
    with pytest.raises(MessageSizeExceededError):
        too_big.send("order-events", ORDER_BODY, message_id="m")


def test_from_settings_requires_a_namespace_or_connection_string() -> None:
    with pytest.raises(ConfigError, match="fullyQualifiedNamespace"):
        ServiceBusBus.from_settings({"ServiceBusConnection": "local"})


def test_from_settings_uses_identity_with_the_namespace() -> None:
    bus = ServiceBusBus.from_settings(
        {
            "ServiceBusConnection__fullyQualifiedNamespace": "sb-o2c-dev.servicebus.windows.net",
            "ServiceBusConnection__clientId": "00000000-0000-0000-0000-000000000001",
        }
    )
    assert isinstance(bus, ServiceBusBus)
    bus.close()


@pytest.mark.azurite
def test_claim_check_round_trips_through_azurite_blob(azurite: str) -> None:
    from azure.storage.blob import BlobServiceClient

    from shared.adapters.claimcheck import CONTAINER, BlobClaimCheck

    service = BlobServiceClient.from_connection_string(azurite)
    claim_checks = BlobClaimCheck.from_service(service)
    factory = Factory()
    big = b'{"lines": [' + b",".join(b'"BLUE-MUG-350ML"' for _ in range(20000)) + b"]}"
    ServiceBusBus(factory, claim_checks=claim_checks).send("order-events", big, message_id="big-azurite")
    properties: Any = factory.senders["order-events"].sent[0].application_properties
    reference = properties[CLAIM_CHECK_PROPERTY]
    names = [blob.name for blob in service.get_container_client(CONTAINER).list_blobs()]
    assert reference in names
    assert resolve_body(b"", properties, claim_checks) == big
