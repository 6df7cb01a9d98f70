"""Stage spans continue one trace across queues, carry only allowlisted attributes, and feed the metrics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest
from azure.functions.servicebus import ServiceBusMessage as TriggerMessage
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from shared import telemetry
from shared.adapters.servicebus import ServiceBusBus

EXPORTER = InMemorySpanExporter()
READER = InMemoryMetricReader()


def _install_providers() -> bool:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
    if isinstance(metrics.get_meter_provider(), MeterProvider):
        return False  # someone else's SDK provider: our reader cannot be attached
    metrics.set_meter_provider(MeterProvider(metric_readers=[READER]))
    return True


METRICS_READABLE = _install_providers()


@pytest.fixture(autouse=True)
def spans() -> Iterator[InMemorySpanExporter]:
    EXPORTER.clear()
    yield EXPORTER


def _message(bus_message: Any, enqueued: datetime | None = None) -> func.ServiceBusMessage:
    """What the Functions host hands the next stage for a message the bus sent."""
    return TriggerMessage(
        body=b"".join(bus_message.body),
        message_id=bus_message.message_id,
        session_id=bus_message.session_id,
        delivery_count=1,
        enqueued_time_utc=enqueued or datetime.now(UTC),
        application_properties={str(k): v for k, v in (bus_message.application_properties or {}).items()},
        user_properties={},
    )


class _Sender:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send_messages(self, message: Any) -> None:
        self.sent.append(message)

    def close(self) -> None:
        pass


def _metric_points(name: str) -> list[Any]:
    data = READER.get_metrics_data()
    points: list[Any] = []
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    points.extend(metric.data.data_points)
    return points


def test_one_trace_from_webhook_to_invoice_across_two_queues(spans: InMemorySpanExporter) -> None:
    sender = _Sender()
    bus = ServiceBusBus(lambda queue: sender)
    with telemetry.stage_span("intake", "demo-woo", "4711", channel="woocommerce"):
        bus.send("order-events", b"{}", message_id="demo-woo/4711/1", session_id="demo-woo/4711")
    with telemetry.stage_span("validate", "demo-woo", "4711", message=_message(sender.sent[0])):
        bus.send("invoice-requests", b"{}", message_id="demo-woo/4711/invoice", session_id="demo-woo/4711")
    with telemetry.stage_span("invoice", "demo-woo", "4711", message=_message(sender.sent[1])):
        pass
    intake, validate, invoice = sorted(spans.get_finished_spans(), key=lambda s: s.start_time or 0)
    assert intake.name == "stage intake" and intake.kind == SpanKind.INTERNAL
    assert {s.context.trace_id for s in (intake, validate, invoice)} == {intake.context.trace_id}
    assert validate.parent is not None and validate.parent.span_id == intake.context.span_id
    assert invoice.parent is not None and invoice.parent.span_id == validate.context.span_id
    assert validate.kind == SpanKind.CONSUMER
    assert validate.attributes is not None
    assert validate.attributes["store.id"] == "demo-woo"
    assert validate.attributes["order.id"] == "4711"
    assert validate.attributes["messaging.message.id"] == "demo-woo/4711/1"


def test_message_without_trace_context_starts_a_new_trace(spans: InMemorySpanExporter) -> None:
    message = TriggerMessage(
        body=b"{}", message_id="m", application_properties={}, user_properties={}, enqueued_time_utc=None
    )
    with telemetry.stage_span("stock", "demo-woo", "4711", message=message):
        pass
    (span,) = spans.get_finished_spans()
    assert span.parent is None


def test_personal_data_never_lands_in_span_attributes(spans: InMemorySpanExporter) -> None:
    with telemetry.stage_span(
        "validate",
        "demo-woo",
        "4711",
        email="ana.garcia@example.com",
        **{"customer.name": "Ana García", "billing.line1": "Calle Mayor 5", "channel": "woocommerce"},
        outcome="mailto:ana.garcia@example.com",
    ):
        pass
    (span,) = spans.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert set(attributes) == {"stage", "store.id", "order.id", "channel"}
    assert not any("@" in str(value) or "Calle" in str(value) for value in attributes.values())


def test_failed_stage_marks_span_with_the_error_type_only(spans: InMemorySpanExporter) -> None:
    with pytest.raises(ValueError), telemetry.stage_span("invoice", "demo-woo", "4711"):
        raise ValueError("buyer ana.garcia@example.com has no tax id")
    (span,) = spans.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR
    assert span.status.description == "ValueError"
    assert span.attributes is not None and span.attributes["error.type"] == "ValueError"
    assert span.events == ()  # no exception event: its message quotes the buyer


def test_safe_attributes_keeps_ids_and_drops_unknown_keys() -> None:
    assert telemetry.safe_attributes(
        {"store.id": "demo-woo", "order.id": "4711", "phone": "+34 600 000 000", "problem.codes": ["unmapped_sku"]}
    ) == {"store.id": "demo-woo", "order.id": "4711", "problem.codes": ["unmapped_sku"]}


@pytest.mark.skipif(not METRICS_READABLE, reason="another test installed the global meter provider first")
def test_metrics_count_orders_latency_target_calls_and_queue_age() -> None:
    telemetry.count_order("received", "demo-woo", channel="woocommerce")
    telemetry.count_order("held", "demo-woo")
    telemetry.record_target_call("tryton", "retryable", "demo-woo")
    telemetry.record_stuck_orders(3, "demo-woo")
    message = TriggerMessage(
        body=b"{}",
        message_id="m",
        application_properties={},
        user_properties={},
        enqueued_time_utc=datetime.now(UTC) - timedelta(seconds=90),
    )
    with telemetry.stage_span("invoice", "demo-woo", "4711", message=message):
        pass
    received = _metric_points("orders_received")
    assert sum(p.value for p in received) >= 1
    assert dict(received[0].attributes) == {"store.id": "demo-woo", "channel": "woocommerce"}
    assert sum(p.value for p in _metric_points("orders_held")) >= 1
    calls = _metric_points("target_calls")
    assert any(
        dict(p.attributes) == {"target": "tryton", "outcome": "retryable", "store.id": "demo-woo"} for p in calls
    )
    ages = _metric_points("queue_age_seconds")
    assert ages and max(p.max for p in ages) >= 89
    latency = _metric_points("stage_latency_ms")
    assert any(dict(p.attributes).get("stage") == "invoice" for p in latency)
    assert [p.value for p in _metric_points("orders_stuck")] == [3]


def test_configure_telemetry_is_off_without_a_connection_string() -> None:
    assert telemetry.configure_telemetry({}) is False
