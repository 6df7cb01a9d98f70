"""Every business-facing refusal (PermanentError → held reason on the dashboard and in the API) has a Spanish text.

The source check walks the code, so a new refusal without `message_es=` fails here; the behavioural tests raise
real refusals from the UBL mapper and the Tryton client and read what a merchant would see.
"""

from __future__ import annotations

import ast
from datetime import date
from decimal import Decimal

import pytest

from shared import texts
from shared.domain.order import Address, Charge, Customer
from shared.errors import PermanentError
from shared.handlers.common import problem_from_error
from shared.targets.tryton.rpc import refusal_from_error
from shared.targets.ubl.mapper import invoice_xml
from tests.bilingual import calls_named, spanish_faults
from tests.fixtures.ubl.orders import invoice_settings, line, order, seller, two_mugs_with_coupon

ISSUED = date(2025, 3, 15)
REFUSALS = [(where, call) for where, call, _ in calls_named("PermanentError")]


def test_the_source_check_finds_the_refusals_it_is_meant_to_guard() -> None:
    files = {where.split(":")[0] for where, _ in REFUSALS}
    assert len(REFUSALS) >= 40
    assert {"shared/targets/ubl/mapper.py", "shared/targets/tryton/sales.py", "shared/targets/tryton/rpc.py"} <= files


def _faults(call: ast.Call) -> list[str]:
    data = call.args[1] if len(call.args) > 1 else None
    if isinstance(call.args[0], ast.Constant) and isinstance(data, ast.Dict):
        # The catalog form PermanentError(code, data): its sentence is `error.<code>` in every language.
        key = f"error.{call.args[0].value}"
        return [f"no {key} in {lang}" for lang in ("en", "es") if key not in texts.CATALOGS[lang]]
    return spanish_faults(call, english_position=1, english_keyword="message", spanish_keyword="message_es")


@pytest.mark.parametrize(("where", "call"), REFUSALS, ids=[where for where, _ in REFUSALS])
def test_every_permanent_error_has_a_spanish_message_with_the_same_figures(where: str, call: ast.Call) -> None:
    assert _faults(call) == [], where


@pytest.mark.parametrize(
    ("source", "fault"),
    [
        ('PermanentError("erp_stock_short", f"Not enough stock for order {order.number}")', "no message_es="),
        ('PermanentError("no_lines", "No lines.", message_es="No lines.")', "message_es repeats the English text"),
        (
            'PermanentError("x", f"Refund {refund.refund_id}: {amount}", message_es=f"Devolución {refund.refund_id}")',
            "the Spanish text does not show amount",
        ),
    ],
)
def test_the_source_check_catches_a_forgotten_or_incomplete_spanish_text(source: str, fault: str) -> None:
    call = ast.parse(source, mode="eval").body
    assert isinstance(call, ast.Call)
    assert _faults(call) == [fault]


def test_credit_transfer_without_iban_is_refused_in_spanish_on_the_held_order() -> None:
    with pytest.raises(PermanentError) as raised:
        invoice_xml(two_mugs_with_coupon(), seller(iban=""), invoice_settings(payment_means_code="30"), "1", ISSUED, {})

    error = raised.value
    assert error.code == "seller_iban_missing"
    assert error.message_es != error.message
    assert error.message_es.startswith("El medio de pago 30 (transferencia bancaria)")
    assert "IBAN" in error.message_es and "ajustes de la tienda" in error.message_es
    problem = problem_from_error(error)
    assert (problem.message_en, problem.message_es) == (error.message, error.message_es)


def test_order_without_buyer_country_is_refused_in_spanish() -> None:
    nowhere = Address(name="Lucía Fernández", line1="Avenida de la Constitución 5", city="Madrid", country="")
    buyer = Customer(customer_id="77", name="Lucía Fernández", billing=nowhere, shipping=nowhere)
    mug = order([line("101", "BLUE-MUG-350ML", "Blue mug 350 ml", "2", "12.50")], customer=buyer)

    with pytest.raises(PermanentError) as raised:
        invoice_xml(mug, seller(), invoice_settings(), "INV-000041", ISSUED, {})

    assert raised.value.code == "buyer_country_missing"
    assert raised.value.message == "The order has no billing or shipping country for the buyer."
    assert raised.value.message_es == "El pedido no indica el país de facturación ni el de envío del comprador."


def test_underivable_fee_tax_rate_names_the_fee_in_both_languages() -> None:
    # 210.55 on 1000.00 is no rate to 0.1 % that gives the tax back to the cent, and the store stated none.
    installation = Charge(kind="fee", code="installation", name="Installation", amount=Decimal("1000.00"),
                          tax=Decimal("210.55"))  # fmt: skip
    mug = order([line("101", "BLUE-MUG-350ML", "Blue mug 350 ml", "2", "12.50")], fees=[installation])

    with pytest.raises(PermanentError) as raised:
        invoice_xml(mug, seller(), invoice_settings(), "INV-000041", ISSUED, {})

    assert raised.value.code == "tax_rate_unknown"
    assert "fee 'Installation'" in raised.value.message
    assert "el cargo 'Installation'" in raised.value.message_es


def test_erp_refusal_keeps_the_erp_text_and_says_in_spanish_who_refused() -> None:
    erp_text = 'To post invoice "FV2026-00001", the period "2026-11" must be open.'

    refusal = refusal_from_error(["UserError", [erp_text, "", None]])

    assert isinstance(refusal, PermanentError)
    assert refusal.message == erp_text
    assert refusal.message_es == f"El ERP rechazó la operación: {erp_text}"
