"""Queue-triggered stages: order events, invoicing, stock, payments. Each hands the message to dispatch."""

from __future__ import annotations

import azure.functions as func

from shared.bootstrap import services
from shared.handlers.dispatch import handle_message

bp = func.Blueprint()

CONNECTION = "ServiceBusConnection"


def _handle(stage: str, msg: func.ServiceBusMessage) -> None:
    found = services()
    body = found.message_body(msg.get_body(), getattr(msg, "application_properties", None))
    handle_message(found, stage, body, msg.message_id or "", msg.delivery_count or 1, trigger=msg)


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
