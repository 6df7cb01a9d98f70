"""Ports: the abstract edges of the service. Adapters implement them; handlers get them by name.

Every method is safe to call again with the same arguments (idempotent) unless its docstring says
otherwise. Adapters raise shared.errors.RetryableError for passing faults.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol, runtime_checkable

from shared.domain.order import Order, Refund
from shared.domain.records import Claim, DocumentRef, EventRecord, OrderRecord, TimelineEntry
from shared.domain.verifactu import RecordState, VerifactuRecord


@dataclass(frozen=True)
class StockLevel:
    quantity: Decimal
    as_of: datetime  # UTC: when the quantity was counted


class ConcurrencyError(Exception):
    """A save lost an optimistic-concurrency race (version/ETag changed); reload and try again."""


class StateStore(Protocol):
    def record_event(self, event: EventRecord) -> bool:
        """Insert the event if its (store_id, event_key) is new. True if inserted, False if known.

        The event's message and unsent mark are stored in the same atomic insert (transactional outbox):
        once this returns True, unsent_events finds the event until mark_event_sent clears the mark.
        """

    def get_event(self, store_id: str, event_key: str) -> EventRecord | None: ...

    def unsent_events(self, received_before: datetime, limit: int = 100) -> list[EventRecord]:
        """Events still marked unsent that were received before `received_before`, oldest first, at most
        `limit`. Reads an index of unsent events only, never every event."""

    def mark_event_sent(self, store_id: str, event_key: str) -> None:
        """Clear the unsent mark once the bus has the event's message. Idempotent; an unknown key is a no-op."""

    def mark_events_sent(self, keys: Sequence[tuple[str, str]]) -> None:
        """mark_event_sent for each (store_id, event_key), in one step where the store can: the relay's batches."""

    def get_order(self, store_id: str, order_id: str) -> OrderRecord | None: ...

    def save_order(self, record: OrderRecord, timeline: Sequence[TimelineEntry] = ()) -> OrderRecord:
        """Create (record.version == "") or update when the stored version still equals record.version,
        and append the timeline entries, all in one atomic step: a crash keeps both or neither.

        Returns the record with its new version. Raises ConcurrencyError when someone saved in between
        or, on create, when the order already exists.
        """

    def list_orders(self, store_id: str | None = None, state: str | None = None, limit: int = 100) -> list[OrderRecord]:
        """Newest change first."""

    def count_orders(self, store_id: str | None = None) -> dict[str, int]:
        """How many orders are in each state (states with none are left out), for one store or all."""

    def append_timeline(self, store_id: str, order_id: str, entry: TimelineEntry) -> None: ...

    def get_timeline(self, store_id: str, order_id: str) -> list[TimelineEntry]:
        """Oldest first."""

    def claim(self, store_id: str, key: str, series: str | None = None) -> tuple[Claim, bool]:
        """Insert-if-absent a claim on a business key. Returns (claim, created).

        With a series, a document number is allocated from that gap-free per-store series in the same
        atomic step, so a number is never used twice and never skipped: a claim that exists keeps its
        number for the retry that completes it.
        """

    def complete_claim(self, store_id: str, key: str, data: Mapping[str, object]) -> Claim: ...

    def get_sku_map(self, store_id: str) -> dict[str, str]: ...

    def put_sku_map(self, store_id: str, mapping: Mapping[str, str], replace: bool = True) -> None: ...

    def get_watermark(self, name: str) -> str | None: ...

    # the stock table of a target that keeps no stock itself (the UBL outbox), uploaded by the merchant
    def get_stock_table(self, store_id: str) -> dict[str, StockLevel]:
        """Item code → its last uploaded quantity and the time that quantity was counted."""

    def put_stock_table(self, store_id: str, levels: Mapping[str, Decimal], as_of: datetime) -> int:
        """Set each item's quantity as counted at `as_of` (UTC), unless the table holds a newer count of that
        item: an older reading never overwrites a newer one. Returns how many rows were written. Items not named
        keep their row."""

    def set_watermark(self, name: str, value: str) -> None: ...

    # personal data: retention and erasure (shared.handlers.privacy) ----------------------------
    def scan_orders(self, store_id: str, changed_before: datetime | None = None) -> Iterator[OrderRecord]:
        """Every order of one store (optionally only those last changed before a time), in no set order.

        A full read of the store's orders: for the daily retention run and an erasure request, not for
        a request path that must be fast.
        """

    def scan_events(
        self, store_id: str, *, received_before: datetime | None = None, order_id: str | None = None
    ) -> Iterator[EventRecord]:
        """The raw events of one store, optionally only those received before a time or of one order."""

    def replace_event(self, event: EventRecord) -> None:
        """Overwrite the headers and body of an event that exists (its redacted copy). KeyError if unknown."""

    def rewrite_timeline(self, store_id: str, order_id: str, rewrite: Callable[[TimelineEntry], TimelineEntry]) -> int:
        """Replace each of the order's timeline entries by rewrite(entry) in place (same position), writing only
        the entries that changed. Returns how many changed. The one exception to an append-only timeline."""


@runtime_checkable
class KeepsVerifactuRecords(Protocol):
    """A state store that keeps VERI*FACTU chains: one gap-free chain of records per issuer (seller NIF)."""

    def append_verifactu_record(
        self, issuer_nif: str, document_key: str, build: Callable[[VerifactuRecord | None], VerifactuRecord]
    ) -> tuple[VerifactuRecord, bool]:
        """In one atomic step: when document_key already has a record, return (it, False); otherwise call
        build(the chain's last record, or None for the first) and store what it returns as the next link,
        (record, True). build must return seq = previous.seq + 1 (1 for the first). A crash keeps the link
        whole or not at all; two writers never append after the same link (one retries on the new head)."""

    def list_verifactu_records(self, issuer_nif: str, after: int = 0, limit: int = 100) -> list[VerifactuRecord]:
        """The issuer's records with seq > after, in chain order, at most limit."""

    def pending_verifactu_records(self, issuer_nif: str, limit: int = 1000) -> list[VerifactuRecord]:
        """Records still "pending" (not answered by AEAT), in chain order, at most limit."""

    def set_verifactu_state(
        self,
        issuer_nif: str,
        seq: int,
        state: RecordState,
        csv: str = "",
        error_code: str = "",
        error_text: str = "",
    ) -> VerifactuRecord:
        """Keep AEAT's answer for one record. KeyError when unknown. The XML and hash never change."""


class Bus(Protocol):
    def send(
        self,
        queue: str,
        body: bytes,
        *,
        message_id: str,
        session_id: str | None = None,
        scheduled_at: datetime | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> None:
        """Send one message. A repeat of message_id within the duplicate-detection window is dropped."""


@dataclass(frozen=True)
class QueuedMessage:
    """One message of Bus.send's arguments, for send_batch."""

    queue: str
    body: bytes
    message_id: str
    session_id: str | None = None
    properties: Mapping[str, str] | None = None


@runtime_checkable
class SendsBatches(Protocol):
    """A bus that takes several messages in one step (the local SQLite bus): the outbox relay's batches."""

    def send_batch(self, messages: Sequence[QueuedMessage]) -> None:
        """Send every message or none (an exception sends none). Each is dropped as a repeat exactly as send()
        would drop it."""


class Target(Protocol):
    """A system that receives invoices and credit notes (UBL outbox, Tryton, …)."""

    name: str

    def find_document(self, order: Order, kind: str, number: str, refund_id: str = "") -> DocumentRef | None:
        """Look the document up by our reference: used before creating after an uncertain outcome."""

    def issue_invoice(self, order: Order, number: str) -> DocumentRef:
        """Create the invoice for the order. Idempotent on (order, number). Raises PermanentError for a
        functional refusal, RetryableError for a passing fault."""

    def issue_credit_note(self, order: Order, refund: Refund, invoice: DocumentRef, number: str) -> DocumentRef:
        """Credit exactly the refunded lines and amounts, referencing the invoice. Idempotent."""


# Target capabilities ---------------------------------------------------------------------------
# What a target does beyond invoices and credit notes, declared by the target (a base class in its class
# statement) and asked with isinstance by the lifecycle: a missing stage is visible to mypy and the reader.


@runtime_checkable
class Preflights(Protocol):
    """Checks a document can be issued before a number is taken from our series (the UBL outbox)."""

    def preflight_invoice(self, order: Order) -> None:
        """Raise PermanentError when the invoice could not be issued; takes no number, writes nothing."""

    def preflight_credit_note(self, order: Order, refund: Refund, invoice: DocumentRef) -> None:
        """Raise PermanentError when the credit note could not be issued; takes no number, writes nothing."""


@runtime_checkable
class AssignsNumbers(Protocol):
    """Numbers its documents itself (an ERP's fiscal sequences): our series is not used."""

    assigns_numbers: Literal[True]


@runtime_checkable
class Ships(Protocol):
    """Keeps stock: ships the invoiced order so stock moves (then the store's stock follows)."""

    def ship_order(self, order: Order) -> None:
        """Ship the order's lines once. Idempotent. Raises PermanentError for a refusal."""


@runtime_checkable
class RecordsPayments(Protocol):
    """Collects: records the store's payment against the invoice."""

    def record_payment(self, order: Order, invoice: DocumentRef, amount: Decimal, paid_at: datetime) -> None:
        """Record the payment once. Idempotent. Raises PermanentError for a refusal."""


@runtime_checkable
class CancelsOrders(Protocol):
    """Cancels in its own way (a credit note of the whole invoice, or a cancelled sale)."""

    def cancel_order(self, order: Order) -> DocumentRef | None:
        """The document that cancels the order, or None when nothing is left to cancel. Idempotent."""


# Documents ------------------------------------------------------------------------------------
# Issued documents (UBL XML today) are kept one per number and never overwritten: locally in a folder,
# on Azure in a Blob Storage container. Every reader (duplicate checks, credit notes, the API) goes
# through this port.

DOCUMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class InvalidDocumentName(ValueError):
    """A store id or document number that cannot name a document (path separators, leading dot, …)."""


class DocumentExists(Exception):
    """put() found a different document under that number: a number is never overwritten."""


@dataclass(frozen=True)
class StoredDocument:
    content: bytes
    modified_at: datetime  # UTC: when it was written
    location: str  # path or URL where a person finds it
    content_type: str = "application/xml"


def document_name(store_id: str, number: str) -> str:
    """`<store_id>/<number>.xml`, the document's name in every adapter. Raises InvalidDocumentName for
    anything that could leave the store's folder or hide the file ("..", "/", a leading dot). Store ids follow
    the store files' rule (letters, digits, '-', '_'), so every store that loads can keep documents."""
    if not store_id or not all(c.isalnum() or c in "-_" for c in store_id):
        raise InvalidDocumentName(f"'{store_id}' cannot be used as a store id in a document name")
    if not DOCUMENT_NAME.fullmatch(number) or ".." in number:
        raise InvalidDocumentName(f"'{number}' cannot be used as a document number in a document name")
    return f"{store_id}/{number}.xml"


class DocumentStore(Protocol):
    """Where issued documents are kept. Adapters raise RetryableError for passing faults."""

    def put(
        self, store_id: str, number: str, content: bytes, *, order_id: str, content_type: str = "application/xml"
    ) -> bool:
        """Write the document only if no document has that number. True if this call wrote it, False if
        the same bytes were already there (a retry). Raises DocumentExists when other bytes are."""

    def get(self, store_id: str, number: str) -> StoredDocument | None:
        """The document, or None when no document has that number."""

    def location(self, store_id: str, number: str) -> str:
        """Path or URL of the document (it need not exist yet)."""

    def check_writable(self) -> None:
        """Raise when a document could not be written now (health check); writes no document."""

    def list(self, store_id: str, modified_after: datetime | None = None) -> Sequence[ListedDocument]:
        """The store's documents (optionally only those written after a time), by number; for reconciliation.
        Reads names and dates only, never the documents."""


@dataclass(frozen=True)
class ListedDocument:
    number: str
    modified_at: datetime  # UTC: when it was written


@runtime_checkable
class ListsInvoices(Protocol):
    """Tells which invoices it holds for orders, found by our reference (reconciliation)."""

    def invoices_by_order(
        self, orders: Sequence[Order], issued_after: datetime | None = None
    ) -> dict[str, list[DocumentRef]]:
        """Order id → every invoice (not credit notes, not cancelled ones) the target holds for it; orders with none
        are left out. More than one is a duplicate. `issued_after` may narrow what is read. Raises RetryableError."""


@runtime_checkable
class CountsQueues(Protocol):
    """A bus that can count a queue's messages (the local bus): waiting, scheduled, in flight, dead-lettered."""

    def stats(self, queue: str) -> object:
        """A dataclass of the queue's counts, for the health report."""


@runtime_checkable
class Pingable(Protocol):
    """A bus that can tell, cheaply and without sending, whether its service answers now (health)."""

    def ping(self, queues: Sequence[str]) -> None:
        """Raise when the service, or one of these queues, cannot be reached with this identity."""


# Store API ------------------------------------------------------------------------------------
# The store's own API, outbound (shared.channels.<channel>.store_api, picked through the registry by
# shared.channels.store_api.store_api(settings)): orders for the catch-up poll, reconciliation and backfill,
# stock back to the store, and the webhook subscriptions the health check compares with what we need.
# Adapters raise RetryableError for timeouts, 429 (after honouring Retry-After / query cost a few times) and
# 5xx; PermanentError("store_api_refused", …) for a refusal a retry will not fix (401/403, a wrong base_url).


@dataclass(frozen=True)
class StoreOrder:
    """One order as the store's API shows it: the summary reconciliation compares, and the raw JSON object
    (the webhook's shape) that the catch-up poll and backfill feed through intake under the channel's POLL_TOPIC."""

    order_id: str
    number: str
    status: str  # the store's own word (WooCommerce "processing", Shopify financial status / "cancelled")
    total: Decimal
    currency: str
    created_at: datetime | None  # UTC
    updated_at: datetime | None  # UTC
    raw: bytes


@dataclass(frozen=True)
class OrderPage:
    """One page of a listing; `cursor` is opaque (a page number, a Shopify page_info link) and None on the last."""

    orders: list[StoreOrder]
    cursor: str | None


@dataclass(frozen=True)
class StockItem:
    """A product or variant of the store, by SKU. `ref` is the adapter's handle for a write (WooCommerce
    "product_id" or "parent_id/variation_id"; Shopify the inventory item gid). `quantity` is the store's available
    quantity now (None when it does not manage stock for this item, `managed` False)."""

    sku: str
    ref: str
    managed: bool
    quantity: int | None


@dataclass(frozen=True)
class StockChange:
    """Set `item` to `quantity`. `item.quantity` is what the change replaces: Shopify refuses the write when the
    store's quantity is no longer that (compareQuantity), so a concurrent sale is not overwritten."""

    item: StockItem
    quantity: int


@dataclass(frozen=True)
class StockWriteResult:
    written: list[str]  # SKUs set
    conflicts: list[str]  # SKUs whose store quantity changed since it was read: read again, then retry
    refused: dict[str, str]  # SKU → the store's reason (no such product any more, stock not managed, …)


WebhookStatus = Literal["active", "paused", "disabled"]


@dataclass(frozen=True)
class WebhookSubscription:
    """One webhook subscription of the store. Shopify lists only live subscriptions (it deletes failing ones),
    so its status is always "active"; WooCommerce keeps disabled ones (five failed deliveries in a row)."""

    subscription_id: str
    topic: str  # the channel's topic name, as in its TOPICS (order.updated, orders/create, …)
    delivery_url: str
    status: WebhookStatus


OrderDateField = Literal["created", "updated"]


class StoreApi(Protocol):
    """The store's Admin/REST API for one store (credentials from its StoreSettings.api)."""

    def can_read_orders(self) -> bool:
        """Whether the credentials needed to list and read orders are configured (no call is made)."""

    def list_orders(
        self,
        start: datetime,
        end: datetime | None = None,
        *,
        by: OrderDateField = "updated",
        cursor: str | None = None,
    ) -> OrderPage:
        """One page of the orders created or last updated (`by`) in [start, end) (UTC; end None means now), of any
        status, in the store's order (WooCommerce oldest first; Shopify as its REST API lists them). Pass the returned
        cursor to get the next page."""

    def iter_orders(
        self, start: datetime, end: datetime | None = None, *, by: OrderDateField = "updated", max_pages: int = 50
    ) -> Iterator[StoreOrder]:
        """Every order of list_orders, page after page, stopping after max_pages."""

    def get_order(self, order_id: str) -> StoreOrder | None:
        """One order, or None when the store has no such order (deleted)."""

    def read_stock(self, skus: Sequence[str]) -> dict[str, StockItem]:
        """The store's stock items for these SKUs (variants included); SKUs the store does not know are left out."""

    def set_stock(self, changes: Sequence[StockChange]) -> StockWriteResult:
        """Set each item's available quantity, batched within the store's limits (WooCommerce batch of 100 per
        product/variations endpoint; Shopify inventorySetQuantities with compareQuantity)."""

    def list_webhooks(self) -> list[WebhookSubscription]:
        """Every webhook subscription of the store (all pages)."""

    def create_webhook(self, topic: str, delivery_url: str, secret: str) -> WebhookSubscription:
        """Subscribe `topic` to `delivery_url`, active, signed with `secret` (WooCommerce takes it per webhook;
        Shopify signs with the app's secret, which must be the store's webhook_secret)."""

    def delete_webhook(self, subscription_id: str) -> None:
        """Remove one subscription; an unknown id is a no-op."""


@runtime_checkable
class ReportsStock(Protocol):
    """A target that keeps stock and can say how much of each item a shop may sell now (Tryton per warehouse,
    the UBL target's uploaded stock table)."""

    def sellable_stock(self, item_codes: Sequence[str]) -> dict[str, Decimal]:
        """Item code → quantity the shop may sell now; codes the target does not know are left out."""
