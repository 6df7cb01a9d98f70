"""One entry for every queue-triggered function: parse the command, run its handler, classify errors.

NothingToDo completes the message; any other error is raised so the bus redelivers with backoff, and
on the last allowed delivery the order is marked `failed` before the message is dead-lettered. On
Service Bus a passing fault (RetryableError) is retried by a scheduled copy with exponential backoff.
"""

from __future__ import annotations

import os
import random
from datetime import timedelta

import azure.functions as func
from pydantic import ValidationError

from shared.bootstrap import Services, queue_name
from shared.domain.commands import (
    QUEUE_OF,
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
from shared.errors import NothingToDo, RetryableError
from shared.handlers import fulfilment, invoicing, orders
from shared.handlers.common import log
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


RETRY_ATTEMPT_PROPERTY = "retry_attempt"


def retry_by_scheduling() -> bool:
    """On Service Bus an abandoned message comes back at once, so a passing fault is retried by scheduling
    a copy with backoff instead. The local bus delays redelivery itself."""
    default = "on" if os.environ.get("BUS_BACKEND", "sqlite") == "servicebus" else "off"
    return os.environ.get("RETRY_SCHEDULING", default).strip().lower() in ("on", "1", "true", "yes")


def retry_delay(attempt: int, rng: random.Random | None = None) -> float:
    """Seconds before retry `attempt` (1-based): 5 s doubling up to 15 min, times 0.8–1.2 (jitter)."""
    base = min(5.0 * 2 ** (attempt - 1), 900.0)
    return base * (rng or random).uniform(0.8, 1.2)


def _schedule_retry(
    services: Services,
    trigger: func.ServiceBusMessage | None,
    body: bytes,
    message_id: str,
    session_id: str,
    message_type: str,
) -> bool:
    """Send a delayed copy of the message for a passing fault. False once the retries are used up."""
    properties = {str(k): str(v) for k, v in dict(getattr(trigger, "application_properties", None) or {}).items()}
    attempt = int(properties.get(RETRY_ATTEMPT_PROPERTY, "0") or 0) + 1
    if attempt >= max_delivery_count():
        return False
    base_id = message_id.split("~retry", 1)[0]
    services.bus.send(
        queue_name(QUEUE_OF[message_type]),
        body,
        message_id=f"{base_id}~retry{attempt}",
        session_id=session_id,
        scheduled_at=services.clock() + timedelta(seconds=retry_delay(attempt)),
        properties={**properties, RETRY_ATTEMPT_PROPERTY: str(attempt)},
    )
    return True


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
        retryable = isinstance(error, RetryableError)
        if retryable and retry_by_scheduling():
            session = f"{message.store_id}/{message.order_id}"
            if _schedule_retry(services, trigger, body, message_id, session, message.type):
                log.info("stage=%s message=%s retry scheduled", stage, message_id)
                return
            delivery_count = max_delivery_count()  # retries used up: fail now
        if delivery_count >= max_delivery_count():
            count_order("failed", message.store_id)
            mark_failed(services, message.store_id, message.order_id, stage, f"{type(error).__name__}: {error}")
        raise
