"""The UBL arithmetic on its own: VAT categories and rates (taxes), document totals and rounding (totals)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from shared.errors import PermanentError
from shared.targets.ubl import taxes
from shared.targets.ubl.taxes import TaxCategory
from shared.targets.ubl.totals import DocumentCharge, DocumentLine, net_price, totals
from tests.fixtures.ubl.orders import invoice_settings, seller

S21 = TaxCategory("S", D("21"))
S10 = TaxCategory("S", D("10"))
Z = TaxCategory("Z", D("0"))


def booked(net: str, category: TaxCategory = S21) -> DocumentLine:
    return DocumentLine("Mug", "", D(1), "H87", D(net), D(net), category)


def test_vat_rounds_half_towards_plus_infinity_as_the_cen_schematron_does() -> None:
    assert taxes.vat_amount(D("0.10"), D("5")) == D("0.01")
    assert taxes.vat_amount(D("-0.10"), D("5")) == D("0")  # half up would give -0.01


@pytest.mark.parametrize(
    ("rate", "buyer_country", "buyer_vat_id", "settings", "expected"),
    [
        ("21", "ES", "", {}, TaxCategory("S", D("21"))),
        ("0", "FR", "FR40303265045", {}, TaxCategory("K", D("0"))),
        ("0", "FR", "FR40303265045", {"intra_eu_b2b": "AE"}, TaxCategory("AE", D("0"))),
        ("0", "FR", "", {}, TaxCategory("Z", D("0"))),
        ("0", "US", "", {}, TaxCategory("G", D("0"))),
        ("0", "ES", "", {"default_tax_category": "E"}, TaxCategory("E", D("0"))),
        ("0", "ES", "", {"default_tax_category": "O"}, TaxCategory("O", None)),
    ],
)
def test_the_category_follows_rate_buyer_and_store_settings(rate, buyer_country, buyer_vat_id, settings, expected):
    category = taxes.category(D(rate), seller(), buyer_country, buyer_vat_id, invoice_settings(**settings))
    assert category == expected


def test_tax_charged_by_a_store_not_subject_to_vat_is_a_conflict() -> None:
    with pytest.raises(PermanentError) as raised:
        taxes.category(D("21"), seller(), "ES", "", invoice_settings(default_tax_category="O"))
    assert raised.value.code == "tax_category_conflict"


def test_an_unstated_rate_is_derived_from_the_amounts_or_refused() -> None:
    assert taxes.rate(None, True, D("10.00"), D("2.10"), taxes.line_where("1")) == D("21")
    assert taxes.rate(None, False, D("10.00"), D("2.10"), taxes.line_where("1")) == D("0")
    with pytest.raises(PermanentError) as raised:
        taxes.rate(None, True, D("0"), D("2.10"), taxes.line_where("7"))
    assert (raised.value.code, raised.value.message) == (
        "tax_rate_unknown",
        "The tax rate of line 7 is not known and cannot be derived.",
    )


def test_totals_book_a_cent_of_store_rounding_as_the_rounding_amount() -> None:
    # 3 x 1.50 at 21 %: the store taxed each line (0.315 -> 0.32, three times 0.96, total 5.46); EN 16931 taxes
    # the base (4.50 x 21 % = 0.945 -> 0.95, total 5.45). The buyer paid 5.46.
    summed = totals([booked("1.50"), booked("1.50"), booked("1.50")], [], expected=D("5.46"), prepaid=D("5.46"))
    assert (summed.tax_exclusive, summed.tax, summed.tax_inclusive) == (D("4.50"), D("0.95"), D("5.45"))
    assert (summed.rounding, summed.prepaid, summed.payable) == (D("0.01"), D("5.46"), D("0.00"))


def test_totals_that_miss_by_more_than_a_cent_per_part_are_refused() -> None:
    with pytest.raises(PermanentError) as raised:
        totals([booked("10.00")], [], expected=D("12.12"), prepaid=D("0"))
    assert raised.value.code == "totals_mismatch"
    assert raised.value.detail == "difference 0.02, tolerance 0.01"


def test_the_breakdown_lists_standard_rates_highest_first_then_zero_rated() -> None:
    shipping = DocumentCharge(True, "FC", "Shipping", D("5.00"), S10)
    discount = DocumentCharge(False, "95", "Discount", D("1.00"), S21)
    summed = totals([booked("4.00", Z), booked("10.00")], [shipping, discount], expected=D("20.39"), prepaid=D("0"))
    assert summed.breakdown == [(S21, D("9.00"), D("1.89")), (S10, D("5.00"), D("0.50")), (Z, D("4.00"), D("0"))]
    assert (summed.allowances, summed.charges, summed.payable) == (D("1.00"), D("5.00"), D("20.39"))


def test_a_document_without_lines_is_refused() -> None:
    with pytest.raises(PermanentError) as raised:
        totals([], [], expected=D("0"), prepaid=D("0"))
    assert raised.value.code == "no_lines"


def test_the_net_price_is_the_stores_unless_it_misses_the_line_amount_by_more_than_a_cent() -> None:
    assert net_price(D(3), D("3.333"), D("0"), D("10.00")) == D("3.333")
    assert net_price(D(3), D("3.30"), D("0"), D("10.00")) == D("3.333333")
