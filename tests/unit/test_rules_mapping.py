"""SKU map and transforms: store SKU (and variant) → item code, CSV import/export, payment and shipping codes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.domain.order import Charge, Order, OrderLine
from shared.domain.rules import (
    item_code_for,
    parse_rules,
    parse_sku_map_csv,
    shipping_item_code,
    sku_map_to_csv,
    transform_payment_terms,
    unmapped_skus,
)

SKU_MAP = {"BLUE-MUG-350ML": "MUG-001", "TEE-ORG-M": "TEE-M", "TEE-ORG-M:8841": "TEE-M-NAVY"}
RULES = parse_rules(
    {
        "transforms": {
            "payment_terms": {"stripe": "48", "bacs": "30", "*": "ZZZ"},
            "shipping_items": {"flat_rate": "SHIPPING-STD", "free_shipping": "SHIPPING-FREE"},
            "fee_items": {"Gift wrap": "GIFT-WRAP"},
        }
    }
)


def mug_line(sku: str = "BLUE-MUG-350ML", variant_id: str = "") -> OrderLine:
    return OrderLine(
        line_id="11",
        sku=sku,
        variant_id=variant_id,
        name="Blue mug 350 ml",
        quantity=Decimal("1"),
        unit_price=Decimal("12.40"),
        subtotal=Decimal("12.40"),
        total=Decimal("12.40"),
    )


def sale(*lines: OrderLine, payment_method: str = "stripe") -> Order:
    moment = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
    return Order(
        channel="woocommerce",
        store_id="demo-woo",
        order_id="4711",
        number="4711",
        currency="EUR",
        created_at=moment,
        updated_at=moment,
        lines=list(lines),
        total=Decimal("15.00"),
        payment_method=payment_method,
    )


@pytest.mark.parametrize(
    ("sku", "variant_id", "expected"),
    [
        ("BLUE-MUG-350ML", "", "MUG-001"),
        (" BLUE-MUG-350ML ", "", "MUG-001"),
        ("BLUE-MUG-350ML", "777", "MUG-001"),  # no variant entry: the SKU's entry
        ("TEE-ORG-M", "8841", "TEE-M-NAVY"),  # the variant entry wins
        ("TEE-ORG-M", "8842", "TEE-M"),
        ("OLIVE-OIL-500ML", "", None),  # never a default item
        ("", "8841", None),
        ("blue-mug-350ml", "", None),  # SKUs are compared exactly
    ],
)
def test_item_code_for_line(sku: str, variant_id: str, expected: str | None) -> None:
    assert item_code_for(mug_line(sku, variant_id), SKU_MAP) == expected


def test_blank_item_code_counts_as_unmapped() -> None:
    assert item_code_for(mug_line(), {"BLUE-MUG-350ML": "  "}) is None


def test_unmapped_skus_are_listed_once_and_sorted() -> None:
    orders = [
        sale(mug_line("OLIVE-OIL-500ML"), mug_line()),
        sale(mug_line("COFFEE-COL-1KG"), mug_line("OLIVE-OIL-500ML")),
    ]
    assert unmapped_skus(orders, SKU_MAP) == ["COFFEE-COL-1KG", "OLIVE-OIL-500ML"]


def test_csv_round_trip_keeps_variant_keys() -> None:
    text = sku_map_to_csv(SKU_MAP)
    assert text.splitlines()[0] == "sku,variant_id,product_id,item_code"
    assert '"TEE-ORG-M","8841","","TEE-M-NAVY"' in text.splitlines()  # data cells quoted: OWASP CSV injection
    assert parse_sku_map_csv(text) == SKU_MAP


def test_csv_from_a_spreadsheet_with_bom_and_blank_rows() -> None:
    text = "\ufeffSKU,Item_Code\nBLUE-MUG-350ML,MUG-001\n,\nTEE-ORG-M,TEE-M\n"
    assert parse_sku_map_csv(text) == {"BLUE-MUG-350ML": "MUG-001", "TEE-ORG-M": "TEE-M"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sku;item_code\nBLUE-MUG-350ML;MUG-001\n", "header row"),
        ("sku,item_code\nBLUE-MUG-350ML,\n", "row 2: item_code is empty"),
        ("sku,item_code\n,MUG-001\n", "row 2: sku and product_id are both empty"),
        ("sku,item_code\nBLUE-MUG-350ML,MUG-001\nBLUE-MUG-350ML,MUG-002\n", "row 3: BLUE-MUG-350ML appears twice"),
    ],
)
def test_bad_csv_is_refused_naming_the_row(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_sku_map_csv(text)


@pytest.mark.parametrize(("method", "terms"), [("stripe", "48"), ("bacs", "30"), ("paypal", "ZZZ"), ("", "ZZZ")])
def test_payment_terms_by_method_with_fallback(method: str, terms: str) -> None:
    assert transform_payment_terms(sale(payment_method=method), RULES) == terms


def test_payment_terms_accept_the_raw_rules_mapping() -> None:
    assert transform_payment_terms(sale(payment_method="cod"), {"transforms": {"payment_terms": {"cod": 10}}}) == "10"


@pytest.mark.parametrize(
    ("charge", "expected"),
    [
        (Charge(kind="shipping", code="flat_rate", name="Envío estándar", amount=Decimal("4.95")), "SHIPPING-STD"),
        (Charge(kind="shipping", code="free_shipping", amount=Decimal("0")), "SHIPPING-FREE"),
        (Charge(kind="shipping", code="local_pickup", amount=Decimal("0")), None),
        (Charge(kind="fee", name="Gift wrap", amount=Decimal("2.00")), "GIFT-WRAP"),
        (Charge(kind="fee", name="Cash on delivery", amount=Decimal("3.00")), None),
    ],
)
def test_shipping_and_fee_item_codes(charge: Charge, expected: str | None) -> None:
    assert shipping_item_code(charge, RULES) == expected
