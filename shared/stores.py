"""Store settings: one YAML file per store in the stores folder, validated on load.

Errors name the file, the key and the reason. A value written `env:NAME` is read from the
environment, so secrets live in app settings or Key Vault references, not in the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.domain.limits import MAX_STORE_ID_BYTES, size
from shared.errors import ConfigError


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


class StoreApi(_Settings):
    """Credentials for re-fetching orders and pushing stock (catch-up poll, stock stage)."""

    base_url: str = ""
    consumer_key: str = ""  # WooCommerce
    consumer_secret: str = ""  # WooCommerce
    access_token: str = ""  # Shopify Admin API
    api_version: str = "2025-07"  # Shopify


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
    channel: Literal["woocommerce", "shopify"]
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
    # Validation rules; their schema lives with the rules (shared.domain.rules) and is checked there.
    rules: dict[str, Any] = Field(default_factory=dict)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    outgoing_writes: bool = True  # False blocks every write to the target and store (a safe pause)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        value = value.strip().upper()
        if len(value) != 3 or not value.isalpha():
            raise ValueError("must be a three-letter ISO 4217 currency code")
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


def resolve_env(value: Any, where: str) -> Any:
    """Replace `env:NAME` strings (recursively) with the environment variable's value."""
    if isinstance(value, str) and value.startswith("env:"):
        name = value[4:]
        if name not in os.environ:
            raise ConfigError(f"{where}: environment variable {name} is not set")
        return os.environ[name]
    if isinstance(value, dict):
        return {k: resolve_env(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _describe(error: ValidationError, path: Path) -> str:
    parts = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        reason = "unknown key" if item["type"] == "extra_forbidden" else item["msg"].removeprefix("Value error, ")
        parts.append(f"{path.name}: {key}: {reason}")
    return "; ".join(parts)


def load_store(path: Path) -> StoreSettings:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.name}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path.name}: expected a mapping of settings at the top level")
    raw = resolve_env(raw, path.name)
    try:
        settings = StoreSettings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from exc
    if settings.store_id != path.stem:
        raise ConfigError(f"{path.name}: store_id: '{settings.store_id}' must equal the file name '{path.stem}'")
    from shared.domain.rules import check_rules_settings  # the rules own their schema

    check_rules_settings(settings.rules, path.name)
    return settings


def load_stores(folder: Path) -> dict[str, StoreSettings]:
    stores: dict[str, StoreSettings] = {}
    if not folder.is_dir():
        return stores
    for path in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")):
        settings = load_store(path)
        stores[settings.store_id] = settings
    return stores
