"""What the state port keeps about an order: its state, problems, documents and timeline."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared import texts
from shared.domain.order import Order, OrderState, UtcDatetime


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Problem(_Record):
    """Why an order may not be invoiced, in words a business user understands."""

    code: str  # stable, e.g. "unmapped_sku", "totals_mismatch"
    field: str = ""  # where, e.g. "lines[2].sku"
    expected: str = ""
    found: str = ""
    data: dict[str, Any] = Field(default_factory=dict)  # the rule's extras for the catalog template
    text: str = ""  # catalog key when not `problem.<code>`: a refusal's `error.<code>`
    message_en: str = ""  # legacy: rows stored before the catalog carry their sentences here
    message_es: str = ""

    def message(self, lang: str = texts.DEFAULT_LANGUAGE) -> str:
        """The sentence in lang from the catalog (`text`, else `problem.<code>`); an old row's stored sentence
        otherwise."""
        key = self.text or f"problem.{self.code}"
        values = {"field": self.field, "expected": self.expected, "found": self.found, **self.data}
        template = texts.template(key, texts.DEFAULT_LANGUAGE)
        legacy = bool(self.message_en or self.message_es)
        # An old row has no data for the template's extras: its stored sentences are the better reading.
        if template is not None and not (legacy and texts.placeholders(template) - values.keys()):
            return texts.render(key, values, lang)
        if lang == "es" and self.message_es:
            return self.message_es
        return self.message_en or self.message_es or self.code


class DocumentRef(_Record):
    """A document issued in the target system for an order."""

    kind: Literal["invoice", "credit_note"]
    number: str
    target: str  # "ubl", "tryton"
    external_id: str = ""  # the id in the target system (file name, Tryton record id)
    location: str = ""  # path or URL where a person finds it
    issued_at: UtcDatetime = Field(default_factory=utcnow)
    total: Decimal = Decimal("0")  # tax included, in the order currency
    tax: Decimal = Decimal("0")
    currency: str = ""
    refund_id: str = ""  # for a credit note: the store refund it books


class TimelineEntry(_Record):
    at: UtcDatetime = Field(default_factory=utcnow)
    actor: str  # "intake", "validation", "invoicing", "operator:<name>", …
    action: str  # a state name or an event ("event.duplicate", "retry.requested")
    text: str = ""  # catalog key of the sentence for people ("timeline.<name>"); "" on older entries
    data: dict[str, Any] = Field(default_factory=dict)  # the template's values; never personal data
    detail: str = ""  # legacy: the English sentence of entries stored before `text`
    detail_es: str = ""  # legacy: its Spanish twin ("" on entries older still)

    def describe(self, lang: str = texts.DEFAULT_LANGUAGE) -> str:
        """The sentence in lang: rendered from `text` and `data`, or an old entry's stored sentence."""
        if self.text:
            return texts.render(self.text, self.data, lang)
        if lang == "es" and self.detail_es:
            return self.detail_es
        return self.detail


class OrderRecord(_Record):
    store_id: str
    order_id: str
    state: OrderState = OrderState.RECEIVED
    order: Order | None = None  # the newest snapshot the store sent
    source_updated_at: UtcDatetime | None = None  # store's modification time of that snapshot
    problems: list[Problem] = Field(default_factory=list)
    documents: list[DocumentRef] = Field(default_factory=list)
    created_at: UtcDatetime = Field(default_factory=utcnow)
    changed_at: UtcDatetime = Field(default_factory=utcnow)
    # The invoice needs no full buyer identity (Spain's factura simplificada, F2): a consumer within the country's
    # simplified-invoice limit, or one the store's default buyer stands in for. Set when the order is validated.
    simplified_invoice: bool = False
    attempt: int = 0  # raised by each retry a person asks for; part of the stage commands' message ids
    version: str = ""  # opaque concurrency token (row version / ETag); "" before the first save

    def document(self, kind: str, refund_id: str = "") -> DocumentRef | None:
        for doc in self.documents:
            if doc.kind == kind and doc.refund_id == refund_id:
                return doc
        return None


class Claim(_Record):
    """An idempotency claim on a business key, taken with insert-if-absent before acting."""

    key: str
    store_id: str
    status: Literal["pending", "done"] = "pending"
    number: str = ""  # a document number allocated with the claim (gap-free series)
    data: dict[str, Any] = Field(default_factory=dict)
    created_at: UtcDatetime = Field(default_factory=utcnow)


class OutgoingMessage(_Record):
    """A bus message recorded with its event (transactional outbox), sent again by the relay until the bus
    has it. The queue is the logical name ("order-events"); the app setting maps it when sent."""

    # Base64 in JSON: a body is bytes, and the record must round-trip whatever they are.
    model_config = ConfigDict(extra="ignore", ser_json_bytes="base64", val_json_bytes="base64")
    queue: str
    body: bytes
    message_id: str
    session_id: str | None = None
    properties: dict[str, str] = Field(default_factory=dict)


class EventRecord(_Record):
    """A store notification as received: kept for audit and replay, and the outbox of its bus message.

    `unsent` is set in the same insert as the event and cleared once the bus has the message, so an event
    acknowledged to the store reaches the queue even when the process dies in between (shared.handlers.relay).
    """

    store_id: str
    event_key: str
    channel: str
    topic: str
    order_id: str
    received_at: UtcDatetime
    headers: dict[str, str] = Field(default_factory=dict)  # non-secret delivery headers only
    body: bytes = b""
    message: OutgoingMessage | None = None  # kept while unsent only: it repeats the body's personal data
    unsent: bool = False  # True from the insert until the message is on the bus
