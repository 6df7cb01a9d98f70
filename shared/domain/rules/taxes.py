"""Tax checks: the rate each line, shipping and fee should carry for its destination and tax class, and the
tax amount that rate gives, rounded per line or per document as the store does.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from shared.domain.order import ZERO, Charge, Order, OrderLine
from shared.domain.records import Problem
from shared.domain.rules.messages import problem
from shared.domain.rules.settings import EU_COUNTRIES, RulesSettings, TaxRate, TaxSettings, normalise_tax_class
from shared.domain.rules.totals import document_tolerance, line_words, round_money

HUNDRED = Decimal(100)
RATE_EPSILON = Decimal("0.001")  # Shopify sends fractions (0.21); the parser's percent may carry noise


@dataclass(frozen=True)
class Destination:
    country: str  # "" when unknown
    region: str

    def describe(self) -> str:
        """The country and region, e.g. ES (GC); empty when the country is unknown."""
        if not self.country:
            return ""
        return f"{self.country} ({self.region})" if self.region else self.country

    def words(self) -> dict[str, str]:
        """The destination for a problem's sentence: its code, or the catalog's words for an unknown one."""
        return {"destination": self.describe()} if self.country else {"destination_text": "word.unknown_destination"}


def destination(order: Order, taxes: TaxSettings) -> Destination:
    """The address whose country decides the tax: shipping or billing as configured, then the other one,
    then the rules' default country (digital goods and local pickup often carry no shipping address)."""
    shipping, billing = order.customer.shipping, order.customer.billing
    first, second = (shipping, billing) if taxes.destination == "shipping" else (billing, shipping)
    for address in (first, second):
        if address.country.strip():
            country = address.country.strip().upper()
            return Destination("GR" if country == "EL" else country, address.region.strip().upper())
    return Destination(taxes.default_country, "")


def _matches(rule: TaxRate, where: Destination, tax_class: str | None, business: bool) -> bool:
    if rule.country != "*" and rule.country != where.country:
        return False
    if rule.outside_eu and (not where.country or where.country in EU_COUNTRIES):
        return False
    if rule.region and where.region not in rule.region:
        return False
    if tax_class is not None and rule.tax_class not in ("*", tax_class):
        return False
    if rule.buyer == "business" and not business:
        return False
    return not (rule.buyer == "consumer" and business)


def find_rate(taxes: TaxSettings, where: Destination, tax_class: str, business: bool) -> TaxRate | None:
    """The most specific matching rule: a region beats a country beats '*'; a buyer kind and an exact class
    beat 'any'. Ties go to the rule listed first."""
    best: TaxRate | None = None
    best_score: tuple[bool, ...] = ()
    for rule in taxes.rates:
        if not _matches(rule, where, tax_class, business):
            continue
        score = (bool(rule.region), rule.country != "*", rule.buyer != "any", rule.tax_class != "*")
        if best is None or score > best_score:
            best, best_score = rule, score
    return best


def _found_rate(item: OrderLine | Charge) -> Decimal | None:
    if item.tax_rate is not None:
        return item.tax_rate
    if not item.taxable and not item.taxes:
        return ZERO
    return None


def _pct(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')).normalize():f}"


@dataclass(frozen=True)
class _Item:
    item: OrderLine | Charge
    field: str
    words: dict[str, str]  # the line or charge as `what_text` and its values, for the problem
    base: Decimal
    tax_class: str
    taxable_by_rules: bool


def _items(order: Order, taxes: TaxSettings) -> list[_Item]:
    items: list[_Item] = []
    for index, line in enumerate(order.lines):
        items.append(
            _Item(
                line,
                f"lines[{index}]",
                line_words(order, index, "what"),
                line.total,
                normalise_tax_class(line.tax_class),
                True,
            )
        )
    for kind, charges, taxable, default_class in (
        ("shipping", order.shipping, taxes.shipping_taxable, taxes.shipping_tax_class),
        ("fees", order.fees, taxes.fees_taxable, taxes.fees_tax_class),
    ):
        for index, charge in enumerate(charges):
            label = charge.name or charge.code or str(index + 1)
            words = {"what_text": "word.charge_shipping" if kind == "shipping" else "word.charge_fee", "charge": label}
            tax_class = normalise_tax_class(charge.tax_class) if charge.tax_class.strip() else default_class
            items.append(_Item(charge, f"{kind}[{index}]", words, charge.amount, tax_class, taxable))
    return items


def stated_amount_problems(order: Order, rules: RulesSettings) -> list[Problem]:
    """Each line's and charge's tax against the rate the store itself states (one rate per distinct tax,
    shared.domain.taxlines), whatever the store's rules list: an amount its own rate does not give (6% stated,
    3.98 on 195.66) would make an invoice that does not add up. A cent of rounding per tax line is allowed."""
    problems: list[Problem] = []
    for entry in _items(order, rules.taxes):
        item = entry.item
        rate = item.tax_rate
        if rate is None or not entry.base:
            continue
        expected = round_money(entry.base * rate / HUNDRED, order.currency)
        if abs(item.tax - expected) > rules.taxes.tolerance * max(1, len(item.taxes)):
            problems.append(_amount_mismatch(entry, rate, expected))
    return problems


def _amount_mismatch(entry: _Item, rate: Decimal, expected: Decimal) -> Problem:
    """tax_amount_mismatch naming the line or charge, the rate, the base, the expected and the found tax."""
    return problem(
        "tax_amount_mismatch",
        field=f"{entry.field}.tax",
        expected=expected,
        found=entry.item.tax,
        rule_text="word.tax_rule_rate",
        rate=_pct(rate),
        base=entry.base,
        **entry.words,
    )


def tax_problems(order: Order, rules: RulesSettings, business: bool) -> list[Problem]:
    """Amounts against the store's own rates always; rates against the rules' rates when the rules list them."""
    taxes = rules.taxes
    stated = stated_amount_problems(order, rules)
    if not taxes.rates:
        return stated
    problems: list[Problem] = stated
    cur = order.currency
    where = destination(order, taxes)
    expected_sum = ZERO  # unrounded, for per-document rounding
    for entry in _items(order, taxes):
        item = entry.item
        if entry.taxable_by_rules:
            rule = find_rate(taxes, where, entry.tax_class, business)
            if rule is None:
                known_country = any(_matches(r, where, None, business) for r in taxes.rates)
                code = "unknown_tax_class" if known_country else "no_tax_rule"
                problems.append(
                    problem(
                        code,
                        field=f"{entry.field}.tax_class" if known_country else entry.field,
                        found=entry.tax_class if known_country else where.describe(),
                        **where.words(),
                    )
                )
                continue
            rate = rule.rate
        else:
            rate = ZERO
        expected_tax_raw = entry.base * rate / HUNDRED
        expected_sum += expected_tax_raw
        expected_tax = round_money(expected_tax_raw, cur)
        found_rate = _found_rate(item)
        common = {
            **where.words(),
            # `tax_class_text` when set, else the store's own class name reads in its place (shared.texts).
            **({"tax_class": entry.tax_class} if entry.taxable_by_rules else {"tax_class_text": "word.not_taxable"}),
            **entry.words,
        }
        if found_rate is None:
            # The store gave an amount but no rate: judge the rate by the amount it produced.
            if abs(item.tax - expected_tax) > taxes.tolerance:
                implied = item.tax / entry.base * HUNDRED if entry.base else ZERO
                problems.append(
                    problem(
                        "tax_rate_mismatch",
                        field=f"{entry.field}.tax",
                        expected=_pct(rate),
                        found=_pct(implied),
                        **common,
                    )
                )
            continue
        if abs(found_rate - rate) > RATE_EPSILON:
            problems.append(
                problem(
                    "tax_rate_mismatch",
                    field=f"{entry.field}.taxes",
                    expected=_pct(rate),
                    found=_pct(found_rate),
                    **common,
                )
            )
            continue
        if rules.rounding == "per_line" and abs(item.tax - expected_tax) > taxes.tolerance:
            problems.append(_amount_mismatch(entry, rate, expected_tax))
    if rules.rounding == "per_document" and not problems:
        expected_total = round_money(expected_sum, cur)
        if abs(order.tax_total - expected_total) > document_tolerance(order, rules):
            problems.append(
                problem(
                    "tax_amount_mismatch",
                    field="tax_total",
                    expected=expected_total,
                    found=order.tax_total,
                    what_text="word.whole_order",
                    rule_text="word.tax_rule_per_document",
                )
            )
    return problems
