"""Customer tax ids: which scheme checks which country, and where an order carries the id."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared import texts
from shared.domain.order import Customer, Order
from shared.domain.rules.taxids import SCHEMES, check_tax_id, find_tax_id


@pytest.mark.parametrize(
    ("tax_id", "country", "scheme", "compact"),
    [
        ("B58378431", "ES", "es.nif", "B58378431"),  # company (CIF)
        ("54362315-K", "ES", "es.nif", "54362315K"),  # resident (DNI)
        ("X-5253868-R", "ES", "es.nif", "X5253868R"),  # foreigner (NIE)
        ("ES B-58378431", "ES", "eu.vat", "ESB58378431"),  # typed with the VAT prefix
        ("PT 501 964 843", "PT", "eu.vat", "PT501964843"),
        ("501964843", "PT", "pt.nif", "501964843"),
        ("FR 61 954 506 077", "FR", "eu.vat", "FR61954506077"),
        ("404833048", "FR", "fr.siren", "404833048"),  # a company's SIREN without VAT number
        ("136695976", "DE", "de.vat", "136695976"),
        ("00743110157", "IT", "it.iva", "00743110157"),
        ("RCCMNL83S18D969H", "IT", "it.codicefiscale", "RCCMNL83S18D969H"),  # private buyer
        ("ATU57194903", "", "eu.vat", "ATU57194903"),  # EU VAT id, country unknown
        ("U57194903", "AT", "eu.vat", "ATU57194903"),  # other EU country: its prefix is added
        ("GODE561231GR8", "MX", "mx.rfc", "GODE561231GR8"),  # person
        ("MAB-930714-8T4", "MX", "mx.rfc", "MAB9307148T4"),  # company
        ("XAXX010101000", "MX", "mx.rfc", "XAXX010101000"),  # generic: sale to the general public
        ("XEXX010101000", "MX", "mx.rfc", "XEXX010101000"),  # generic: foreign buyer
        ("76086428-5", "CL", "cl.rut", "760864285"),
        ("20-05536168-2", "AR", "ar.cuit", "20055361682"),
        ("213.123.432-1", "CO", "co.nit", "2131234321"),
        ("20512333797", "PE", "pe.ruc", "20512333797"),
    ],
)
def test_valid_tax_ids(tax_id: str, country: str, scheme: str, compact: str) -> None:
    result = check_tax_id(tax_id, country)
    assert (result.valid, result.scheme, result.compact) == (True, scheme, compact)


@pytest.mark.parametrize(
    ("tax_id", "country", "reason_word"),
    [
        ("B58378432", "ES", "check digit"),
        ("ESB58378432", "ES", "check digit"),
        ("12345", "ES", "characters"),
        ("PT 501 964 842", "PT", "check digit"),
        ("136695978", "DE", "check digit"),
        ("00743110158", "IT", "check digit"),
        ("GODE561331GR8", "MX", "part"),  # month 13
        ("76086428-4", "CL", "check digit"),
        ("20-05536168-3", "AR", "check digit"),
        ("213.123.432-2", "CO", "check digit"),
        ("20512333798", "PE", "check digit"),
        ("hello", "FR", "format"),
    ],
)
def test_invalid_tax_ids_say_why(tax_id: str, country: str, reason_word: str) -> None:
    result = check_tax_id(tax_id, country)
    assert not result.valid
    assert result.checked
    assert reason_word in result.reason
    assert result.reason_text.startswith("word.tax_id_")
    assert texts.render(result.reason_text, lang="es") != result.reason  # a sentence in each catalog


def test_every_listed_scheme_is_a_python_stdnum_module_with_validate() -> None:
    import importlib

    for modules in SCHEMES.values():
        for name in modules:
            assert callable(importlib.import_module(f"stdnum.{name}").validate)


def test_country_without_a_scheme_is_not_checked() -> None:
    result = check_tax_id("12-3456789", "US")
    assert result.valid and not result.checked


def test_empty_tax_id_is_not_valid() -> None:
    assert not check_tax_id("  ", "ES").valid


def _order(tax_id: str = "", meta: dict[str, str] | None = None) -> Order:
    moment = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
    return Order(
        channel="shopify",
        store_id="demo-shopify",
        order_id="5512345678901234567",
        number="#1042",
        currency="EUR",
        created_at=moment,
        updated_at=moment,
        customer=Customer(tax_id=tax_id),
        total=Decimal("30.00"),
        meta=meta or {},
    )


@pytest.mark.parametrize(
    ("tax_id", "meta", "expected"),
    [
        ("B58378431", {"_billing_nif": "X5253868R"}, ("B58378431", "customer.tax_id")),
        ("", {"_billing_nif": "X5253868R"}, ("X5253868R", "meta._billing_nif")),
        ("", {"VAT Number": "ESB58378431"}, ("ESB58378431", "meta.VAT Number")),  # Shopify note attribute
        ("", {"RFC": "GODE561231GR8", "Uso CFDI": "G01"}, ("GODE561231GR8", "meta.RFC")),
        ("", {"_billing_vat_number": " ", "vat_id": "DE136695976"}, ("DE136695976", "meta.vat_id")),
        ("", {"Horario de entrega": "Mañanas"}, ("", "")),
    ],
)
def test_tax_id_is_found_on_the_customer_then_in_meta(
    tax_id: str, meta: dict[str, str], expected: tuple[str, str]
) -> None:
    assert find_tax_id(_order(tax_id, meta)) == expected


def test_store_specific_meta_key_is_read_before_the_built_in_ones() -> None:
    order = _order(meta={"nif": "B58378431", "_facturacion_nif": "X5253868R"})
    assert find_tax_id(order, ("facturacion_nif",)) == ("X5253868R", "meta._facturacion_nif")
