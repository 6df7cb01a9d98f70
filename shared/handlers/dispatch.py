"""One entry for every queue-triggered function: parse the command, run its handler, classify errors.

NothingToDo completes the message; any other error is raised so the bus redelivers with backoff, and
on the last allowed delivery the order is marked `failed` before the message is dead-lettered.
"""

from __future__ import annotations

import os

import azure.functions as func
from pydantic import ValidationError

from shared.bootstrap import Services
from shared.errors import NothingToDo
from shared.handlers import fulfilment, invoicing, orders
from shared.handlers.common import log
from shared.handlers.messages import (
    ApplyOrderEvent,
    CancelOrder,
    IssueCreditNote,
    IssueInvoice,
    Message,
    RecordPayment,
    RevalidateOrder,
    SyncStock,
    parse_message,
)
from shared.handlers.operations import mark_failed
from shared.telemetry import count_order, stage_span


def max_delivery_count() -> int:
    """Service Bus queues (and the local bus) dead-letter after this many deliveries."""
    return int(os.environ.get("MAX_DELIVERY_COUNT", os.environ.get("LOCAL_BUS_MAX_DELIVERY", "10")))


def run(services: Services, message: Message) -> None:
    if isinstance(message, ApplyOrderEvent):
        orders.apply_order_event(services, message)
    elif isinstance(message, RevalidateOrder):
        orders.revalidate_order(services, message)
    elif isinstance(message, IssueInvoice):
        invoicing.issue_invoice(services, message)
    elif isinstance(message, IssueCreditNote | CancelOrder):
        invoicing.issue_credit_note(services, message)
    elif isinstance(message, SyncStock):
        fulfilment.sync_stock(services, message)
    elif isinstance(message, RecordPayment):
        fulfilment.record_payment(services, message)


def handle_message(
    services: Services,
    stage: str,
    body: bytes,
    message_id: str,
    delivery_count: int,
    trigger: func.ServiceBusMessage | None = None,
) -> None:
    """Handle one delivery. Raises to make the bus retry; returns when the message may be completed."""
    try:
        message = parse_message(body)
    except ValidationError:
        # A body we cannot read will not improve with retries, but dead-lettering keeps it for a person.
        log.error("unreadable message stage=%s message=%s", stage, message_id)
        raise
    try:
        with stage_span(stage, message.store_id, message.order_id, trigger, command=message.type):
            run(services, message)
    except NothingToDo as reason:
        log.info("nothing to do stage=%s store=%s order=%s: %s", stage, message.store_id, message.order_id, reason)
    except Exception as error:
        log.warning(
            "stage=%s store=%s order=%s message=%s delivery=%d failed: %s",
            stage,
            message.store_id,
            message.order_id,
            message_id,
            delivery_count,
            type(error).__name__,
        )
        if delivery_count >= max_delivery_count():
            count_order("failed", message.store_id)
            mark_failed(services, message.store_id, message.order_id, stage, f"{type(error).__name__}: {error}")
        raise
