"""Store settings: the typed shape of one store's YAML file, and the errors that name what is wrong in one.

Reading and checking the files (`env:` values, the rules' and the seller's checks) is shared.store_files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from stdnum.es import nif as stdnum_nif

from shared.channels import CHANNEL_NAMES
from shared.domain.limits import MAX_ITEM_CODE_BYTES, MAX_STORE_ID_BYTES, size, too_long
from shared.domain.verifactu import VerifactuSettings
from shared.errors import BadRequest, ConfigError, RetryableError

MIN_SECRET_LENGTH = 16
# On Azure an app setting whose Key Vault (or App Configuration) reference cannot be resolved keeps the
# reference text as its value; used as a secret, anyone who reads the setting's definition could sign.
UNRESOLVED_REFERENCES = ("@Microsoft.KeyVault(", "@Microsoft.AppConfiguration(")
UNRESOLVED_REASON = (
    "is a Key Vault reference that did not resolve; give the app's identity read access to the secret "
    "and check the reference"
)


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Seller(_Settings):
    """The merchant as it appears on invoices (EN 16931 BG-4)."""

    name: str
    trading_name: str = ""
    vat_id: str = ""  # with country prefix, e.g. ESB12345674
    legal_id: str = ""  # company registration id, if any
    street: str = ""
    additional_street: str = ""
    city: str = ""
    postal_code: str = ""
    region: str = ""
    country: str  # ISO 3166-1 alpha-2
    email: str = ""
    phone: str = ""
    endpoint_id: str = ""  # Peppol electronic address (BT-34); defaults to the VAT id
    endpoint_scheme: str = ""  # EAS code, e.g. 9920 for a Spanish VAT id; derived when empty
    iban: str = ""  # for credit transfer payment means (BT-84)

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        value = value.strip().upper()
        if len(value) != 2 or not value.isalpha():
            raise ValueError("must be a two-letter ISO 3166-1 country code")
        return value


class DefaultBuyer(_Settings):
    """Who an invoice names when the order carries no buyer name or country (point of sale, drafts, orders made
    in the store's admin): a consumer within the country's simplified-invoice limit (rules.billing)."""

    name: str = Field(min_length=1)  # e.g. "Consumidor final"
    country: str  # ISO 3166-1 alpha-2

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is empty; an invoice must name its buyer")
        return value.strip()

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        return Seller._country(value)


class InvoiceSettings(_Settings):
    invoice_prefix: str = "INV-"
    credit_note_prefix: str = "CN-"
    number_digits: int = Field(default=6, ge=1, le=12)
    payment_means_code: str = "ZZZ"  # UNCL4461; 30 credit transfer, 48 card, 58 SEPA, ZZZ mutually defined
    payment_terms: str = ""  # free text on the invoice (BT-20)
    default_tax_category: Literal["S", "Z", "E", "AE", "K", "G", "O", "L", "M"] = "S"
    # A zero-rated sale to a buyer with a VAT id in another EU member state: K, intra-community supply of goods
    # (an online shop shipping goods); AE, reverse charge (a seller of services, where the buyer accounts for VAT).
    intra_eu_b2b: Literal["K", "AE"] = "K"
    default_buyer: DefaultBuyer | None = None  # for orders without buyer name or country; None holds them
    # The currency of the documents: presentment, what the customer paid (default); shop, the shop's own.
    currency: Literal["presentment", "shop"] = "presentment"
    # The seller's accounting currency (BT-6), filled from the store's `currency` when documents are made.
    accounting_currency: str = ""

    @field_validator("accounting_currency")
    @classmethod
    def _accounting_currency(cls, value: str) -> str:
        value = value.strip().upper()
        if value and (len(value) != 3 or not value.isalpha()):
            raise ValueError("must be a three-letter ISO 4217 currency code, or left out for the store's currency")
        return value

    @field_validator("payment_means_code")
    @classmethod
    def _payment_means(cls, value: str) -> str:
        from shared.targets.ubl.codes import PAYMENT_MEANS

        value = value.strip()
        if value not in PAYMENT_MEANS:
            raise ValueError("must be a UNCL4461 payment means code (e.g. 30, 48, 58, ZZZ)")
        if value in ("49", "59"):
            raise ValueError("direct debit (49, 59) needs a mandate reference that store orders do not carry")
        return value


class ProductSettings(_Settings):
    """How an order line finds its item in the target (shared.domain.rules.mapping.item_code_for)."""

    # map: through the SKU map (SKU, "SKU:variant id", "product:<id>", "product:<id>:<variant id>");
    # sku: the store's SKU is the item code (the map still serves lines without a SKU).
    match: Literal["map", "sku"] = "map"
    custom_item: str = ""  # item code for lines that are no catalogue product (no SKU, no product id)

    @field_validator("custom_item")
    @classmethod
    def _custom_item(cls, value: str) -> str:
        refusal = too_long("custom_item", value.strip(), MAX_ITEM_CODE_BYTES)
        if refusal:
            raise ValueError(refusal.removeprefix("custom_item: "))
        return value.strip()


class StoreApi(_Settings):
    """Credentials for re-fetching orders and pushing stock (catch-up poll, stock stage)."""

    base_url: str = ""
    consumer_key: str = ""  # WooCommerce
    consumer_secret: str = ""  # WooCommerce
    access_token: str = ""  # Shopify Admin API
    api_version: str = "2025-07"  # Shopify
    location_id: str = ""  # Shopify: the location (gid://shopify/Location/…) whose stock follows the target's


class StockSyncSettings(_Settings):
    """Stock back to the store (shared.handlers.stock): the target's sellable quantity minus a safety buffer."""

    enabled: bool = True  # with store API credentials and a target that reports stock
    safety_buffer: int = Field(default=0, ge=0)  # units held back from the store per product


class TrytonSettings(_Settings):
    url: str = "http://127.0.0.1:8000"
    database: str = "o2c"
    user: str = "admin"
    password: str = ""
    customer_match: Literal["tax_id_then_email", "email", "always_create"] = "tax_id_then_email"
    requests_per_second: float = Field(default=5.0, gt=0)
    burst: int = Field(default=5, ge=1)
    max_concurrency: int = Field(default=2, ge=1)
    timeout_seconds: float = Field(default=30.0, gt=0)


class RetentionSettings(_Settings):
    """How long personal data stays in this service's own records (shared.handlers.privacy).

    Issued documents are never touched: the outbox / ERP is the legal record (Spain: 4 years for tax,
    6 for the commercial code). These limits cover our copies: the raw deliveries and the order records.
    """

    # Days after a finished order (invoiced, paid, credited, cancelled) last changed before its buyer's
    # name, e-mail, phone, addresses and tax id are redacted. At least 30: the EU 14-day withdrawal period
    # plus delivery, so a return is still credited from the full order.
    personal_data_days: int = Field(default=90, ge=30, le=3650)
    # Days a raw delivery (body as the store sent it: addresses, IP address, user agent) is kept whole.
    # At least 7: enough to compare a delivery with the order during the week it was processed.
    raw_events_days: int = Field(default=30, ge=7, le=3650)


class StoreSettings(_Settings):
    store_id: str
    channel: str  # a name from the channel registry (shared.channels)
    webhook_secret: str
    currency: str
    target: Literal["ubl", "tryton"] = "ubl"
    name: str = ""
    language: Literal["en", "es"] = "en"
    seller: Seller | None = None
    invoice: InvoiceSettings = Field(default_factory=InvoiceSettings)
    api: StoreApi = Field(default_factory=StoreApi)
    tryton: TrytonSettings = Field(default_factory=TrytonSettings)
    # SKU (or "SKU:variant id") → target item code, as shipped with the store; the map uploaded through
    # the API or CLI (kept in state) overrides it entry by entry.
    sku_map: dict[str, str] = Field(default_factory=dict)
    products: ProductSettings = Field(default_factory=ProductSettings)
    # Validation rules; their schema lives with the rules (shared.domain.rules) and is checked there.
    rules: dict[str, Any] = Field(default_factory=dict)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    stock_sync: StockSyncSettings = Field(default_factory=StockSyncSettings)
    outgoing_writes: bool = True  # False blocks every write to the target and store (a safe pause)
    # Spain: chained VERI*FACTU records for every document the UBL target issues (shared.fiscal.verifactu).
    verifactu: VerifactuSettings = Field(default_factory=VerifactuSettings)

    @field_validator("verifactu")
    @classmethod
    def _verifactu(cls, value: VerifactuSettings, info: ValidationInfo) -> VerifactuSettings:
        if not value.enabled:
            return value
        # When an ERP issues the invoice, its own VERI*FACTU module keeps the records: ours would be a second chain.
        if info.data.get("target") != "ubl":
            raise ValueError("verifactu.enabled needs target: ubl (an ERP keeps its own VERI*FACTU records)")
        seller = info.data.get("seller")
        vat_id = (seller.vat_id if seller is not None else "").replace(" ", "").upper()
        if seller is None or seller.country != "ES" or not stdnum_nif.is_valid(vat_id.removeprefix("ES")):
            raise ValueError(
                "verifactu.enabled needs a Spanish seller (seller.country: ES) with a valid NIF in seller.vat_id"
            )
        return value

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        # Worded like pydantic's own message for a fixed choice, as when the names were a Literal.
        if value not in CHANNEL_NAMES:
            raise ValueError("Input should be " + " or ".join(f"'{name}'" for name in CHANNEL_NAMES))
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        value = value.strip().upper()
        if len(value) != 3 or not value.isalpha():
            raise ValueError("must be a three-letter ISO 4217 currency code")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: str) -> str:
        # The reason never shows the value: it reaches logs and the anonymous health route.
        if value.startswith(UNRESOLVED_REFERENCES):
            raise ValueError(UNRESOLVED_REASON)
        if not value.strip():
            raise ValueError("is empty; a store would accept deliveries signed with an empty key")
        if len(value) < MIN_SECRET_LENGTH:
            raise ValueError(f"is shorter than {MIN_SECRET_LENGTH} characters; use a long random secret")
        return value

    @field_validator("store_id")
    @classmethod
    def _store_id(cls, value: str) -> str:
        if not value or not all(c.isalnum() or c in "-_" for c in value):
            raise ValueError("must be letters, digits, '-' or '_'")
        # It is part of every session id ("<store_id>/<order_id>", 128 characters) and Table key.
        if size(value, "bytes") > MAX_STORE_ID_BYTES:
            raise ValueError(f"is {size(value, 'bytes')} bytes long (UTF-8); the limit is {MAX_STORE_ID_BYTES}")
        return value


@dataclass(frozen=True)
class StoreProblem:
    """Why one store file is refused: the file, the key (dotted) and the reason, never a secret value."""

    file: str
    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.reason}"

    def as_dict(self) -> dict[str, str]:
        return {"file": self.file, "key": self.key, "reason": self.reason}


class StoreFileError(ConfigError):
    """A store file that cannot be loaded; `problems` lists every reason found."""

    def __init__(self, problems: list[StoreProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


class StoreNotLoaded(BadRequest, RetryableError):
    """A request for a store whose file was refused at load: 503, so the store sends it again later.

    Retryable for queued work too: a message already on the bus waits for the fix (then fails, replayable)
    instead of being completed unprocessed.
    """

    def __init__(self, store_id: str, problems: list[StoreProblem]) -> None:
        reasons = "; ".join(str(p) for p in problems)
        super().__init__(
            503,
            "Store settings not loaded",
            f"Store '{store_id}' is not served until its settings file is fixed: {reasons}",
        )
        self.store_id = store_id
        self.problems = problems


@dataclass
class LoadedStores:
    """Every store file of a folder: the stores that loaded and, by store id, why the others did not."""

    stores: dict[str, StoreSettings] = field(default_factory=dict)
    broken: dict[str, list[StoreProblem]] = field(default_factory=dict)
