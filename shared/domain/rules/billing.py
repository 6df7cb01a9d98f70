"""Who is buying and what the invoice must say about them: the buyer's tax id (checked with python-stdnum),
the billing fields each country requires on an invoice, by kind of buyer, and the default buyer that stands in
for a consumer without data within the country's simplified-invoice limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from shared import texts
from shared.domain.order import Address, Order
from shared.domain.records import Problem
from shared.domain.rules.messages import problem
from shared.domain.rules.settings import BillingRequirement, RulesSettings, parse_rules
from shared.domain.rules.taxids import MX_GENERIC_RFCS, TaxIdResult, check_tax_id, find_tax_id
from shared.errors import ConfigError
from shared.stores import DefaultBuyer, StoreSettings

# Built-in per-country invoice requirements (our reading of each country's rules; a store can replace a
# country's entry under rules.billing.countries). Limits are tax included, in the country's currency.
# ES: RD 1619/2012 — simplified invoice up to 400 EUR (3000 EUR in some sectors: set limit: "3000"); a full
#     invoice names the buyer, and a business buyer also needs its NIF and address.
# PT: simplified invoice to consumers up to 1000 EUR; businesses need NIF, name and address.
# MX: CFDI 4.0 — a named buyer needs RFC, name and fiscal postal code (DomicilioFiscalReceptor); sales to the
#     public use the generic RFC XAXX010101000 and need nothing.
# CL: factura (business) needs RUT, razón social and address; a boleta (consumer) needs nothing.
# AR: factura A (business) needs CUIT, name and address.
# CO: factura electrónica to a business needs NIT, name, address and city.
# PE: factura (business) needs RUC, name and address; a boleta over 700 PEN needs the buyer's name and id.
BUILT_IN: dict[str, BillingRequirement] = {
    "ES": BillingRequirement(
        business=("tax_id", "name", "line1", "postal_code", "city"),
        over_limit=("name",),
        limit=Decimal("400"),
        limit_currency="EUR",
    ),
    "PT": BillingRequirement(
        business=("tax_id", "name", "line1", "postal_code", "city"),
        over_limit=("name", "line1", "postal_code", "city"),
        limit=Decimal("1000"),
        limit_currency="EUR",
    ),
    "MX": BillingRequirement(business=("tax_id", "name", "postal_code")),
    "CL": BillingRequirement(business=("tax_id", "name", "line1", "city")),
    "AR": BillingRequirement(business=("tax_id", "name", "line1")),
    "CO": BillingRequirement(business=("tax_id", "name", "line1", "city")),
    "PE": BillingRequirement(
        business=("tax_id", "name", "line1"),
        over_limit=("name", "tax_id"),
        limit=Decimal("700"),
        limit_currency="PEN",
    ),
}

# The billing fields a problem names, as catalog keys ("word.field_tax_id": "tax id", "el identificador fiscal").
_FIELD_WORDS = {
    name: f"word.field_{name}" for name in ("tax_id", "name", "line1", "postal_code", "city", "region", "country")
}


@dataclass(frozen=True)
class Buyer:
    tax_id: str  # as found; "" when none
    tax_id_field: str  # "customer.tax_id" or "meta.<key>"
    result: TaxIdResult | None
    country: str  # billing country, else shipping, else the rules' default
    company: str

    @property
    def has_valid_tax_id(self) -> bool:
        return bool(self.result and self.result.valid and self.result.compact not in MX_GENERIC_RFCS)

    @property
    def is_business(self) -> bool:
        """A company name or a real tax id: the buyer wants (and is owed) a full invoice."""
        return bool(self.company) or self.has_valid_tax_id


def order_country(order: Order, rules: RulesSettings) -> str:
    """The buyer's country as the order gives it: billing, else shipping, else the rules' `taxes.default_country`."""
    billing, shipping = order.customer.billing, order.customer.shipping
    return (billing.country or shipping.country or rules.taxes.default_country).strip().upper()


def buyer_name(order: Order) -> str:
    """The name an invoice can give the buyer (a target reads the same fields); "" when the order has none."""
    customer = order.customer
    names = (customer.billing.company, customer.billing.name, customer.name, customer.shipping.company)
    return next((name.strip() for name in (*names, customer.shipping.name) if name.strip()), "")


def identify_buyer(order: Order, rules: RulesSettings, default_buyer: DefaultBuyer | None = None) -> Buyer:
    billing = order.customer.billing
    country = order_country(order, rules) or (default_buyer.country if default_buyer else "")
    tax_id, where = find_tax_id(order, rules.tax_ids.meta_keys)
    result = check_tax_id(tax_id, country) if tax_id else None
    return Buyer(tax_id, where, result, country, billing.company.strip())


def tax_id_problems(order: Order, rules: RulesSettings, buyer: Buyer) -> list[Problem]:
    problems: list[Problem] = []
    result = buyer.result
    if rules.tax_ids.validate_ids and result is not None and result.checked and not result.valid:
        problems.append(
            problem(
                "invalid_tax_id",
                field=buyer.tax_id_field,
                expected=result.scheme,
                found=buyer.tax_id,
                scheme=result.scheme,
                reason_text=result.reason_text,
            )
        )
    settings = rules.tax_ids
    in_scope = not settings.countries or buyer.country in settings.countries
    if settings.required_for_b2b and in_scope and buyer.company and not buyer.tax_id:
        problems.append(_missing("tax_id", buyer, {"buyer_text": "word.buyer_business"}))
    return problems


def _value(order: Order, buyer: Buyer, name: str) -> str:
    billing = order.customer.billing
    if name == "tax_id":
        return buyer.tax_id
    if name == "name":
        return billing.name or billing.company or order.customer.name
    return str(getattr(billing, name, ""))


def _missing(name: str, buyer: Buyer, who: dict[str, str]) -> Problem:
    """missing_billing_field; `who` names the kind of buyer as `buyer_text` (a word.buyer_* key) and its values."""
    field = (buyer.tax_id_field or "customer.tax_id") if name == "tax_id" else f"customer.billing.{name}"
    return problem(
        "missing_billing_field",
        field=field,
        expected=texts.render(_FIELD_WORDS[name]),  # English, as `expected` always was
        found="",
        country=buyer.country or "?",
        what_text=_FIELD_WORDS[name],
        **who,
    )


def billing_problems(order: Order, rules: RulesSettings, buyer: Buyer) -> list[Problem]:
    if not rules.billing.check or not buyer.country:
        return []
    requirement = rules.billing.countries.get(buyer.country) or BUILT_IN.get(buyer.country)
    if requirement is None:
        return []
    wanted: list[tuple[str, dict[str, str]]] = [(name, {"buyer_text": "word.buyer_any"}) for name in requirement.always]
    if buyer.is_business:
        wanted += [(name, {"buyer_text": "word.buyer_business"}) for name in requirement.business]
    elif (
        requirement.limit is not None
        and (not requirement.limit_currency or requirement.limit_currency == order.currency)
        and order.total > requirement.limit
    ):
        limit = _limit_words(requirement, order)
        wanted += [
            (name, {"buyer_text": "word.buyer_consumer_over", "limit": limit}) for name in requirement.over_limit
        ]
    problems: list[Problem] = []
    seen: set[str] = set()
    for name, who in wanted:
        if name in seen or _value(order, buyer, name).strip():
            continue
        seen.add(name)
        problems.append(_missing(name, buyer, who))
    return problems


def requirement_for(country: str, rules: RulesSettings) -> BillingRequirement | None:
    return rules.billing.countries.get(country) or BUILT_IN.get(country)


def _limit_words(requirement: BillingRequirement, order: Order) -> str:
    return f"{requirement.limit} {requirement.limit_currency or order.currency}"


def within_simplified_limit(order: Order, requirement: BillingRequirement | None) -> bool | None:
    """True when the order total is within the country's simplified-invoice limit, False above it, None when the
    country has no limit or states it in another currency (no rate here to compare with)."""
    if requirement is None or requirement.limit is None:
        return None
    if requirement.limit_currency and requirement.limit_currency != order.currency:
        return None
    return order.total <= requirement.limit


def buyer_identity_problems(
    order: Order, rules: RulesSettings, buyer: Buyer, default_buyer: DefaultBuyer | None
) -> list[Problem]:
    """An invoice names its buyer and the buyer's country. An order without them is held here, not refused later
    by the target: unless the store's default buyer may stand in, which it may for a consumer only, and only
    within the country's simplified-invoice limit (Spain: 400 EUR, or 3,000 EUR in retail sectors, set in
    rules.billing.countries); above it the buyer's own data is required."""
    missing = [
        name for name, value in (("name", buyer_name(order)), ("country", order_country(order, rules))) if not value
    ]
    if not missing:
        return []
    if default_buyer is None or buyer.is_business:
        return [
            problem(
                "missing_buyer",
                field=f"customer.billing.{name}",
                what_text=_FIELD_WORDS[name],
            )
            for name in missing
        ]
    requirement = requirement_for(buyer.country, rules)
    within = within_simplified_limit(order, requirement)
    if requirement is None or requirement.limit is None or within:
        return []
    limit = _limit_words(requirement, order)
    if within is None:  # the limit is in another currency: the order may be above it, so the buyer must be named
        who = {"buyer_text": "word.buyer_consumer_other_currency", "currency": order.currency, "limit": limit}
    else:
        who = {"buyer_text": "word.buyer_consumer_over", "limit": limit}
    return [_missing(name, buyer, who) for name in missing]


def simplified_invoice(order: Order, settings: StoreSettings) -> bool:
    """Whether the order's invoice is a simplified one (Spain's F2, RD 1619/2012 art. 4): a consumer (no company,
    no valid tax id) within the country's simplified-invoice limit, or one the default buyer stands in for."""
    rules = _rules_of(settings)
    if rules is None:
        return False
    default_buyer = settings.invoice.default_buyer
    buyer = identify_buyer(order, rules, default_buyer)
    if buyer.is_business:
        return False
    if default_buyer is not None and not (buyer_name(order) and order_country(order, rules)):
        return True
    return bool(within_simplified_limit(order, requirement_for(buyer.country, rules)))


def with_default_buyer(order: Order, settings: StoreSettings) -> Order:
    """The order as its invoice states the buyer: a missing country from `taxes.default_country` or the default
    buyer, a consumer's missing name from the default buyer. Validation allowed it (buyer_identity_problems); the
    store's snapshot is not changed."""
    rules = _rules_of(settings)
    default_buyer = settings.invoice.default_buyer
    if rules is None:
        return order
    country = order_country(order, rules)
    name = buyer_name(order)
    if name and country and (order.customer.billing.country or order.customer.shipping.country):
        return order
    billing: Address = order.customer.billing.model_copy()
    customer = order.customer.model_copy()
    if not (billing.country or order.customer.shipping.country):
        billing.country = country or (default_buyer.country if default_buyer else "")
    if not name and default_buyer is not None and not identify_buyer(order, rules, default_buyer).is_business:
        billing.name = customer.name = default_buyer.name
    customer.billing = billing
    return order.model_copy(update={"customer": customer})


def _rules_of(settings: StoreSettings) -> RulesSettings | None:
    try:
        return parse_rules(settings.rules, f"{settings.store_id}.yaml")
    except ConfigError:  # load_store refuses such files; validation holds the order saying so
        return None
