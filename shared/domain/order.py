"""The canonical order model: every channel parser maps into it, every rule and target reads from it.

Money is Decimal in the order's currency, always excluding tax unless the field name says otherwise;
ids are strings (Shopify ids exceed 2^53); times are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.domain.taxlines import applied_rate


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        # Stores that send naive times (WooCommerce's *_gmt fields) mean UTC.
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
ZERO = Decimal("0")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=False, extra="forbid", str_strip_whitespace=True)


# A channel's name as the registry in shared.channels knows it ("the store system"); the channels validate it.
Channel = str


class OrderState(StrEnum):
    RECEIVED = "received"
    VALIDATED = "validated"
    INVOICED = "invoiced"
    STOCK_SYNCED = "stock_synced"
    PAID = "paid"
    HELD = "held"
    CREDITED = "credited"
    CANCELLED = "cancelled"
    FAILED = "failed"


class Address(_Model):
    name: str = ""
    company: str = ""
    line1: str = ""
    line2: str = ""
    city: str = ""
    postal_code: str = ""
    region: str = ""
    country: str = ""  # ISO 3166-1 alpha-2, upper case; "" when the store sent none
    email: str = ""
    phone: str = ""


class Customer(_Model):
    customer_id: str = ""  # the store's customer id; "" for guest checkouts
    name: str = ""
    email: str = ""
    tax_id: str = ""  # as the buyer typed it; rules validate and compact it
    billing: Address = Field(default_factory=Address)
    shipping: Address = Field(default_factory=Address)


class TaxLine(_Model):
    """One tax applied to a line or charge, as the store computed it."""

    name: str = ""
    rate: Decimal | None = None  # percent, e.g. Decimal("21"); None when the store did not say
    amount: Decimal = ZERO


class OrderLine(_Model):
    line_id: str
    sku: str = ""
    product_id: str = ""
    variant_id: str = ""
    name: str = ""
    quantity: Decimal
    unit_price: Decimal  # before discount, excluding tax
    subtotal: Decimal  # quantity x unit price, before discount, excluding tax
    discount: Decimal = ZERO  # discount on this line, excluding tax, positive
    total: Decimal  # subtotal - discount, excluding tax
    tax: Decimal = ZERO  # tax on total
    taxes: list[TaxLine] = Field(default_factory=list)
    tax_class: str = ""  # the store's tax class ("", "reduced-rate", "zero-rate", …)
    taxable: bool = True

    @property
    def tax_rate(self) -> Decimal | None:
        """Percent; one rate per distinct tax (shared.domain.taxlines)."""
        return applied_rate(self.taxes, self.total, self.tax)


class Charge(_Model):
    """Shipping or a fee: an amount on the order that is not a product line."""

    kind: Literal["shipping", "fee"]
    charge_id: str = ""
    code: str = ""  # shipping method id or fee name, for mapping to a target item
    name: str = ""
    amount: Decimal  # excluding tax, after its own discount; may be negative for a fee
    tax: Decimal = ZERO
    taxes: list[TaxLine] = Field(default_factory=list)
    tax_class: str = ""
    taxable: bool = True

    @property
    def tax_rate(self) -> Decimal | None:
        """Percent; one rate per distinct tax (shared.domain.taxlines)."""
        return applied_rate(self.taxes, self.amount, self.tax)


class Coupon(_Model):
    code: str
    amount: Decimal = ZERO  # discount it gave, excluding tax, positive
    tax: Decimal = ZERO  # the tax part of that discount


class RefundLine(_Model):
    line_id: str  # the OrderLine.line_id it refunds
    sku: str = ""
    quantity: Decimal  # positive count of units refunded (0 for an amount-only refund of a line)
    amount: Decimal  # refunded amount excluding tax, positive
    tax: Decimal = ZERO  # refunded tax, positive
    restock: bool = False


class Refund(_Model):
    refund_id: str
    created_at: UtcDatetime
    reason: str = ""
    lines: list[RefundLine] = Field(default_factory=list)
    shipping: Decimal = ZERO  # refunded shipping excluding tax, positive
    shipping_tax: Decimal = ZERO
    amount: Decimal  # total refunded including tax, positive

    @property
    def lines_total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    @property
    def tax_total(self) -> Decimal:
        return sum((line.tax for line in self.lines), ZERO) + self.shipping_tax

    @property
    def unallocated(self) -> Decimal:
        """Refunded money not tied to a line or shipping (WooCommerce "refund amount" only)."""
        return self.amount - self.lines_total - self.shipping - self.tax_total


class Order(_Model):
    """A store order as we understand it, whatever channel it came from."""

    channel: Channel
    store_id: str
    order_id: str  # the store's own id (WooCommerce post id, Shopify numeric id as a string)
    number: str  # the number the buyer sees (#1001, 4711)
    status: str = ""  # the store's status word, kept for people, not for decisions
    currency: str
    created_at: UtcDatetime
    updated_at: UtcDatetime
    prices_include_tax: bool = False
    customer: Customer = Field(default_factory=Customer)
    lines: list[OrderLine] = Field(default_factory=list)
    shipping: list[Charge] = Field(default_factory=list)
    fees: list[Charge] = Field(default_factory=list)
    coupons: list[Coupon] = Field(default_factory=list)
    discount_total: Decimal = ZERO  # excluding tax, positive
    shipping_total: Decimal = ZERO  # excluding tax
    tax_total: Decimal = ZERO
    total: Decimal  # what the buyer pays, tax included
    payment_method: str = ""
    payment_method_title: str = ""
    paid_at: UtcDatetime | None = None
    cancelled: bool = False
    refunds: list[Refund] = Field(default_factory=list)
    note: str = ""
    meta: dict[str, str] = Field(default_factory=dict)  # order meta / note attributes, for tax ids and rules
    # When the order is in the currency the customer paid and the shop keeps another one (Shopify's presentment
    # and shop money): the shop's currency and its own figures for the total and the tax; "" / None otherwise.
    shop_currency: str = ""
    shop_total: Decimal | None = None
    shop_tax_total: Decimal | None = None
    # Set when the buyer's personal data was redacted from this snapshot (retention or erasure): no document
    # is ever issued from it (shared.handlers.privacy). A new snapshot from the store comes without it.
    redacted_at: UtcDatetime | None = None

    @property
    def key(self) -> str:
        return f"{self.store_id}/{self.order_id}"


class EventKind(StrEnum):
    ORDER_UPSERTED = "order.upserted"  # created or updated
    ORDER_DELETED = "order.deleted"
    ORDER_RESTORED = "order.restored"
    ORDER_PAID = "order.paid"
    ORDER_CANCELLED = "order.cancelled"
    REFUND_CREATED = "refund.created"


class OrderEvent(_Model):
    """What intake puts on the order-events queue: one store notification, canonical."""

    event_key: str  # idempotency key; also the bus message id
    kind: EventKind
    channel: Channel
    store_id: str
    order_id: str
    topic: str  # the store's own topic name (order.updated, orders/paid)
    occurred_at: UtcDatetime  # the store's modification time of the order, for ordering
    received_at: UtcDatetime
    order: Order | None = None  # None for a deletion that carries only an id
    refund: Refund | None = None
    delivery_id: str = ""  # X-WC-Webhook-Delivery-ID / X-Shopify-Webhook-Id, for people
    # Why the store's order could not be read ("line_items[0].total: 'abc' is not a number."). An authentic
    # delivery with an unreadable order is accepted and held for a person rather than refused: the store
    # would not send it again (WooCommerce disables a webhook after repeated failures).
    unreadable: str = ""
