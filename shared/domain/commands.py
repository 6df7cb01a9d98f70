"""The commands between stages: one pydantic model per command, JSON on the bus, and how each travels.

Every command names its store and order; its bus message id makes a repeat a duplicate, and its
session id ("<store>/<order>") keeps one order's messages in order, one at a time.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from shared.channels.common import bounded_key
from shared.domain.order import OrderEvent
from shared.domain.records import OutgoingMessage


class BaseCommand(BaseModel):
    model_config = ConfigDict(extra="ignore")
    store_id: str
    order_id: str
    attempt: int = 0  # the order's retry generation: a retried command gets a new message id
    type: str  # each command's own literal: the discriminator on the bus

    @property
    def session_id(self) -> str:
        return f"{self.store_id}/{self.order_id}"


class ApplyOrderEvent(BaseCommand):
    """A store notification to apply to the order (queue order-events)."""

    type: Literal["order_event"] = "order_event"
    event: OrderEvent


class RevalidateOrder(BaseCommand):
    """A person asked to check a held or failed order again (queue order-events)."""

    type: Literal["revalidate"] = "revalidate"
    requested_by: str = "operator"


class IssueInvoice(BaseCommand):
    type: Literal["issue_invoice"] = "issue_invoice"


class IssueCreditNote(BaseCommand):
    type: Literal["credit_note"] = "credit_note"
    refund_id: str


class CancelOrder(BaseCommand):
    type: Literal["cancel"] = "cancel"


class RecordPayment(BaseCommand):
    type: Literal["payment"] = "payment"


class SyncStock(BaseCommand):
    type: Literal["sync_stock"] = "sync_stock"


Message = Annotated[
    ApplyOrderEvent | RevalidateOrder | IssueInvoice | IssueCreditNote | CancelOrder | RecordPayment | SyncStock,
    Field(discriminator="type"),
]
_adapter: TypeAdapter[Message] = TypeAdapter(Message)


def parse_message(body: bytes | str) -> Message:
    return _adapter.validate_json(body)


def message_id(message: BaseCommand) -> str:
    """The bus message id: a repeat of the same command is dropped by duplicate detection."""
    if isinstance(message, ApplyOrderEvent):
        return message.event.event_key
    base = f"{message.store_id}:{message.order_id}:{message.attempt}"
    if isinstance(message, IssueCreditNote):
        return bounded_key(f"{base}:credit_note:{message.refund_id}")  # ids within their limits can pass 128
    return bounded_key(f"{base}:{message.type}")


QUEUE_OF = {
    "order_event": "order-events",
    "revalidate": "order-events",
    "issue_invoice": "invoice-requests",
    "sync_stock": "stock-updates",
    "credit_note": "payment-events",
    "cancel": "payment-events",
    "payment": "payment-events",
}


def outgoing_message(message: BaseCommand) -> OutgoingMessage:
    """The message as the bus gets it, ready to be recorded before it is sent (intake's outbox)."""
    kind = message.type
    return OutgoingMessage(
        queue=QUEUE_OF[kind],
        body=message.model_dump_json().encode(),
        message_id=message_id(message),
        session_id=message.session_id,
        properties={"type": kind, "store_id": message.store_id, "order_id": message.order_id},
    )
