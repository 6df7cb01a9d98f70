"""Telemetry for every stage: one trace from webhook to invoice across the queues, a span per stage, and
the order-flow metrics the alerts and the workbook read. Exports to Application Insights only when
APPLICATIONINSIGHTS_CONNECTION_STRING is set; otherwise spans and metrics go to whatever provider is set
(none locally, an in-memory one in tests).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    import azure.functions as func
    from opentelemetry.context import Context
    from opentelemetry.util.types import AttributeValue

METER_NAME = "order_to_cash"
TRACER_NAME = "order_to_cash"

# Only these attribute keys ever reach a span or a metric: ids, stage words and outcomes, never names,
# e-mail addresses, street addresses, phone numbers or amounts tied to a person.
ALLOWED_ATTRIBUTES = frozenset(
    {
        "store.id",
        "order.id",
        "order.state",
        "stage",
        "command",
        "channel",
        "event.topic",
        "event.key",
        "queue",
        "outcome",
        "target",
        "document.kind",
        "document.number",
        "problem.codes",
        "messaging.system",
        "messaging.destination.name",
        "messaging.message.id",
        "messaging.servicebus.message.delivery_count",
        "error.type",
    }
)

OrderOutcome = Literal["received", "validated", "held", "invoiced", "failed"]

_configure_lock = threading.Lock()
_configured = False


def configure_telemetry(env: Mapping[str, str] | None = None) -> bool:
    """Set up the Azure Monitor exporter once per process. True when telemetry goes to Application Insights.

    With a user-assigned identity (AZURE_CLIENT_ID) the exporter authenticates with Entra ID, so the
    Application Insights resource can refuse instrumentation-key-only ingestion.
    """
    global _configured
    env = os.environ if env is None else env
    connection_string = env.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "")
    if not connection_string:
        return False
    with _configure_lock:
        if _configured:
            return True
        from azure.monitor.opentelemetry import configure_azure_monitor

        options: dict[str, Any] = {
            "connection_string": connection_string,
            "enable_live_metrics": False,
            # HTTP client spans would carry store API URLs, and WooCommerce accepts its consumer key
            # and secret as query parameters: target_calls counts those calls instead.
            "instrumentation_options": {
                "requests": {"enabled": False},
                "urllib": {"enabled": False},
                "urllib3": {"enabled": False},
            },
        }
        if env.get("AZURE_CLIENT_ID"):
            from shared.adapters.claimcheck import azure_credential

            options["credential"] = azure_credential(env)
        configure_azure_monitor(**options)
        _configured = True
    return True


def safe_attributes(attributes: Mapping[str, object]) -> dict[str, AttributeValue]:
    """Keep allowlisted keys with plain values; drop anything that looks like an e-mail address."""
    kept: dict[str, AttributeValue] = {}
    for key, value in attributes.items():
        if key not in ALLOWED_ATTRIBUTES or value is None:
            continue
        if isinstance(value, bool | int | float):
            kept[key] = value
        elif isinstance(value, str):
            if "@" not in value:
                kept[key] = value
        elif isinstance(value, list | tuple) and all(isinstance(v, str) and "@" not in v for v in value):
            kept[key] = [str(v) for v in value]
    return kept


class _Instruments:
    def __init__(self) -> None:
        meter = metrics.get_meter(METER_NAME)
        self.orders = {
            outcome: meter.create_counter(f"orders_{outcome}", unit="{order}", description=f"Orders {outcome}")
            for outcome in ("received", "validated", "held", "invoiced", "failed")
        }
        self.stage_latency_ms = meter.create_histogram(
            "stage_latency_ms", unit="ms", description="Time a stage spent on one message"
        )
        self.target_calls = meter.create_counter(
            "target_calls", unit="{call}", description="Calls to target systems and store APIs by outcome"
        )
        self.queue_age_seconds = meter.create_histogram(
            "queue_age_seconds", unit="s", description="Time from enqueue to the start of processing"
        )
        self.orders_stuck = meter.create_gauge(
            "orders_stuck", unit="{order}", description="Orders past their stage deadline, per store"
        )
        self.webhooks_unhealthy = meter.create_gauge(
            "webhooks_unhealthy",
            unit="{subscription}",
            description="Needed webhook subscriptions missing, disabled, paused or misdirected, per store",
        )


@functools.cache
def _instruments() -> _Instruments:
    return _Instruments()


def count_order(outcome: OrderOutcome, store_id: str, channel: str = "") -> None:
    """One order reached an outcome (metric orders_<outcome>)."""
    _instruments().orders[outcome].add(1, safe_attributes({"store.id": store_id, "channel": channel or None}))


def record_target_call(target: str, outcome: str, store_id: str) -> None:
    """One call to a target system or store API; outcome e.g. "ok", "retryable", "permanent", "timeout"."""
    _instruments().target_calls.add(1, safe_attributes({"target": target, "outcome": outcome, "store.id": store_id}))


def record_stuck_orders(count: int, store_id: str) -> None:
    """The stuck-order sweeper's finding for one store (metric orders_stuck, read by an alert)."""
    _instruments().orders_stuck.set(count, safe_attributes({"store.id": store_id}))


def record_unhealthy_webhooks(count: int, store_id: str) -> None:
    """The webhook health check's finding for one store (metric webhooks_unhealthy, read by an alert)."""
    _instruments().webhooks_unhealthy.set(count, safe_attributes({"store.id": store_id}))


def _message_properties(message: func.ServiceBusMessage) -> dict[str, str]:
    raw = getattr(message, "application_properties", None) or {}
    properties = {}
    for key, value in dict(raw).items():
        name = key.decode() if isinstance(key, bytes) else str(key)
        properties[name] = value.decode() if isinstance(value, bytes) else str(value)
    return properties


def context_from_message(message: func.ServiceBusMessage) -> Context | None:
    """The trace context the sender put in the message (W3C traceparent, or Diagnostic-Id)."""
    properties = _message_properties(message)
    if "traceparent" not in properties and "Diagnostic-Id" in properties:
        properties["traceparent"] = properties["Diagnostic-Id"]
    if "traceparent" not in properties:
        return None
    return TraceContextTextMapPropagator().extract(properties)


@contextmanager
def stage_span(
    stage: str,
    store_id: str,
    order_id: str,
    message: func.ServiceBusMessage | None = None,
    **attributes: object,
) -> Iterator[trace.Span]:
    """A span for one stage of one order, continuing the trace of the message that triggered it.

    Records stage_latency_ms (with the outcome) and, for a queue message, queue_age_seconds. Extra
    attributes pass the allowlist or are dropped. An exception marks the span failed with the
    exception's type only: its message may quote personal data.
    """
    parent = context_from_message(message) if message is not None else None
    span_attributes: dict[str, object] = {"stage": stage, "store.id": store_id, "order.id": order_id, **attributes}
    if message is not None:
        span_attributes["messaging.system"] = "servicebus"
        span_attributes["messaging.message.id"] = getattr(message, "message_id", None)
        span_attributes["messaging.servicebus.message.delivery_count"] = getattr(message, "delivery_count", None)
        enqueued = getattr(message, "enqueued_time_utc", None)
        if isinstance(enqueued, datetime):
            age = (datetime.now(UTC) - (enqueued if enqueued.tzinfo else enqueued.replace(tzinfo=UTC))).total_seconds()
            _instruments().queue_age_seconds.record(max(age, 0.0), safe_attributes({"stage": stage}))
    tracer = trace.get_tracer(TRACER_NAME)
    kind = SpanKind.CONSUMER if message is not None else SpanKind.INTERNAL
    started = time.perf_counter()
    outcome = "ok"
    with tracer.start_as_current_span(
        f"stage {stage}",
        context=parent,
        kind=kind,
        attributes=safe_attributes(span_attributes),
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except Exception as exc:
            outcome = "error"
            span.set_attribute("error.type", exc.__class__.__name__)
            span.set_status(Status(StatusCode.ERROR, exc.__class__.__name__))
            raise
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            _instruments().stage_latency_ms.record(
                elapsed_ms, safe_attributes({"stage": stage, "store.id": store_id, "outcome": outcome})
            )
