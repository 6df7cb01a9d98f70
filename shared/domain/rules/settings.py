"""The `rules:` block of a store's YAML file: the full schema, parsed and checked when the store loads.

Validation turns every mistake into one ConfigError naming the file, the key and the reason, so a wrong
rules file is refused at start-up instead of holding orders for the wrong reason later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.errors import ConfigError

# Money and rates are written as strings ("12.40") or numbers in YAML. A YAML float such as 0.1 goes
# through str() first, so Decimal("0.1") is kept rather than the binary float's long expansion.
NonNegative = Annotated[Decimal, Field(ge=0)]
Percent = Annotated[Decimal, Field(ge=0, le=100)]

EU_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)


def _decimal_from_yaml(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def _country(value: str, *, wildcard: bool = False) -> str:
    value = value.strip().upper()
    if wildcard and value == "*":
        return value
    if value == "EL":  # Greece's VAT prefix; ISO 3166 says GR
        return "GR"
    if len(value) != 2 or not value.isalpha():
        raise ValueError("must be a two-letter ISO 3166-1 country code" + (" or '*'" if wildcard else ""))
    return value


class _Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriceSource(_Rules):
    source: Literal["store", "price_list"] = "store"


class TaxRate(_Rules):
    """One row of the tax table. The most specific matching row wins (region, then country, then class)."""

    country: str  # ISO alpha-2, or "*" for any destination
    region: tuple[str, ...] = ()  # store region codes (WooCommerce state, Shopify province_code); () = any
    tax_class: str = "*"  # the store's class; "standard" also matches WooCommerce's empty class
    outside_eu: bool = False  # only destinations outside the EU (exports)
    buyer: Literal["any", "business", "consumer"] = "any"  # business = the order carries a valid tax id
    rate: Percent

    _rate_from_yaml = field_validator("rate", mode="before")(_decimal_from_yaml)

    @field_validator("country")
    @classmethod
    def _check_country(cls, value: str) -> str:
        return _country(value, wildcard=True)

    @field_validator("region", mode="before")
    @classmethod
    def _regions(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple):
            return tuple(str(v).strip().upper() for v in value if str(v).strip())
        return value

    @field_validator("tax_class")
    @classmethod
    def _tax_class(cls, value: str) -> str:
        return normalise_tax_class(value) if value.strip() != "*" else "*"


class TaxSettings(_Rules):
    default_country: str = ""  # destination when the order has no address (digital goods, pickup)
    destination: Literal["shipping", "billing"] = "shipping"  # which address decides the rate; falls back
    rates: tuple[TaxRate, ...] = ()  # empty: rates are not checked
    shipping_taxable: bool = True
    shipping_tax_class: str = "standard"  # class for shipping when the store gives none
    fees_taxable: bool = True
    fees_tax_class: str = "standard"
    tolerance: NonNegative = Decimal("0.01")  # per line / charge, for recomputed tax amounts

    _tolerance_from_yaml = field_validator("tolerance", mode="before")(_decimal_from_yaml)

    @field_validator("default_country")
    @classmethod
    def _default_country(cls, value: str) -> str:
        return _country(value) if value.strip() else ""

    @field_validator("shipping_tax_class", "fees_tax_class")
    @classmethod
    def _classes(cls, value: str) -> str:
        return normalise_tax_class(value)


class TaxIdSettings(_Rules):
    validate_ids: bool = Field(default=True, alias="validate")  # check every tax id the order carries
    required_for_b2b: bool = False  # a company buyer must give a tax id …
    countries: tuple[str, ...] = ()  # … in these billing countries; () = every country
    meta_keys: tuple[str, ...] = ()  # extra Order.meta keys to read, before the built-in ones

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("countries")
    @classmethod
    def _countries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_country(v) for v in value)


BillingField = Literal["name", "tax_id", "line1", "postal_code", "city", "region", "country"]


class BillingRequirement(_Rules):
    """Billing fields an invoice needs in one country, by kind of buyer."""

    always: tuple[BillingField, ...] = ()
    business: tuple[BillingField, ...] = ()  # buyer with a company name or a tax id
    over_limit: tuple[BillingField, ...] = ()  # consumer whose order total exceeds the limit
    limit: NonNegative | None = None  # simplified-invoice limit, tax included, in `limit_currency`
    limit_currency: str = ""  # the limit applies only to orders in this currency ("" = any)

    _limit_from_yaml = field_validator("limit", mode="before")(_decimal_from_yaml)


class BillingSettings(_Rules):
    check: bool = True
    # Replaces the built-in requirement of a country (see billing.py and docs/RULES.md), key = ISO alpha-2.
    countries: dict[str, BillingRequirement] = Field(default_factory=dict)

    @field_validator("countries")
    @classmethod
    def _countries(cls, value: dict[str, BillingRequirement]) -> dict[str, BillingRequirement]:
        return {_country(k): v for k, v in value.items()}


class TransformSettings(_Rules):
    # store payment method id → payment terms / means code; "*" is the fallback for any other method
    payment_terms: dict[str, str] = Field(default_factory=dict)
    # store shipping method id (WooCommerce method_id, Shopify shipping line code) → target item code
    shipping_items: dict[str, str] = Field(default_factory=dict)
    # fee name → target item code
    fee_items: dict[str, str] = Field(default_factory=dict)

    @field_validator("payment_terms", "shipping_items", "fee_items", mode="before")
    @classmethod
    def _strings(cls, value: Any) -> Any:
        # YAML reads `stripe: 48` as an int; codes are text.
        if isinstance(value, Mapping):
            return {
                str(k): str(v) if isinstance(v, int | Decimal) and not isinstance(v, bool) else v
                for k, v in value.items()
            }
        return value


class RulesSettings(_Rules):
    currencies: tuple[str, ...] = ()  # allowed order currencies; () = the store's `currency` only
    prices: PriceSource = Field(default_factory=PriceSource)
    price_list: dict[str, NonNegative] = Field(default_factory=dict)  # SKU or "SKU:variant id" → unit price
    price_tolerance: NonNegative = Decimal("0.01")  # per unit
    prices_include_tax: bool | None = None  # what the store must report; None = not checked
    rounding: Literal["per_line", "per_document"] = "per_line"
    totals_tolerance: NonNegative = Decimal("0.01")  # per document
    totals_tolerance_per_line: NonNegative = Decimal("0")  # added per line: rounding drift you accept
    check_discounts: bool = True
    check_totals: bool = True
    taxes: TaxSettings = Field(default_factory=TaxSettings)
    tax_ids: TaxIdSettings = Field(default_factory=TaxIdSettings)
    billing: BillingSettings = Field(default_factory=BillingSettings)
    transforms: TransformSettings = Field(default_factory=TransformSettings)

    _decimals_from_yaml = field_validator(
        "price_tolerance", "totals_tolerance", "totals_tolerance_per_line", mode="before"
    )(_decimal_from_yaml)

    @field_validator("price_list", mode="before")
    @classmethod
    def _price_list(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k).strip(): _decimal_from_yaml(v) for k, v in value.items()}
        return value

    @field_validator("currencies", mode="before")
    @classmethod
    def _currencies(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple):
            out = []
            for item in value:
                code = str(item).strip().upper()
                if len(code) != 3 or not code.isalpha():
                    raise ValueError(f"'{item}' is not a three-letter ISO 4217 currency code")
                out.append(code)
            return tuple(out)
        return value

    @model_validator(mode="after")
    def _price_list_needed(self) -> RulesSettings:
        if self.prices.source == "price_list" and not self.price_list:
            raise ValueError("prices.source: is price_list, but price_list is empty")
        return self


def normalise_tax_class(value: str) -> str:
    """WooCommerce calls its standard class "" and Shopify has none: both mean "standard"."""
    value = value.strip().lower()
    return value or "standard"


def _describe(error: ValidationError, filename: str) -> str:
    parts = []
    for item in error.errors():
        key = ".".join(["rules", *(str(p) for p in item["loc"])])
        reason = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        if item["type"] == "value_error":
            reason = reason.removeprefix("Value error, ")
            nested = re.match(r"^([\w.]+): (.*)$", reason)
            if not item["loc"] and nested:  # a check across keys names its key in the message
                key, reason = f"rules.{nested[1]}", nested[2]
        parts.append(f"{filename}: {key}: {reason}")
    return "; ".join(parts)


def parse_rules(rules: Mapping[str, Any] | None, filename: str = "rules") -> RulesSettings:
    """The typed rules of a store. Raises ConfigError("<file>: rules.<key>: <reason>") on any mistake."""
    if rules is None:
        return RulesSettings()
    if not isinstance(rules, Mapping):
        raise ConfigError(f"{filename}: rules: expected a mapping of rule settings")
    try:
        return RulesSettings.model_validate(dict(rules))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, filename)) from exc


def check_rules_settings(rules: Mapping[str, Any], filename: str) -> None:
    """Validate the `rules:` block of a store file; raise ConfigError naming file, key and reason."""
    parse_rules(rules, filename)
