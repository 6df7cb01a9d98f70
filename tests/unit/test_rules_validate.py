"""Order rules, table-driven: the orders real stores produce, and the problems they must (not) raise."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from shared.domain.order import (
    Address,
    Charge,
    Coupon,
    Customer,
    Order,
    OrderLine,
    Refund,
    RefundLine,
    TaxLine,
)
from shared.domain.rules import MESSAGES, validate_order, validate_refund
from shared.stores import StoreSettings

D = Decimal
CENT = D("0.01")
SKU_MAP = {
    "BLUE-MUG-350ML": "MUG-001",
    "TEA-SENCHA-100G": "TEA-014",
    "NOTEBOOK-A5-DOT": "NB-A5",
    "E-BOOK-CERAMICS": "EBOOK-01",
}
RULES: dict[str, Any] = {
    "currencies": ["EUR"],
    "prices": {"source": "price_list"},
    "price_list": {"BLUE-MUG-350ML": "12.40", "TEA-SENCHA-100G": "6.50", "NOTEBOOK-A5-DOT": "4.00"},
    "taxes": {
        "default_country": "ES",
        "rates": [
            {"country": "ES", "tax_class": "standard", "rate": "21"},
            {"country": "ES", "tax_class": "reduced-rate", "rate": "10"},
            {"country": "ES", "tax_class": "super-reduced-rate", "rate": "4"},
            {"country": "ES", "region": ["GC", "TF"], "rate": "0"},
            {"country": "PT", "tax_class": "standard", "rate": "23"},
            {"country": "*", "outside_eu": True, "rate": "0"},
        ],
        "shipping_taxable": True,
    },
    "transforms": {
        "payment_terms": {"stripe": "48", "bacs": "30", "cod": "10"},
        "shipping_items": {"flat_rate": "SHIPPING-STD", "free_shipping": "SHIPPING-FREE"},
    },
}


def settings(**rule_overrides: Any) -> StoreSettings:
    rules = {**RULES, **rule_overrides}
    return StoreSettings(
        store_id="demo-woo", channel="woocommerce", webhook_secret="rules-test-secret-16", currency="EUR", rules=rules
    )


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def line(
    sku: str,
    quantity: str,
    unit: str,
    *,
    discount: str = "0",
    rate: str | None = "21",
    tax_class: str = "",
    line_id: str = "",
) -> OrderLine:
    qty, price, off = D(quantity), D(unit), D(discount)
    subtotal = cents(qty * price)
    total = subtotal - off
    tax = cents(total * D(rate) / 100) if rate is not None else D("0")
    return OrderLine(
        line_id=line_id or f"li-{sku}",
        sku=sku,
        product_id="501",
        name=sku.replace("-", " ").title(),
        quantity=qty,
        unit_price=price,
        subtotal=subtotal,
        discount=off,
        total=total,
        tax=tax,
        taxes=[TaxLine(name="IVA", rate=D(rate), amount=tax)] if rate is not None else [],
        tax_class=tax_class,
    )


def shipping(amount: str, *, rate: str | None = "21", code: str = "flat_rate") -> Charge:
    tax = cents(D(amount) * D(rate) / 100) if rate is not None else D("0")
    return Charge(
        kind="shipping",
        code=code,
        name="Envío estándar",
        amount=D(amount),
        tax=tax,
        taxes=[TaxLine(name="IVA", rate=D(rate), amount=tax)] if rate is not None else [],
    )


def order(
    *lines: OrderLine,
    charges: tuple[Charge, ...] = (),
    coupons: tuple[Coupon, ...] = (),
    country: str = "ES",
    region: str = "V",
    company: str = "",
    tax_id: str = "",
    **fields: Any,
) -> Order:
    """A consistent order: every total is the sum of its parts, so a test breaks exactly one thing."""
    address = Address(
        name="Lucía Ferrer",
        company=company,
        line1="Calle de la Paz 7",
        city="Valencia",
        postal_code="46003",
        region=region,
        country=country,
    )
    tax_total = sum((x.tax for x in lines), D("0")) + sum((c.tax for c in charges), D("0"))
    values: dict[str, Any] = {
        "channel": "woocommerce",
        "store_id": "demo-woo",
        "order_id": "4711",
        "number": "4711",
        "currency": "EUR",
        "created_at": datetime(2026, 11, 28, 9, 30, tzinfo=UTC),
        "updated_at": datetime(2026, 11, 28, 9, 31, tzinfo=UTC),
        "customer": Customer(name="Lucía Ferrer", tax_id=tax_id, billing=address, shipping=address),
        "lines": list(lines),
        "shipping": list(charges),
        "coupons": list(coupons),
        "discount_total": sum((x.discount for x in lines), D("0")),
        "shipping_total": sum((c.amount for c in charges), D("0")),
        "tax_total": tax_total,
        "total": sum((x.total for x in lines), D("0")) + sum((c.amount for c in charges), D("0")) + tax_total,
        "payment_method": "stripe",
    }
    values.update(fields)
    return Order(**values)


def codes(problems: list[Any]) -> list[tuple[str, str]]:
    return sorted((p.code, p.field) for p in problems)


def _inclusive_drift() -> Order:
    # Shelf price 9.99 including 21% IVA; the store keeps the net unit price rounded to 8.26, so three
    # units are 24.78 net + 5.20 tax = 29.98 per line while the buyer pays 3 x 9.99 = 29.97: a cent of
    # drift on each of the five lines.
    skus = ["BLUE-MUG-350ML", "NOTEBOOK-A5-DOT"] * 2 + ["TEA-SENCHA-100G"]
    lines = [line(sku, "3", "8.26", line_id=f"li-{i}") for i, sku in enumerate(skus)]
    return order(*lines, prices_include_tax=True, total=D("149.85"))


def _discount_taken_twice() -> Order:
    # The line totals already carry the 10% coupon; the store took it off the order total once more.
    once = order(
        line("BLUE-MUG-350ML", "2", "12.40", discount="2.48"), coupons=(Coupon(code="MUG10", amount=D("2.48")),)
    )
    return once.model_copy(update={"total": once.total - D("2.48")})


def _mutate(base: Order, **changes: Any) -> Order:
    return base.model_copy(update=changes)


MUG = line("BLUE-MUG-350ML", "2", "12.40")
TEA = line("TEA-SENCHA-100G", "3", "6.50", rate="10", tax_class="reduced-rate")


CASES: list[tuple[str, Callable[[], Order], dict[str, Any], list[tuple[str, str]]]] = [
    ("clean order with taxed shipping", lambda: order(MUG, charges=(shipping("4.95"),)), {}, []),
    ("mixed tax classes", lambda: order(MUG, TEA, charges=(shipping("4.95"),)), {}, []),
    (
        "100% coupon leaves a zero total",
        lambda: order(
            line("BLUE-MUG-350ML", "1", "12.40", discount="12.40"),
            coupons=(Coupon(code="REGALO100", amount=D("12.40")),),
        ),
        {},
        [],
    ),
    (
        "zero-rated export to the United States",
        lambda: order(
            line("BLUE-MUG-350ML", "2", "12.40", rate=None),
            charges=(shipping("15.00", rate=None),),
            country="US",
            region="NY",
        ),
        {},
        [],
    ),
    (
        "Canary Islands carry no IVA on any class",
        lambda: order(
            line("BLUE-MUG-350ML", "1", "12.40", rate="0"),
            line("TEA-SENCHA-100G", "1", "6.50", rate="0", tax_class="reduced-rate"),
            region="TF",
        ),
        {},
        [],
    ),
    (
        "Spanish IVA charged on an export",
        lambda: order(MUG, country="US", region="NY"),
        {},
        [("tax_rate_mismatch", "lines[0].taxes")],
    ),
    (
        "reduced-rate product charged at the standard rate",
        lambda: order(line("TEA-SENCHA-100G", "3", "6.50", rate="21", tax_class="reduced-rate")),
        {},
        [("tax_rate_mismatch", "lines[0].taxes")],
    ),
    (
        "tax amount a cent per line off is accepted, three cents is not",
        lambda: order(
            MUG.model_copy(update={"tax": MUG.tax + D("0.03")}),
            tax_total=MUG.tax + D("0.03"),
            total=MUG.total + MUG.tax + D("0.03"),
        ),
        {},
        [("tax_amount_mismatch", "lines[0].tax")],
    ),
    (
        "no rate given: the amount tells the rate",
        lambda: order(
            MUG.model_copy(update={"taxes": [], "tax": D("2.48")}), tax_total=D("2.48"), total=MUG.total + D("2.48")
        ),
        {},
        [("tax_rate_mismatch", "lines[0].tax")],
    ),
    (
        "unknown tax class",
        lambda: order(line("TEA-SENCHA-100G", "1", "6.50", tax_class="luxury-rate")),
        {},
        [("unknown_tax_class", "lines[0].tax_class")],
    ),
    (
        "destination without any tax rule",
        lambda: order(MUG, country="FR", region=""),
        {},
        [("no_tax_rule", "lines[0]")],
    ),
    (
        "shipping taxed although the store's shipping is not taxable",
        lambda: order(MUG, charges=(shipping("4.95"),)),
        {"taxes": {**RULES["taxes"], "shipping_taxable": False}},
        [("tax_rate_mismatch", "shipping[0].taxes")],
    ),
    (
        "prices including tax with a cent of drift per line: held by default",
        _inclusive_drift,
        {"prices": {"source": "store"}},
        [("totals_mismatch", "total")],
    ),
    (
        "prices including tax with a cent of drift per line: accepted when configured",
        _inclusive_drift,
        {"totals_tolerance_per_line": "0.01", "prices": {"source": "store"}},
        [],
    ),
    (
        "store reports prices including tax while the rules say excluding",
        lambda: order(MUG, prices_include_tax=True),
        {"prices_include_tax": False, "prices": {"source": "store"}},
        [("prices_include_tax_mismatch", "prices_include_tax")],
    ),
    (
        "unmapped SKU never falls back to a default item",
        lambda: order(MUG, line("OLIVE-OIL-500ML", "1", "8.90", rate="10", tax_class="reduced-rate")),
        {"price_list": {**RULES["price_list"], "OLIVE-OIL-500ML": "8.90"}},
        [("unmapped_sku", "lines[1].sku")],
    ),
    (
        "line without SKU or product id",
        lambda: order(MUG.model_copy(update={"sku": "", "product_id": ""})),
        {"prices": {"source": "store"}},
        [("missing_sku", "lines[0].sku")],
    ),
    (
        "line without SKU whose product is not mapped",
        lambda: order(MUG.model_copy(update={"sku": ""})),
        {"prices": {"source": "store"}},
        [("unmapped_product", "lines[0].product_id")],
    ),
    (
        "price below the list price",
        lambda: order(line("BLUE-MUG-350ML", "2", "9.90")),
        {},
        [("price_mismatch", "lines[0].unit_price")],
    ),
    (
        "store prices trusted",
        lambda: order(line("BLUE-MUG-350ML", "2", "9.90")),
        {"prices": {"source": "store"}},
        [],
    ),
    (
        "product missing from the price list",
        lambda: order(line("E-BOOK-CERAMICS", "1", "7.00")),
        {},
        [("missing_list_price", "lines[0].sku")],
    ),
    (
        "discount counted twice",
        _discount_taken_twice,
        {},
        [("discount_mismatch", "total")],
    ),
    (
        "coupon bigger than the order discount",
        lambda: order(MUG, coupons=(Coupon(code="BIENVENIDA", amount=D("5.00")),)),
        {},
        [("discount_mismatch", "coupons")],
    ),
    (
        "order total that does not add up",
        lambda: _mutate(order(MUG, charges=(shipping("4.95"),)), total=D("40.00")),
        {},
        [("totals_mismatch", "total")],
    ),
    (
        "line total that is not subtotal minus discount",
        lambda: order(
            MUG.model_copy(
                update={"total": D("20.00"), "tax": D("4.20"), "taxes": [TaxLine(rate=D("21"), amount=D("4.20"))]}
            )
        ),
        {},
        [("totals_mismatch", "lines[0].total")],
    ),
    (
        "negative quantity on a sale",
        lambda: order(line("BLUE-MUG-350ML", "-1", "12.40")),
        {},
        [("negative_quantity", "lines[0].quantity")],
    ),
    ("no lines", lambda: order(), {}, [("no_lines", "lines")]),
    ("currency not allowed", lambda: order(MUG, currency="USD"), {}, [("currency_not_allowed", "currency")]),
    (
        "a second allowed currency",
        lambda: order(MUG, currency="USD"),
        {"currencies": ["EUR", "USD"]},
        [],
    ),
    (
        "Spanish company with a valid NIF and full address",
        lambda: order(MUG, company="Cerámicas del Turia S.L.", tax_id="B58378431"),
        {},
        [],
    ),
    (
        "Spanish company whose NIF has a wrong check digit",
        lambda: order(MUG, company="Cerámicas del Turia S.L.", tax_id="B58378432"),
        {},
        [("invalid_tax_id", "customer.tax_id")],
    ),
    (
        "Spanish company without NIF",
        lambda: order(MUG, company="Cerámicas del Turia S.L."),
        {},
        [("missing_billing_field", "customer.tax_id")],
    ),
    (
        "unknown payment method has no payment terms",
        lambda: order(MUG, payment_method="paypal"),
        {},
        [("unmapped_payment_method", "payment_method")],
    ),
    (
        "unknown shipping method",
        lambda: order(MUG, charges=(shipping("4.95", code="local_pickup_plus"),)),
        {},
        [("unmapped_shipping_method", "shipping[0].code")],
    ),
]


@pytest.mark.parametrize(("make", "overrides", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_order_rules(make: Callable[[], Order], overrides: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    problems = validate_order(make(), settings(**overrides), SKU_MAP)
    assert codes(problems) == sorted(expected), [p.message("en") for p in problems]


def test_every_problem_has_both_sentences_filled_in() -> None:
    everything = [validate_order(make(), settings(**overrides), SKU_MAP) for _, make, overrides, _ in CASES]
    for problem in (p for problems in everything for p in problems):
        assert problem.code in MESSAGES
        for sentence in (problem.message("en"), problem.message("es")):
            assert "?" not in sentence.replace("¿", ""), sentence
            assert "{" not in sentence, sentence


def test_unmapped_sku_names_the_sku_in_both_languages() -> None:
    held = order(MUG, line("OLIVE-OIL-500ML", "1", "8.90", rate="10", tax_class="reduced-rate"))
    [problem] = validate_order(held, settings(prices={"source": "store"}), SKU_MAP)
    assert (problem.code, problem.found) == ("unmapped_sku", "OLIVE-OIL-500ML")
    assert "OLIVE-OIL-500ML" in problem.message("en") and "OLIVE-OIL-500ML" in problem.message("es")


def test_mapping_upload_releases_the_order() -> None:
    held = order(line("OLIVE-OIL-500ML", "1", "8.90", rate="10", tax_class="reduced-rate"))
    rules = settings(prices={"source": "store"})
    assert [p.code for p in validate_order(held, rules, SKU_MAP)] == ["unmapped_sku"]
    assert validate_order(held, rules, {**SKU_MAP, "OLIVE-OIL-500ML": "OIL-500"}) == []


def test_price_mismatch_reports_list_and_found_price() -> None:
    [problem] = validate_order(order(line("BLUE-MUG-350ML", "2", "9.90")), settings(), SKU_MAP)
    assert (problem.expected, problem.found) == ("12.40 EUR", "9.90 EUR")


def test_list_price_including_tax_is_compared_gross() -> None:
    # 15.00 gross at 21% is 12.3967 net: the store sends the net unit price, the list holds the shelf price.
    gross_order = order(line("BLUE-MUG-350ML", "1", "12.3967"), prices_include_tax=True)
    assert validate_order(gross_order, settings(price_list={"BLUE-MUG-350ML": "15.00"}), SKU_MAP) == []
    assert [p.code for p in validate_order(gross_order, settings(price_list={"BLUE-MUG-350ML": "12.40"}), SKU_MAP)] == [
        "price_mismatch"
    ]


def test_per_document_rounding_checks_the_tax_once() -> None:
    # Three 0.99 notebooks: 0.2079 tax each; per line that is 0.21 x 3 = 0.63, per document 0.62.
    lines = [line("NOTEBOOK-A5-DOT", "1", "0.99", line_id=f"li-{i}") for i in range(3)]
    per_document = order(*lines, tax_total=D("0.62"), total=D("3.59"))
    per_document = per_document.model_copy(
        update={"lines": [x.model_copy(update={"tax": D("0.2067") if i else D("0.2066")}) for i, x in enumerate(lines)]}
    )
    rules = settings(rounding="per_document", price_list={"NOTEBOOK-A5-DOT": "0.99"})
    assert validate_order(per_document, rules, SKU_MAP) == []
    wrong = per_document.model_copy(update={"tax_total": D("0.70"), "total": D("3.67")})
    assert ("tax_amount_mismatch", "tax_total") in codes(validate_order(wrong, rules, SKU_MAP))


def test_reverse_charge_for_an_eu_business_with_a_valid_vat_number() -> None:
    # Selling from Spain to a Portuguese company: intra-community supply, no IVA; to a consumer: 23% (OSS).
    rates = [*RULES["taxes"]["rates"], {"country": "PT", "buyer": "business", "rate": "0"}]
    rules = settings(taxes={"rates": rates})
    zero_rated = line("BLUE-MUG-350ML", "2", "12.40", rate="0")
    business = order(zero_rated, country="PT", region="", tax_id="PT501964843", company="Loja Azul Lda")
    assert validate_order(business, rules, SKU_MAP) == []
    consumer = order(zero_rated, country="PT", region="")
    [problem] = validate_order(consumer, rules, SKU_MAP)
    assert (problem.code, problem.expected, problem.found) == ("tax_rate_mismatch", "23", "0")
    domestic_business = order(zero_rated, tax_id="ESB58378431", company="Cerámicas del Turia S.L.")
    assert [p.code for p in validate_order(domestic_business, rules, SKU_MAP)] == ["tax_rate_mismatch"]


@pytest.mark.parametrize(
    ("country", "company", "tax_id", "postal_code", "total", "missing"),
    [
        ("ES", "", "", "46003", "300.00", []),
        ("ES", "", "", "46003", "450.00", []),  # a consumer's name is on the order
        ("ES", "Cerámicas del Turia S.L.", "B58378431", "", "30.00", ["customer.billing.postal_code"]),
        ("PT", "", "", "", "1200.00", ["customer.billing.postal_code"]),
        ("PT", "", "", "", "800.00", []),
        ("MX", "Importadora Azteca S.A. de C.V.", "GODE561231GR8", "", "30.00", ["customer.billing.postal_code"]),
        ("MX", "", "XAXX010101000", "", "30.00", []),  # sale to the general public
        ("CL", "Viña Andes SpA", "", "8320000", "30.00", ["customer.tax_id"]),
        ("PE", "", "", "15001", "750.00", ["customer.tax_id"]),
        ("FR", "Atelier Lumière SARL", "", "", "30.00", []),  # no built-in requirement for France
    ],
)
def test_billing_fields_per_country(
    country: str, company: str, tax_id: str, postal_code: str, total: str, missing: list[str]
) -> None:
    currency = "PEN" if country == "PE" else "EUR"
    held = order(MUG, country=country, company=company, tax_id=tax_id, currency=currency)
    billing = held.customer.billing.model_copy(update={"postal_code": postal_code})
    held.customer = held.customer.model_copy(update={"billing": billing})
    held.total = D(total)
    rules = settings(check_totals=False, currencies=["EUR", "PEN"], taxes={"rates": []}, prices={"source": "store"})
    problems = [p for p in validate_order(held, rules, SKU_MAP) if p.code == "missing_billing_field"]
    assert sorted(p.field for p in problems) == sorted(missing), [p.message("en") for p in problems]


def test_spanish_simplified_invoice_limit_can_be_raised_to_3000() -> None:
    nameless = order(MUG)
    nameless.customer = nameless.customer.model_copy(
        update={"name": "", "billing": nameless.customer.billing.model_copy(update={"name": ""})}
    )
    nameless.total = D("1500.00")
    base = {"check_totals": False, "prices": {"source": "store"}, "taxes": {"rates": []}}
    assert [p.field for p in validate_order(nameless, settings(**base), SKU_MAP)] == ["customer.billing.name"]
    raised = {
        "ES": {
            "business": ["tax_id", "name", "line1", "postal_code", "city"],
            "over_limit": ["name"],
            "limit": "3000",
            "limit_currency": "EUR",
        }
    }
    assert validate_order(nameless, settings(**base, billing={"countries": raised}), SKU_MAP) == []


def test_tax_id_is_read_from_order_meta_when_the_customer_has_none() -> None:
    meta_order = order(MUG, company="Cerámicas del Turia S.L.", meta={"_billing_nif": "B58378432"})
    [problem] = validate_order(meta_order, settings(), SKU_MAP)
    assert (problem.code, problem.field, problem.found) == ("invalid_tax_id", "meta._billing_nif", "B58378432")


@pytest.mark.parametrize(
    "odd",
    [
        lambda: order(MUG.model_copy(update={"quantity": D("NaN")})),
        lambda: _mutate(order(MUG), lines=[MUG.model_copy(update={"tax": D("Infinity")})]),
        lambda: order(MUG, total=D("1E+30")),
        lambda: order(MUG.model_copy(update={"total": D("0"), "tax": D("5.00"), "taxes": []})),
    ],
    ids=["nan quantity", "infinite tax", "huge total", "tax on a zero line"],
)
def test_odd_values_hold_the_order_instead_of_raising(odd: Callable[[], Order]) -> None:
    problems = validate_order(odd(), settings(), SKU_MAP)
    assert problems
    assert all(p.message("en") and p.message("es") for p in problems)


# Refunds ------------------------------------------------------------------------------------------------


def refunded(*refunds: Refund) -> Order:
    sold = order(
        line("BLUE-MUG-350ML", "2", "12.40", line_id="11"),
        TEA.model_copy(update={"line_id": "12"}),
        charges=(shipping("4.95"),),
    )
    return sold.model_copy(update={"refunds": list(refunds)})


def refund(refund_id: str, *lines: RefundLine, shipping_amount: str = "0", amount: str | None = None) -> Refund:
    allocated = sum((abs(x.amount) + abs(x.tax) for x in lines), D("0")) + D(shipping_amount)
    return Refund(
        refund_id=refund_id,
        created_at=datetime(2026, 12, 2, 16, 0, tzinfo=UTC),
        reason="Taza rota en el envío",
        lines=list(lines),
        shipping=D(shipping_amount),
        amount=D(amount) if amount is not None else allocated,
    )


ONE_MUG = RefundLine(line_id="11", sku="BLUE-MUG-350ML", quantity=D("1"), amount=D("12.40"), tax=D("2.60"))
# WooCommerce's refund line items carry negative quantities and totals.
ONE_MUG_WOO_SIGNS = RefundLine(line_id="11", sku="BLUE-MUG-350ML", quantity=D("-1"), amount=D("-12.40"), tax=D("-2.60"))

REFUND_CASES = [
    ("one mug of two", refund("901", ONE_MUG), (), []),
    ("negative quantities as WooCommerce sends them", refund("901", ONE_MUG_WOO_SIGNS), (), []),
    ("second mug after an earlier refund", refund("902", ONE_MUG), (refund("901", ONE_MUG),), []),
    (
        "a third mug when two were sold",
        refund("903", ONE_MUG),
        (refund("901", ONE_MUG), refund("902", ONE_MUG)),
        [
            ("refund_amount_exceeded", "refunds[903].lines[0].amount"),
            ("refund_quantity_exceeded", "refunds[903].lines[0].quantity"),
        ],
    ),
    (
        "a line that is not on the order",
        refund("904", RefundLine(line_id="99", sku="COFFEE-COL-1KG", quantity=D("1"), amount=D("9.00"))),
        (),
        [("refund_unknown_line", "refunds[904].lines[0].line_id")],
    ),
    (
        "more than the line's amount",
        refund("905", RefundLine(line_id="11", quantity=D("1"), amount=D("30.00"))),
        (),
        [("refund_amount_exceeded", "refunds[905].lines[0].amount")],
    ),
    (
        "refund total that does not match its lines",
        refund("906", ONE_MUG, amount="20.00"),
        (),
        [("refund_total_mismatch", "refunds[906].amount")],
    ),
    ("shipping refunded", refund("907", shipping_amount="4.95"), (), []),
    (
        "shipping refunded twice",
        refund("908", shipping_amount="4.95"),
        (refund("907", shipping_amount="4.95"),),
        [("refund_amount_exceeded", "refunds[908].shipping")],
    ),
    ("amount-only refund", refund("909", amount="10.00"), (), []),
]


@pytest.mark.parametrize(
    ("new", "earlier", "expected"), [c[1:] for c in REFUND_CASES], ids=[c[0] for c in REFUND_CASES]
)
def test_refund_rules(new: Refund, earlier: tuple[Refund, ...], expected: list[tuple[str, str]]) -> None:
    sold = refunded(*earlier, new)
    assert validate_order(sold, settings(), SKU_MAP) == []  # refunds never hold the sale itself
    assert codes(validate_refund(sold, new)) == sorted(expected)
