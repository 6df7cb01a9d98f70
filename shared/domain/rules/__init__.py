"""May we invoice it? Pure rule functions over the canonical order, returning problems.

Each problem has a stable code, the field, the expected and found values and a sentence in English
and Spanish (see messages.py and docs/RULES.md). No I/O here: the handler passes in the store settings
and the SKU map. validate_order never raises: odd input becomes a problem, never a crashed worker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal

from shared.domain.order import ZERO, Order, Refund
from shared.domain.records import Problem
from shared.domain.rules.billing import (
    billing_problems,
    buyer_identity_problems,
    identify_buyer,
    simplified_invoice,
    tax_id_problems,
    with_default_buyer,
)
from shared.domain.rules.mapping import (
    item_code_for,
    mapping_problems,
    parse_sku_map_csv,
    shipping_item_code,
    sku_key,
    sku_map_to_csv,
    transform_payment_terms,
    unmapped_skus,
)
from shared.domain.rules.messages import MESSAGES, problem
from shared.domain.rules.settings import RulesSettings, check_rules_settings, parse_rules
from shared.domain.rules.taxes import tax_problems
from shared.domain.rules.taxids import TaxIdResult, check_tax_id, find_tax_id
from shared.domain.rules.totals import discount_problems, line_problems, money, round_money, totals_problems
from shared.errors import ConfigError
from shared.stores import StoreSettings

__all__ = [
    "MESSAGES",
    "RulesSettings",
    "TaxIdResult",
    "check_rules_settings",
    "check_tax_id",
    "find_tax_id",
    "item_code_for",
    "parse_rules",
    "parse_sku_map_csv",
    "shipping_item_code",
    "simplified_invoice",
    "sku_key",
    "sku_map_to_csv",
    "transform_payment_terms",
    "unmapped_skus",
    "validate_order",
    "validate_refund",
    "with_default_buyer",
]


def _structure_problems(order: Order) -> list[Problem]:
    if not order.lines:
        return [problem("no_lines", field="lines")]
    problems: list[Problem] = []
    for index, line in enumerate(order.lines):
        if line.quantity < 0:
            problems.append(
                problem(
                    "negative_quantity",
                    field=f"lines[{index}].quantity",
                    expected="more than 0",
                    found=line.quantity,
                    line=index + 1,
                    sku=line.sku or line.name,
                )
            )
    return problems


def _currency_problems(order: Order, settings: StoreSettings, rules: RulesSettings) -> list[Problem]:
    allowed = rules.currencies or (settings.currency,)
    if order.currency.upper() in allowed:
        return []
    if order.shop_currency.upper() in allowed and order.shop_total:
        return []  # paid in another currency; the shop's own figures give the rate to the store's (UBL BT-6)
    return [problem("currency_not_allowed", field="currency", expected=", ".join(allowed), found=order.currency)]


def _prices_include_tax_problems(order: Order, rules: RulesSettings) -> list[Problem]:
    if rules.prices_include_tax is None or rules.prices_include_tax == order.prices_include_tax:
        return []
    words = {True: "word.prices_including_tax", False: "word.prices_excluding_tax"}
    return [
        problem(
            "prices_include_tax_mismatch",
            field="prices_include_tax",
            expected=str(rules.prices_include_tax).lower(),
            found=str(order.prices_include_tax).lower(),
            found_words_text=words[order.prices_include_tax],
            expected_words_text=words[rules.prices_include_tax],
        )
    ]


def _price_problems(order: Order, rules: RulesSettings) -> list[Problem]:
    """Unit prices against the price list. The list is in the store's own basis: gross when the store's
    prices include tax (compared with the unit price plus the line's tax rate), net otherwise."""
    if rules.prices.source != "price_list":
        return []
    problems: list[Problem] = []
    for index, line in enumerate(order.lines):
        sku = line.sku.strip()
        if not sku or line.quantity <= 0:
            continue  # missing_sku / negative_quantity already say why
        listed = rules.price_list.get(sku_key(sku, line.variant_id), rules.price_list.get(sku))
        unit = line.unit_price
        if order.prices_include_tax:
            rate = line.tax_rate
            if rate is None:
                rate = line.tax / line.total * 100 if line.total else ZERO
            unit = unit * (1 + rate / 100)
        found = round_money(unit, order.currency)
        if listed is None:
            problems.append(
                problem("missing_list_price", field=f"lines[{index}].sku", found=found, line=index + 1, sku=sku)
            )
        elif abs(unit - listed) > rules.price_tolerance:
            problems.append(
                problem(
                    "price_mismatch",
                    field=f"lines[{index}].unit_price",
                    expected=money(listed, order.currency),
                    found=money(unit, order.currency),
                    line=index + 1,
                    sku=sku,
                )
            )
    return problems


def validate_order(order: Order, settings: StoreSettings, sku_map: Mapping[str, str]) -> list[Problem]:
    """Every reason this order may not be invoiced yet; an empty list means it may. Never raises."""
    try:
        rules = parse_rules(settings.rules, f"{settings.store_id}.yaml")
    except ConfigError as exc:  # load_store refuses such files; a hand-built StoreSettings may not have
        return [problem("unreadable_order", field="rules", found=str(exc))]
    problems: list[Problem] = []

    def run(where: str, check: Callable[[], list[Problem]]) -> None:
        try:
            problems.extend(check())
        except Exception as exc:  # one odd value must hold the order with a reason, not crash the worker
            problems.append(problem("unreadable_order", field=where, found=type(exc).__name__))

    run("lines", lambda: _structure_problems(order))
    if not order.lines:
        run("currency", lambda: _currency_problems(order, settings, rules))
        return problems
    default_buyer = settings.invoice.default_buyer
    buyer = identify_buyer(order, rules, default_buyer)
    run("currency", lambda: _currency_problems(order, settings, rules))
    run("prices_include_tax", lambda: _prices_include_tax_problems(order, rules))
    run("lines", lambda: mapping_problems(order, rules, sku_map, settings.products))
    run("lines", lambda: _price_problems(order, rules))
    run("customer.tax_id", lambda: tax_id_problems(order, rules, buyer))
    run("customer.billing", lambda: buyer_identity_problems(order, rules, buyer, default_buyer))
    run("customer.billing", lambda: billing_problems(order, rules, buyer))
    run("taxes", lambda: tax_problems(order, rules, buyer.has_valid_tax_id))
    if rules.check_discounts:
        run("discount_total", lambda: discount_problems(order, rules))
    if rules.check_totals:
        run("lines", lambda: line_problems(order, rules))
        run("total", lambda: totals_problems(order, rules))
    # The country's own requirement already says what is missing and why (the limit): one reason per field.
    asked = {p.field for p in problems if p.code == "missing_billing_field"}
    return _unique([p for p in problems if not (p.code == "missing_buyer" and p.field in asked)])


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, str]] = set()
    out: list[Problem] = []
    for item in problems:
        if (item.code, item.field) not in seen:
            seen.add((item.code, item.field))
            out.append(item)
    return out


def validate_refund(order: Order, refund: Refund, tolerance: Decimal = Decimal("0.01")) -> list[Problem]:
    """Can this refund be credited as it stands? Lines must exist, and quantities and amounts must not exceed
    what was sold minus earlier refunds (other refund ids on the order). Never raises.

    WooCommerce reports refund quantities and amounts as negative numbers; signs are ignored here.
    """
    try:
        return _refund_problems(order, refund, tolerance)
    except Exception as exc:  # same promise as validate_order
        return [problem("unreadable_order", field=f"refunds[{refund.refund_id}]", found=type(exc).__name__)]


def _refund_problems(order: Order, refund: Refund, tolerance: Decimal) -> list[Problem]:
    cur = order.currency
    where = f"refunds[{refund.refund_id}]"
    earlier = [r for r in order.refunds if r.refund_id != refund.refund_id]
    quantity_done: dict[str, Decimal] = {}
    amount_done: dict[str, Decimal] = {}
    for previous in earlier:
        for rl in previous.lines:
            quantity_done[rl.line_id] = quantity_done.get(rl.line_id, ZERO) + abs(rl.quantity)
            amount_done[rl.line_id] = amount_done.get(rl.line_id, ZERO) + abs(rl.amount)
    lines = {line.line_id: line for line in order.lines}
    problems: list[Problem] = []
    for index, rl in enumerate(refund.lines):
        field = f"{where}.lines[{index}]"
        line = lines.get(rl.line_id)
        if line is None:
            problems.append(
                problem("refund_unknown_line", field=f"{field}.line_id", found=rl.line_id, refund=refund.refund_id)
            )
            continue
        label = line.sku or line.name or line.line_id
        left_quantity = line.quantity - quantity_done.get(rl.line_id, ZERO)
        if abs(rl.quantity) > left_quantity:
            problems.append(
                problem(
                    "refund_quantity_exceeded",
                    field=f"{field}.quantity",
                    expected=left_quantity,
                    found=abs(rl.quantity),
                    refund=refund.refund_id,
                    sku=label,
                )
            )
        left_amount = line.total - amount_done.get(rl.line_id, ZERO)
        if abs(rl.amount) > left_amount + tolerance:
            problems.append(
                problem(
                    "refund_amount_exceeded",
                    field=f"{field}.amount",
                    expected=money(left_amount, cur),
                    found=money(abs(rl.amount), cur),
                    refund=refund.refund_id,
                    what_text="word.line_label",
                    label=label,
                )
            )
        quantity_done[rl.line_id] = quantity_done.get(rl.line_id, ZERO) + abs(rl.quantity)
        amount_done[rl.line_id] = amount_done.get(rl.line_id, ZERO) + abs(rl.amount)
    shipping_left = order.shipping_total - sum((abs(r.shipping) for r in earlier), ZERO)
    if abs(refund.shipping) > shipping_left + tolerance:
        problems.append(
            problem(
                "refund_amount_exceeded",
                field=f"{where}.shipping",
                expected=money(shipping_left, cur),
                found=money(abs(refund.shipping), cur),
                refund=refund.refund_id,
                what_text="word.shipping",
            )
        )
    order_left = order.total - sum((abs(r.amount) for r in earlier), ZERO)
    if abs(refund.amount) > order_left + tolerance:
        problems.append(
            problem(
                "refund_amount_exceeded",
                field=f"{where}.amount",
                expected=money(order_left, cur),
                found=money(abs(refund.amount), cur),
                refund=refund.refund_id,
                what_text="word.whole_order",
            )
        )
    if refund.lines or refund.shipping:
        allocated = sum((abs(rl.amount) + abs(rl.tax) for rl in refund.lines), ZERO)
        allocated += abs(refund.shipping) + abs(refund.shipping_tax)
        if abs(abs(refund.amount) - allocated) > tolerance:
            problems.append(
                problem(
                    "refund_total_mismatch",
                    field=f"{where}.amount",
                    expected=money(allocated, cur),
                    found=money(abs(refund.amount), cur),
                    refund=refund.refund_id,
                )
            )
    return problems
