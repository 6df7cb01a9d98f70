"""Invoices that match what the customer paid: one rate per distinct tax, amounts checked against the store's own
rate at validation, the currency the customer paid with the accounting currency beside it, and Peppol only when
both parties are on Peppol. Fixtures are Shopify Admin REST and WooCommerce REST v3 orders in their public shapes.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from shared.channels import shopify, woocommerce
from shared.domain.order import Order, OrderState, TaxLine
from shared.domain.rules import validate_order
from shared.domain.taxlines import applied_rate
from shared.errors import PermanentError
from shared.handlers.intake import receive_webhook
from shared.stores import InvoiceSettings, Seller, StoreSettings
from shared.targets.ubl.mapper import invoice_xml
from shared.targets.ubl.outbox import invoice_settings_for
from shared.targets.ubl.writer import document_totals
from tests.support import fixture_bytes, fixture_json, http_status, make_services, store_settings, webhook_headers
from tests.ubl_rules import NS, check_invoice

ISSUED = date(2026, 1, 5)
MAPPED = {"BLUE-MUG-350ML": "MUG-001", "ESPRESSO-MACHINE": "ESP-001"}
CANADIAN_SELLER = {
    "name": "Maple & Clay Inc.",
    "vat_id": "CA123456789RT0001",
    "street": "200 Bay St",
    "city": "Toronto",
    "postal_code": "M5J 2J2",
    "country": "CA",
    "email": "invoices@mapleandclay.example",
}
AUSTRALIAN_SELLER = {
    "name": "Harbour Mugs Pty Ltd",
    "vat_id": "AU51824753556",
    "street": "1 Macquarie Pl",
    "city": "Sydney",
    "postal_code": "2000",
    "country": "AU",
    "email": "accounts@harbourmugs.example",
}


def shopify_order(name: str, money: str = "presentment") -> Order:
    return shopify.parse_order(fixture_json("shopify", name), "teteria", money)


def store(currency: str, seller: dict[str, Any] | None = None, **overrides: Any) -> StoreSettings:
    extra: dict[str, Any] = {"currency": currency, **overrides}
    if seller is not None:
        extra["seller"] = seller
    return store_settings("teteria", "shopify", **extra)


def issue(order: Order, settings: StoreSettings) -> bytes:
    invoice = invoice_settings_for(order, settings)
    return invoice_xml(order, settings.seller, invoice, "INV-000001", ISSUED, MAPPED)


def xpath(xml: bytes, path: str) -> list[str]:
    return [str(x) for x in etree.fromstring(xml).xpath(path, namespaces=NS)]


def problems_of(order: Order, settings: StoreSettings) -> list[tuple[str, str]]:
    return [(p.code, p.field) for p in validate_order(order, settings, MAPPED)]


# ----------------------------------------------------------------------------------------- taxes per distinct tax


def test_gst_split_in_two_tax_lines_of_one_name_is_one_5_percent_tax():
    order = shopify_order("orders_create_gst_split")
    settings = store("CAD", CANADIAN_SELLER)

    assert [line.tax_rate for line in order.lines] == [Decimal("5")]
    assert problems_of(order, settings) == []
    xml = issue(order, settings)
    assert check_invoice(xml) == []
    assert document_totals(xml) == (Decimal("84.00"), Decimal("4.00"))
    assert xpath(xml, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:Percent/text()") == ["5"]


def test_gst_and_qst_are_different_taxes_and_add_up():
    order = shopify_order("orders_create_gst_qst")
    settings = store("CAD", CANADIAN_SELLER)

    assert [line.tax_rate for line in order.lines] == [Decimal("14.975")]
    assert [charge.tax_rate for charge in order.shipping] == [Decimal("14.975")]
    assert problems_of(order, settings) == []
    xml = issue(order, settings)
    assert check_invoice(xml) == []
    assert document_totals(xml) == (Decimal("68.99"), Decimal("8.99"))


def test_tax_lines_of_one_name_that_are_different_taxes_take_their_rate_from_the_amounts():
    # Two county taxes both called "Tax" at 5%: the amounts (10.00 on 100.00) say they are two taxes.
    taxes = [
        TaxLine(name="Tax", rate=Decimal(5), amount=Decimal(5)),
        TaxLine(name="Tax", rate=Decimal(5), amount=Decimal(5)),
    ]
    assert applied_rate(taxes, Decimal(100), Decimal(10)) == Decimal(10)
    assert applied_rate(taxes, Decimal(100), Decimal(5)) == Decimal(5)


def test_tax_included_prices_with_taxed_shipping_make_an_invoice_of_what_was_paid():
    order = shopify_order("orders_create_taxes_included_shipping")
    settings = store("EUR")

    assert (order.lines[0].total, order.shipping[0].amount) == (Decimal("40.00"), Decimal("4.00"))
    assert problems_of(order, settings) == []
    xml = issue(order, settings)
    assert check_invoice(xml) == []
    assert document_totals(xml) == (Decimal("53.24"), Decimal("9.24"))


def test_tax_that_contradicts_its_stated_rate_is_held_at_validation_naming_line_rate_base_and_amounts():
    order = woocommerce.parse_order(fixture_json("woocommerce", "order_created_tax_contradicts_rate"), "teteria")
    settings = store_settings("teteria", "woocommerce", currency="USD")

    problems = validate_order(order, settings, MAPPED)

    held = [p for p in problems if p.code == "tax_amount_mismatch"]
    assert [p.field for p in held] == ["lines[0].tax"]
    assert (held[0].expected, held[0].found) == ("11.74", "3.98")
    assert "line 1 (ESPRESSO-MACHINE)" in held[0].message("en") and "6% of 195.66" in held[0].message("en")
    assert "el 6% de 195.66" in held[0].message("es")


def test_tax_that_contradicts_its_rate_is_held_also_when_the_store_lists_its_rates():
    order = woocommerce.parse_order(fixture_json("woocommerce", "order_created_tax_contradicts_rate"), "teteria")
    rules = {"taxes": {"rates": [{"country": "US", "rate": 6}]}}
    settings = store_settings("teteria", "woocommerce", currency="USD", rules=rules)

    assert ("tax_amount_mismatch", "lines[0].tax") in problems_of(order, settings)


# --------------------------------------------------------------------------------- the currency the customer paid


def test_order_paid_in_usd_at_an_aud_shop_is_invoiced_in_usd_with_the_vat_in_aud():
    order = shopify_order("orders_create_presentment_usd")
    settings = store("AUD", AUSTRALIAN_SELLER)

    assert (order.currency, order.total, order.tax_total) == ("USD", Decimal("45.85"), Decimal("4.17"))
    assert (order.shop_currency, order.shop_total, order.shop_tax_total) == ("AUD", Decimal("69.98"), Decimal("6.36"))
    assert problems_of(order, settings) == []
    xml = issue(order, settings)
    assert check_invoice(xml) == []
    assert document_totals(xml) == (Decimal("45.85"), Decimal("4.17"))
    assert xpath(xml, "cbc:DocumentCurrencyCode/text()") == ["USD"]
    assert xpath(xml, "cbc:TaxCurrencyCode/text()") == ["AUD"]
    assert xpath(xml, "cac:TaxTotal[not(cac:TaxSubtotal)]/cbc:TaxAmount/@currencyID") == ["AUD"]
    assert xpath(xml, "cac:TaxTotal[not(cac:TaxSubtotal)]/cbc:TaxAmount/text()") == ["6.36"]
    note = xpath(xml, "cbc:Note/text()")[0]
    assert "1 USD = 1.526281 AUD" in note and "69.98 AUD for 45.85 USD" in note


def test_shop_setting_invoices_in_the_shops_currency_and_amounts():
    order = shopify_order("orders_create_presentment_usd", money="shop")
    settings = store("AUD", AUSTRALIAN_SELLER, invoice={"currency": "shop"})

    assert (order.currency, order.total, order.shop_currency) == ("AUD", Decimal("69.98"), "")
    xml = issue(order, settings)
    assert check_invoice(xml) == []
    assert document_totals(xml) == (Decimal("69.98"), Decimal("6.36"))
    assert xpath(xml, "cbc:TaxCurrencyCode") == []


def test_shopify_webhook_reads_the_money_the_store_invoices_in():
    raw = json.dumps(fixture_json("shopify", "orders_create_presentment_usd")).encode()
    headers = {"x-shopify-topic": "orders/create", "x-shopify-event-id": "e-1"}
    received = datetime(2026, 1, 5, tzinfo=UTC)

    paid = shopify.parse_event(raw, headers, "teteria", received)
    shop = shopify.parse_event(raw, headers, "teteria", received, "shop")

    assert paid.order is not None and (paid.order.currency, paid.order.total) == ("USD", Decimal("45.85"))
    assert shop.order is not None and (shop.order.currency, shop.order.total) == ("AUD", Decimal("69.98"))


def test_order_in_another_currency_without_the_shops_figures_is_held_and_never_converted_silently():
    order = woocommerce.parse_order(fixture_json("woocommerce", "order_created"), "teteria")
    order.currency = "USD"
    settings = store_settings("teteria", "woocommerce", currency="EUR")

    assert ("currency_not_allowed", "currency") in problems_of(order, settings)
    with pytest.raises(PermanentError) as refused:
        invoice_xml(order, settings.seller, InvoiceSettings(accounting_currency="EUR"), "1", ISSUED, MAPPED)
    assert refused.value.code == "exchange_rate_missing"


# ------------------------------------------------------------------------------------------ Peppol only when Peppol


def test_consumer_with_an_email_gets_a_plain_en16931_invoice_that_passes_every_rule():
    order = woocommerce.parse_order(fixture_json("woocommerce", "order_created"), "teteria")
    order.customer.tax_id, order.meta = "", {}
    xml = issue(order, store_settings("teteria", "woocommerce"))

    assert xpath(xml, "cbc:CustomizationID/text()") == ["urn:cen.eu:en16931:2017"]
    assert xpath(xml, "cbc:ProfileID") == []
    assert xpath(xml, "cac:AccountingCustomerParty/cac:Party/cbc:EndpointID/@schemeID") == ["EM"]
    assert check_invoice(xml) == []


def test_the_same_document_claiming_peppol_would_break_peppols_address_list():
    order = woocommerce.parse_order(fixture_json("woocommerce", "order_created"), "teteria")
    order.customer.tax_id, order.meta = "", {}
    root = etree.fromstring(issue(order, store_settings("teteria", "woocommerce")))
    root.find(
        "cbc:CustomizationID", NS
    ).text = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"

    assert "PEPPOL-EN16931-CL008" in check_invoice(etree.tostring(root))


def test_company_with_a_vat_id_on_peppol_gets_a_peppol_bis_invoice():
    order = woocommerce.parse_order(fixture_json("woocommerce", "order_created"), "teteria")
    xml = issue(order, store_settings("teteria", "woocommerce"))

    assert xpath(xml, "cbc:ProfileID/text()") == ["urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"]
    assert xpath(xml, "cac:AccountingCustomerParty/cac:Party/cbc:EndpointID/@schemeID") == ["9920"]
    assert check_invoice(xml) == []


def test_a_peppol_address_set_for_the_customer_makes_a_peppol_invoice():
    order = shopify_order("orders_create_gst_split")
    order.meta["peppol_id"] = "0088:5798000000001"
    settings = store("CAD", {**CANADIAN_SELLER, "endpoint_id": "5790000000001", "endpoint_scheme": "0088"})
    xml = issue(order, settings)

    assert xpath(xml, "cac:AccountingCustomerParty/cac:Party/cbc:EndpointID/text()") == ["5798000000001"]
    assert xpath(xml, "cbc:CustomizationID/text()")[0].endswith("poacc:billing:3.0")
    assert check_invoice(xml) == []


def test_a_seller_without_a_peppol_address_never_claims_peppol():
    order = woocommerce.parse_order(fixture_json("woocommerce", "order_created"), "teteria")
    seller = Seller(name="Maple & Clay Inc.", vat_id="CA123456789RT0001", country="CA", email="a@example.com")
    xml = invoice_xml(order, seller, InvoiceSettings(), "1", ISSUED, MAPPED)

    assert xpath(xml, "cbc:ProfileID") == []


# ------------------------------------------------------------------------------- through intake and the UBL outbox


@pytest.mark.parametrize(
    ("invoice", "currency", "total", "tax_currency"),
    [({}, "USD", Decimal("45.85"), ["AUD"]), ({"currency": "shop"}, "AUD", Decimal("69.98"), [])],
)
def test_shopify_webhook_is_invoiced_in_the_currency_the_store_setting_names(
    tmp_path: Path, invoice: dict[str, str], currency: str, total: Decimal, tax_currency: list[str]
) -> None:
    settings = store_settings("aud-shop", "shopify", currency="AUD", seller=AUSTRALIAN_SELLER, invoice=invoice)
    services = make_services(tmp_path, None, shop=settings)  # the real UBL outbox
    body = fixture_bytes("shopify", "orders_create_presentment_usd")
    result = receive_webhook(services, "shopify", "aud-shop", body, webhook_headers("shopify", "orders/create", body))
    assert http_status(result) == 202
    services.bus.drain(services)

    record = services.state.get_order("aud-shop", "6102938475633")
    assert record is not None and record.state == OrderState.INVOICED, record and record.problems
    assert (record.documents[0].total, record.order.currency if record.order else "") == (total, currency)
    xml = (tmp_path / "outbox" / "aud-shop" / f"{record.documents[0].number}.xml").read_bytes()
    assert xpath(xml, "cbc:TaxCurrencyCode/text()") == tax_currency
    assert check_invoice(xml) == []


def test_payload_without_presentment_amounts_stays_whole_in_the_shops_currency():
    data = fixture_json("shopify", "orders_create_presentment_usd")
    del data["total_price_set"]

    order = shopify.parse_order(data, "teteria")

    assert (order.currency, order.total, order.lines[0].total) == ("AUD", Decimal("69.98"), Decimal("58.00"))
