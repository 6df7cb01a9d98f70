"""Who is buying and what the invoice must say about them: the buyer's tax id (checked with python-stdnum)
and the billing fields each country requires on an invoice, by kind of buyer.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from shared.domain.order import Order
from shared.domain.records import Problem
from shared.domain.rules.messages import problem
from shared.domain.rules.settings import BillingRequirement, RulesSettings
from shared.domain.rules.taxids import MX_GENERIC_RFCS, TaxIdResult, check_tax_id, find_tax_id

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

_FIELD_WORDS = {
    "tax_id": ("tax id", "el identificador fiscal (NIF, RFC, RUT…)"),
    "name": ("name or company name", "el nombre o razón social"),
    "line1": ("street address", "la dirección"),
    "postal_code": ("postal code", "el código postal"),
    "city": ("town or city", "la población"),
    "region": ("region or province", "la provincia o región"),
    "country": ("country", "el país"),
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


def identify_buyer(order: Order, rules: RulesSettings) -> Buyer:
    billing, shipping = order.customer.billing, order.customer.shipping
    country = (billing.country or shipping.country or rules.taxes.default_country).strip().upper()
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
                reason=result.reason,
                reason_es=result.reason_es,
            )
        )
    settings = rules.tax_ids
    in_scope = not settings.countries or buyer.country in settings.countries
    if settings.required_for_b2b and in_scope and buyer.company and not buyer.tax_id:
        problems.append(_missing("tax_id", buyer, "a business", "una empresa"))
    return problems


def _value(order: Order, buyer: Buyer, name: str) -> str:
    billing = order.customer.billing
    if name == "tax_id":
        return buyer.tax_id
    if name == "name":
        return billing.name or billing.company or order.customer.name
    return str(getattr(billing, name, ""))


def _missing(name: str, buyer: Buyer, who_en: str, who_es: str) -> Problem:
    what_en, what_es = _FIELD_WORDS[name]
    field = (buyer.tax_id_field or "customer.tax_id") if name == "tax_id" else f"customer.billing.{name}"
    return problem(
        "missing_billing_field",
        field=field,
        expected=what_en,
        found="",
        buyer=who_en,
        buyer_es=who_es,
        country=buyer.country or "?",
        what=what_en,
        what_es=what_es,
    )


def billing_problems(order: Order, rules: RulesSettings, buyer: Buyer) -> list[Problem]:
    if not rules.billing.check or not buyer.country:
        return []
    requirement = rules.billing.countries.get(buyer.country) or BUILT_IN.get(buyer.country)
    if requirement is None:
        return []
    wanted: list[tuple[str, str, str]] = [(name, "any buyer", "cualquier comprador") for name in requirement.always]
    if buyer.is_business:
        wanted += [(name, "a business", "una empresa") for name in requirement.business]
    elif (
        requirement.limit is not None
        and (not requirement.limit_currency or requirement.limit_currency == order.currency)
        and order.total > requirement.limit
    ):
        limit = f"{requirement.limit} {requirement.limit_currency or order.currency}"
        wanted += [
            (name, f"a consumer for more than {limit}", f"un consumidor por más de {limit}")
            for name in requirement.over_limit
        ]
    problems: list[Problem] = []
    seen: set[str] = set()
    for name, who_en, who_es in wanted:
        if name in seen or _value(order, buyer, name).strip():
            continue
        seen.add(name)
        problems.append(_missing(name, buyer, who_en, who_es))
    return problems
