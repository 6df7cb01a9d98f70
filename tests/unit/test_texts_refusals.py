"""Business-facing refusals (PermanentError → held reason on the dashboard and in the API) read in each language.

The tests raise real refusals from the UBL mapper and the Tryton client and read what a merchant would see; the
catalog checks (every key in every language) are in tests/unit/test_texts.py.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from shared.domain.order import Address, Charge, Customer
from shared.errors import PermanentError
from shared.handlers.common import problem_from_error
from shared.targets.tryton.rpc import refusal_from_error
from shared.targets.ubl.mapper import invoice_xml
from tests.fixtures.ubl.orders import invoice_settings, line, order, seller, two_mugs_with_coupon

ISSUED = date(2025, 3, 15)


def test_credit_transfer_without_iban_is_refused_in_spanish_on_the_held_order() -> None:
    with pytest.raises(PermanentError) as raised:
        invoice_xml(two_mugs_with_coupon(), seller(iban=""), invoice_settings(payment_means_code="30"), "1", ISSUED, {})

    error = raised.value
    assert (error.code, error.data) == ("seller_iban_missing", {"code": "30"})
    assert error.text("es") != error.message
    assert error.text("es").startswith("El medio de pago 30 (transferencia bancaria)")
    assert "IBAN" in error.text("es") and "ajustes de la tienda" in error.text("es")
    problem = problem_from_error(error)
    assert (problem.text, problem.data, problem.message_en) == ("error.seller_iban_missing", {"code": "30"}, "")
    assert (problem.message("en"), problem.message("es")) == (error.message, error.text("es"))


def test_order_without_buyer_country_is_refused_in_spanish() -> None:
    nowhere = Address(name="Lucía Fernández", line1="Avenida de la Constitución 5", city="Madrid", country="")
    buyer = Customer(customer_id="77", name="Lucía Fernández", billing=nowhere, shipping=nowhere)
    mug = order([line("101", "BLUE-MUG-350ML", "Blue mug 350 ml", "2", "12.50")], customer=buyer)

    with pytest.raises(PermanentError) as raised:
        invoice_xml(mug, seller(), invoice_settings(), "INV-000041", ISSUED, {})

    assert raised.value.code == "buyer_country_missing"
    assert raised.value.message == "The order has no billing or shipping country for the buyer."
    assert raised.value.text("es") == "El pedido no indica el país de facturación ni el de envío del comprador."


def test_underivable_fee_tax_rate_names_the_fee_in_both_languages() -> None:
    # 210.55 on 1000.00 is no rate to 0.1 % that gives the tax back to the cent, and the store stated none.
    installation = Charge(kind="fee", code="installation", name="Installation", amount=Decimal("1000.00"),
                          tax=Decimal("210.55"))  # fmt: skip
    mug = order([line("101", "BLUE-MUG-350ML", "Blue mug 350 ml", "2", "12.50")], fees=[installation])

    with pytest.raises(PermanentError) as raised:
        invoice_xml(mug, seller(), invoice_settings(), "INV-000041", ISSUED, {})

    assert raised.value.code == "tax_rate_unknown"
    assert "fee 'Installation'" in raised.value.message
    assert "el cargo 'Installation'" in raised.value.text("es")


def test_erp_refusal_keeps_the_erp_text_and_says_in_spanish_who_refused() -> None:
    erp_text = 'To post invoice "FV2026-00001", the period "2026-11" must be open.'

    refusal = refusal_from_error(["UserError", [erp_text, "", None]])

    assert isinstance(refusal, PermanentError)
    assert refusal.message == erp_text
    assert refusal.message_es == f"El ERP rechazó la operación: {erp_text}"
