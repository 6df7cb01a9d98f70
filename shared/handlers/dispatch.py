"""One entry for every queue-triggered function: parse the command, run its handler, classify errors.

NothingToDo completes the message; any other error is raised so the bus redelivers with backoff, and
on the last allowed delivery the order is marked `failed` before the message is dead-lettered. Where the
policy says so (Service Bus), a passing fault (RetryableError) is retried by a scheduled copy with backoff.
The policy is a value given by the queue triggers (functions/pipeline.py), which read the settings.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

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


@dataclass(frozen=True)
class RetryPolicy:
    """When a failing message is retried and when it is given up (the order `failed`, the message dead-lettered).

    `schedule_retries`: on Service Bus an abandoned message comes back at once, so a passing fault is retried by
    scheduling a copy with backoff instead; the local bus delays redelivery itself.
    """

    max_delivery_count: int = 10  # the queues dead-letter after this many deliveries
    schedule_retries: bool = False
    backoff_base_seconds: float = 5.0
    backoff_cap_seconds: float = 900.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds before retry `attempt` (1-based): 5 s doubling up to 15 min, times 0.8–1.2 (jitter)."""
        base = min(self.backoff_base_seconds * 2 ** (attempt - 1), self.backoff_cap_seconds)
        return base * (rng or random).uniform(0.8, 1.2)


def _schedule_retry(
    services: Services,
    policy: RetryPolicy,
    properties: Mapping[str, str],
    body: bytes,
    message_id: str,
    session_id: str,
    message_type: str,
) -> bool:
    """Send a delayed copy of the message for a passing fault. False once the retries are used up."""
    attempt = int(properties.get(RETRY_ATTEMPT_PROPERTY, "0") or 0) + 1
    if attempt >= policy.max_delivery_count:
        return False
    base_id = message_id.split("~retry", 1)[0]
    services.bus.send(
        queue_name(QUEUE_OF[message_type]),
        body,
        message_id=f"{base_id}~retry{attempt}",
        session_id=session_id,
        scheduled_at=services.clock() + timedelta(seconds=policy.delay(attempt)),
        properties={**properties, RETRY_ATTEMPT_PROPERTY: str(attempt)},
    )
    return True


def handle_message(
    services: Services,
    stage: str,
    body: bytes,
    message_id: str,
    delivery_count: int,
    *,
    policy: RetryPolicy = RetryPolicy(),
    properties: Mapping[str, str] | None = None,
    trigger: Any = None,
) -> None:
    """Handle one delivery. Raises to make the bus retry; returns when the message may be completed.

    `properties` are the message's application properties (the retry attempt travels there); `trigger` is the
    trigger's own message object, passed through only so the stage's span continues the sender's trace.
    """
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
        if retryable and policy.schedule_retries:
            session = f"{message.store_id}/{message.order_id}"
            if _schedule_retry(services, policy, properties or {}, body, message_id, session, message.type):
                log.info("stage=%s message=%s retry scheduled", stage, message_id)
                return
            delivery_count = policy.max_delivery_count  # retries used up: fail now
        if delivery_count >= policy.max_delivery_count:
            count_order("failed", message.store_id)
            mark_failed(services, message.store_id, message.order_id, stage, f"{type(error).__name__}: {error}")
        raise
