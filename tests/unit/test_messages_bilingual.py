"""Every business-facing refusal (PermanentError → held reason on the dashboard and in the API) has a Spanish text.

The source check walks the code, so a new refusal without `message_es=` fails here; the behavioural tests raise
real refusals from the UBL mapper and the Tryton client and read what a merchant would see.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from shared.domain.order import Address, Charge, Customer
from shared.errors import PermanentError
from shared.handlers.common import problem_from_error
from shared.targets.tryton.rpc import refusal_from_error
from shared.targets.ubl.mapper import invoice_xml
from tests.fixtures.ubl.orders import invoice_settings, line, order, seller, two_mugs_with_coupon

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(ROOT / "shared").rglob("*.py"), *(ROOT / "functions").rglob("*.py")])
ISSUED = date(2025, 3, 15)


def _refusals() -> Iterator[tuple[str, ast.Call]]:
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                if name == "PermanentError":
                    yield f"{path.relative_to(ROOT)}:{node.lineno}", node


REFUSALS = list(_refusals())


def _shown_values(node: ast.AST) -> set[str]:
    """The variables and attributes a message shows (`order.number`, `what_en`), without method names."""
    if isinstance(node, ast.Name | ast.Attribute):
        return {ast.unparse(node)}
    if isinstance(node, ast.Call):
        inner = node.func.value if isinstance(node.func, ast.Attribute) else None
        parts = [*node.args, *(k.value for k in node.keywords)] + ([inner] if inner is not None else [])
        return set().union(*(_shown_values(p) for p in parts))
    return set().union(*(_shown_values(child) for child in ast.iter_child_nodes(node)))


def _language_neutral(names: set[str]) -> set[str]:
    # what_en / what_es name the same thing in two languages.
    return {re.sub(r"_(en|es)\b", "", name) for name in names}


def test_the_source_check_finds_the_refusals_it_is_meant_to_guard() -> None:
    files = {where.split(":")[0] for where, _ in REFUSALS}
    assert len(REFUSALS) >= 40
    assert {"shared/targets/ubl/mapper.py", "shared/targets/tryton/target.py", "shared/targets/tryton/rpc.py"} <= files


def _faults(call: ast.Call) -> list[str]:
    keywords = {k.arg: k.value for k in call.keywords}
    if "message_es" not in keywords:
        return ["no message_es="]
    english = call.args[1] if len(call.args) >= 2 else keywords.get("message")
    if english is None:
        return ["no English message"]
    spanish = keywords["message_es"]
    if ast.dump(spanish) == ast.dump(english):
        return ["message_es repeats the English text"]
    missing = _language_neutral(_shown_values(english)) - _language_neutral(_shown_values(spanish))
    return [f"the Spanish text does not show {name}" for name in sorted(missing)]


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
