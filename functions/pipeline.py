"""Queue-triggered stages: order events, invoicing, stock, payments. Each hands the message to dispatch, with
the retry and dead-letter policy read here from the settings."""

from __future__ import annotations

import os

import azure.functions as func

from shared.bootstrap import services
from shared.handlers.dispatch import RetryPolicy, handle_message

bp = func.Blueprint()

CONNECTION = "ServiceBusConnection"


def retry_policy() -> RetryPolicy:
    """MAX_DELIVERY_COUNT (the queues' own setting; locally LOCAL_BUS_MAX_DELIVERY), and RETRY_SCHEDULING
    (on|off; on by default when BUS_BACKEND=servicebus, where an abandoned message comes back at once).
    Read per delivery, so a changed setting holds without a restart."""
    max_delivery = int(os.environ.get("MAX_DELIVERY_COUNT", os.environ.get("LOCAL_BUS_MAX_DELIVERY", "10")))
    default = "on" if os.environ.get("BUS_BACKEND", "sqlite") == "servicebus" else "off"
    scheduling = os.environ.get("RETRY_SCHEDULING", default).strip().lower() in ("on", "1", "true", "yes")
    return RetryPolicy(max_delivery_count=max_delivery, schedule_retries=scheduling)


def _handle(stage: str, msg: func.ServiceBusMessage) -> None:
    found = services()
    raw_properties = getattr(msg, "application_properties", None)  # absent on older azure-functions objects
    body = found.message_body(msg.get_body(), raw_properties)
    properties = {str(k): str(v) for k, v in dict(raw_properties or {}).items()}
    handle_message(
        found,
        stage,
        body,
        msg.message_id or "",
        msg.delivery_count or 1,
        policy=retry_policy(),
        properties=properties,
        trigger=msg,
    )


@bp.function_name("order_events")
@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name="%OrderEventsQueue%", connection=CONNECTION, is_sessions_enabled=True
)
def order_events(msg: func.ServiceBusMessage) -> None:
    _handle("validation", msg)


@bp.function_name("invoice_requests")
@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name="%InvoiceRequestsQueue%", connection=CONNECTION, is_sessions_enabled=True
)
def invoice_requests(msg: func.ServiceBusMessage) -> None:
    _handle("invoicing", msg)


@bp.function_name("stock_updates")
@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name="%StockUpdatesQueue%", connection=CONNECTION, is_sessions_enabled=True
)
def stock_updates(msg: func.ServiceBusMessage) -> None:
    _handle("stock", msg)


@bp.function_name("payment_events")
@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name="%PaymentEventsQueue%", connection=CONNECTION, is_sessions_enabled=True
)
def payment_events(msg: func.ServiceBusMessage) -> None:
    _handle("payments", msg)
