"""The EN 16931 rule checker itself: a valid document passes, each deliberate break is caught by the right rule."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date

import pytest
from lxml import etree

from shared.domain.order import Order, Refund, RefundLine
from shared.domain.records import DocumentRef
from shared.targets.ubl.mapper import credit_note_xml, invoice_xml
from tests.fixtures.ubl.orders import CREATED, D, company, fee, invoice_settings, line, order, seller, shipping
from tests.ubl_rules import CREDIT_NOTE_SEQUENCE, DELIVERY_SEQUENCE, INVOICE_SEQUENCE, NS, check_invoice

Element = etree._Element


def reverse_charge_invoice() -> bytes:
    """A document that passes every rule, Peppol's included (a French company with a VAT number, reverse charge)."""
    buyer = company("FR", "FR40303265045", "Café Lumière SARL", "Paris")
    lines = [
        line("401", "BLUE-MUG-350ML", "Blue mug 350 ml", "24", "11.00", rate="0", discount="13.20"),
        line("402", "TEAPOT-1L-WHITE", "White teapot 1 l", "2", "34.90", rate="0"),
    ]
    o = order(lines, customer=buyer, shipping_charges=[shipping("9.90", rate="0")])
    return invoice_xml(o, seller(), invoice_settings(intra_eu_b2b="AE"), "INV-000100", date(2025, 3, 15), {})


def intra_community_order() -> Order:
    """Mugs shipped from Spain to a French café: K on the lines, on the shipping charge and on a loyalty discount."""
    buyer = company("FR", "FR40303265045", "Café Lumière SARL", "Paris")
    lines = [
        line("901", "BLUE-MUG-350ML", "Blue mug 350 ml", "24", "11.00", rate="0", discount="13.20"),
        line("902", "TEAPOT-1L-WHITE", "White teapot 1 l", "2", "34.90", rate="0"),
    ]
    charges = [shipping("9.90", rate="0")]
    return order(lines, customer=buyer, shipping_charges=charges, fees=[fee("-5.00", "Loyalty discount", rate="0")])


def intra_community_invoice() -> bytes:
    """A K document that passes every rule, Peppol's included."""
    return invoice_xml(intra_community_order(), seller(), invoice_settings(), "INV-000102", date(2025, 3, 15), {})


def intra_community_credit_note() -> bytes:
    refund = Refund(
        refund_id="7101",
        created_at=CREATED,
        reason="Two mugs arrived broken",
        lines=[RefundLine(line_id="901", sku="BLUE-MUG-350ML", quantity=D(2), amount=D("19.80"))],
        amount=D("19.80"),
    )
    invoice = DocumentRef(kind="invoice", number="INV-000102", target="ubl", issued_at=CREATED)
    o = intra_community_order()
    return credit_note_xml(o, refund, invoice, seller(), invoice_settings(), "CN-000010", date(2025, 3, 20), {})


def standard_rated_invoice() -> bytes:
    buyer = company("ES", "ESA28015865", "Bar Triana S.A.", "Sevilla")
    o = order([line("1", "BLUE-MUG-350ML", "Blue mug 350 ml", "10", "12.50")], customer=buyer)
    return invoice_xml(o, seller(), invoice_settings(), "INV-000101", date(2025, 3, 15), {})


def broken(xml: bytes, change: Callable[[Element], object]) -> list[str]:
    root = etree.fromstring(xml)
    change(root)
    return check_invoice(etree.tostring(root))


def first(root: Element, path: str) -> Element:
    return root.xpath(path, namespaces=NS)[0]


def set_text(path: str, value: str) -> Callable[[Element], None]:
    def change(root: Element) -> None:
        first(root, path).text = value

    return change


def remove(path: str) -> Callable[[Element], None]:
    def change(root: Element) -> None:
        for element in root.xpath(path, namespaces=NS):
            element.getparent().remove(element)

    return change


def add_text(parent: Element, position: int, tag: str, value: str) -> None:
    prefix, name = tag.split(":")
    element = etree.Element(f"{{{NS[prefix]}}}{name}")
    element.text = value
    parent.insert(position, element)


def test_valid_documents_break_no_rule():
    assert check_invoice(reverse_charge_invoice()) == []
    assert check_invoice(standard_rated_invoice()) == []
    assert check_invoice(intra_community_invoice()) == []
    assert check_invoice(intra_community_credit_note()) == []


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (remove("cbc:CustomizationID"), "BR-01"),
        (remove("cac:InvoiceLine"), "BR-16"),
        (remove("cac:AccountingCustomerParty/cac:Party/cac:PartyLegalEntity"), "BR-07"),
        (set_text("cac:InvoiceLine/cbc:LineExtensionAmount", "264.00"), "BR-CO-10"),
        (set_text("cac:InvoiceLine/cbc:LineExtensionAmount", "264.00"), "PEPPOL-EN16931-R120"),
        (set_text("cac:LegalMonetaryTotal/cbc:ChargeTotalAmount", "9.00"), "BR-CO-12"),
        (set_text("cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount", "1.00"), "BR-CO-13"),
        (set_text("cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount", "1.00"), "BR-CO-15"),
        (set_text("cac:LegalMonetaryTotal/cbc:PayableAmount", "0.01"), "BR-CO-16"),
        (remove("cbc:BuyerReference | cac:OrderReference"), "PEPPOL-EN16931-R003"),
        (remove("cac:AccountingSupplierParty/cac:Party/cbc:EndpointID"), "PEPPOL-EN16931-R020"),
        (remove("cac:AccountingCustomerParty/cac:Party/cbc:EndpointID"), "PEPPOL-EN16931-R010"),
        (lambda r: first(r, "cac:AccountingSupplierParty/cac:Party/cbc:EndpointID").attrib.pop("schemeID"), "BR-62"),
        (lambda r: first(r, "cac:AccountingCustomerParty/cac:Party/cbc:EndpointID").set("schemeID", "EM"),
         "PEPPOL-EN16931-CL008"),
        (remove("cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme"), "BR-AE-02"),
        (remove("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:TaxExemptionReasonCode"
                " | cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:TaxExemptionReason"), "BR-AE-10"),
        (set_text("cac:TaxTotal/cac:TaxSubtotal/cbc:TaxableAmount", "100.00"), "BR-AE-08"),
        (set_text("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:TaxExemptionReasonCode", "VATEX-EU-G"),
         "PEPPOL-EN16931-P0104"),
        (set_text("cac:InvoiceLine/cac:Item/cac:ClassifiedTaxCategory/cbc:Percent", "21"), "BR-AE-05"),
        (set_text("cac:AllowanceCharge/cbc:AllowanceChargeReasonCode", "XYZ"), "PEPPOL-EN16931-CL003"),
        (set_text("cac:InvoiceLine/cac:AllowanceCharge/cbc:AllowanceChargeReasonCode", "ZZZ"), "PEPPOL-EN16931-CL002"),
        (set_text("cac:InvoiceLine/cac:AllowanceCharge/cbc:Amount", "13.201"), "BR-DEC-24"),
        (set_text("cac:LegalMonetaryTotal/cbc:PayableAmount", "0.001"), "BR-DEC-18"),
        (lambda r: first(r, "cac:LegalMonetaryTotal/cbc:PayableAmount").set("currencyID", "USD"),
         "PEPPOL-EN16931-R051"),
        (lambda r: etree.SubElement(first(r, "cac:OrderReference"), f"{{{NS['cbc']}}}SalesOrderID"),
         "PEPPOL-EN16931-R008"),
        (lambda r: add_text(r, 4, "cbc:Note", "Thank you") or add_text(r, 4, "cbc:Note", "Gracias"),
         "PEPPOL-EN16931-R002"),
        (lambda r: r.append(first(r, "cac:AccountingSupplierParty")), "UBL-SEQUENCE"),
        (set_text("cbc:IssueDate", "15.03.2025"), "PEPPOL-EN16931-F001"),
        (set_text("cbc:InvoiceTypeCode", "381"), "PEPPOL-EN16931-P0100"),
        (set_text("cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID", "B12345674"), "BR-CO-09"),
        (remove("cac:TaxTotal"), "BR-CO-18"),
    ],
)  # fmt: skip
def test_a_broken_reverse_charge_invoice_fails_the_right_rule(change, rule):
    assert rule in broken(reverse_charge_invoice(), change)


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (set_text("cac:TaxTotal/cac:TaxSubtotal/cbc:TaxAmount", "26.26"), "BR-CO-17"),
        (set_text("cac:TaxTotal/cac:TaxSubtotal/cbc:TaxAmount", "26.26"), "BR-CO-14"),
        (set_text("cac:TaxTotal/cac:TaxSubtotal/cbc:TaxAmount", "26.26"), "BR-S-09"),
        (set_text("cac:InvoiceLine/cac:Item/cac:ClassifiedTaxCategory/cbc:Percent", "0"), "BR-S-05"),
        (remove("cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme"), "BR-S-02"),
        (lambda r: add_text(first(r, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory"), 2, "cbc:TaxExemptionReason",
                            "Exempt"), "BR-S-10"),
        (set_text("cac:InvoiceLine/cac:Price/cbc:PriceAmount", "-12.50"), "BR-27"),
        (set_text("cac:PaymentMeans/cbc:PaymentMeansCode", "30"), "BR-61"),
        (lambda r: set_text("cac:LegalMonetaryTotal/cbc:PayableAmount", "151.25")(r)
         or remove("cac:LegalMonetaryTotal/cbc:PrepaidAmount")(r), "BR-CO-25"),
    ],
)  # fmt: skip
def test_a_broken_standard_rated_invoice_fails_the_right_rule(change, rule):
    assert rule in broken(standard_rated_invoice(), change)


def test_the_element_order_matches_the_ubl_21_schemas():
    xsd = pytest.importorskip("peppol.xsd")
    declared = {}
    for name in ("Invoice", "CreditNote"):
        schema = etree.parse(os.path.join(xsd.SCHEMA_DIR, "maindoc", f"UBL-{name}-2.1.xsd"))
        refs = schema.xpath(
            "//xsd:complexType[1]/xsd:sequence/xsd:element/@ref", namespaces={"xsd": "http://www.w3.org/2001/XMLSchema"}
        )
        declared[name] = [str(ref).split(":")[1] for ref in refs]
    assert declared == {"Invoice": INVOICE_SEQUENCE, "CreditNote": CREDIT_NOTE_SEQUENCE}


def test_the_schema_rejects_what_the_sequence_check_rejects():
    xsd = pytest.importorskip("peppol.xsd")
    root = etree.fromstring(standard_rated_invoice())
    root.append(first(root, "cac:AccountingSupplierParty"))
    valid, _ = xsd.validate_xsd(etree.tostring(root))
    assert not valid
    assert "UBL-SEQUENCE" in check_invoice(etree.tostring(root))


def add_child(path: str, tag: str, value: str, position: int | None = None) -> Callable[[Element], None]:
    def change(root: Element) -> None:
        parent = first(root, path)
        add_text(parent, len(parent) if position is None else position, tag, value)

    return change


def price_allowance(indicator: str, base: str | None) -> Callable[[Element], None]:
    def change(root: Element) -> None:
        price = first(root, "cac:InvoiceLine/cac:Price")
        allowance = etree.SubElement(price, f"{{{NS['cac']}}}AllowanceCharge")
        add_text(allowance, 0, "cbc:ChargeIndicator", indicator)
        add_text(allowance, 1, "cbc:Amount", "1.00")
        if base is not None:
            add_text(allowance, 2, "cbc:BaseAmount", base)

    return change


def endpoint(scheme: str, value: str) -> Callable[[Element], None]:
    def change(root: Element) -> None:
        element = first(root, "cac:AccountingCustomerParty/cac:Party/cbc:EndpointID")
        element.set("schemeID", scheme)
        element.text = value

    return change


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (set_text("cbc:DocumentCurrencyCode", "EURO"), "BR-CL-04"),
        (lambda r: first(r, "cac:LegalMonetaryTotal/cbc:PayableAmount").set("currencyID", "XYZ"), "BR-CL-03"),
        (set_text("cac:AccountingCustomerParty/cac:Party/cac:PostalAddress/cac:Country/cbc:IdentificationCode", "XK"),
         "BR-CL-14"),
        (set_text("cac:PaymentMeans/cbc:PaymentMeansCode", "CARD"), "BR-CL-16"),
        (set_text("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:ID", "R"), "BR-CL-17"),
        (set_text("cac:InvoiceLine/cac:Item/cac:ClassifiedTaxCategory/cbc:ID", "X"), "BR-CL-18"),
        (set_text("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:TaxExemptionReasonCode", "VATEX-EU-XYZ"),
         "BR-CL-22"),
        (endpoint("MAIL", "ap@buyer.example"), "BR-CL-25"),
        (add_child(".", "cbc:UUID", "6e09886b-dc6e-439f-82d1-7ccac7f4e3b1", position=3), "UBL-CR-005"),
        (add_child(".", "cbc:IssueTime", "10:00:00", position=4), "UBL-CR-006"),
        (add_child(".", "cbc:UBLVersionID", "2.0", position=0), "UBL-CR-002"),
        (add_child("cac:TaxTotal/cac:TaxSubtotal", "cbc:Percent", "0"), "UBL-CR-499"),
        (add_child("cac:InvoiceLine/cac:Item/cac:ClassifiedTaxCategory", "cbc:TaxExemptionReasonCode", "VATEX-EU-AE",
                   position=2), "UBL-CR-600"),
        (add_child("cac:AllowanceCharge/cac:TaxCategory", "cbc:TaxExemptionReason", "Reverse charge", position=2),
         "UBL-CR-481"),
        (add_child("cac:PaymentMeans", "cbc:PaymentDueDate", "2025-03-15", position=1), "UBL-CR-412"),
        (set_text("cac:InvoiceLine/cbc:LineExtensionAmount", "250.800"), "UBL-DT-01"),
        (lambda r: first(r, "cac:InvoiceLine/cac:Item/cbc:Name").set("name", "mug"), "UBL-DT-18"),
        (lambda r: first(r, "cac:InvoiceLine/cac:Item").append(
            etree.fromstring(etree.tostring(first(r, "cac:InvoiceLine/cac:Item/cac:ClassifiedTaxCategory")))),
         "UBL-SR-48"),
        (lambda r: first(r, "cac:PaymentMeans").addnext(etree.fromstring(
            f'<cac:PaymentTerms xmlns:cac="{NS["cac"]}" xmlns:cbc="{NS["cbc"]}">'
            "<cbc:Note>Paid at checkout</cbc:Note><cbc:Note>Gracias</cbc:Note></cac:PaymentTerms>")), "UBL-SR-05"),
        (lambda r: first(r, "cac:AllowanceCharge").insert(4, etree.fromstring(
            f'<cbc:MultiplierFactorNumeric xmlns:cbc="{NS["cbc"]}">10</cbc:MultiplierFactorNumeric>')),
         "PEPPOL-EN16931-R041"),
        (lambda r: first(r, "cac:AllowanceCharge").insert(5, etree.fromstring(
            f'<cbc:BaseAmount xmlns:cbc="{NS["cbc"]}" currencyID="EUR">99.00</cbc:BaseAmount>')),
         "PEPPOL-EN16931-R042"),
        (lambda r: [first(r, "cac:AllowanceCharge").insert(4, etree.fromstring(
            f'<cbc:MultiplierFactorNumeric xmlns:cbc="{NS["cbc"]}">10</cbc:MultiplierFactorNumeric>')),
            first(r, "cac:AllowanceCharge").insert(6, etree.fromstring(
                f'<cbc:BaseAmount xmlns:cbc="{NS["cbc"]}" currencyID="EUR">50.00</cbc:BaseAmount>'))],
         "PEPPOL-EN16931-R040"),
        (set_text("cac:AllowanceCharge/cbc:ChargeIndicator", "1"), "PEPPOL-EN16931-R043"),
        (price_allowance("true", None), "PEPPOL-EN16931-R044"),
        (price_allowance("false", "20.00"), "PEPPOL-EN16931-R046"),
        (lambda r: add_child("cac:InvoiceLine/cac:Price", "cbc:BaseQuantity", "1")(r)
         or first(r, "cac:InvoiceLine/cac:Price/cbc:BaseQuantity").set("unitCode", "C62"), "PEPPOL-EN16931-R130"),
        (set_text("cac:PaymentMeans/cbc:PaymentMeansCode", "59"), "PEPPOL-EN16931-R061"),
        (lambda r: r.insert(list(r).index(first(r, "cac:TaxTotal")), etree.fromstring(
            f'<cac:TaxTotal xmlns:cac="{NS["cac"]}" xmlns:cbc="{NS["cbc"]}">'
            '<cbc:TaxAmount currencyID="EUR">0.00</cbc:TaxAmount></cac:TaxTotal>')), "PEPPOL-EN16931-R054"),
        (endpoint("0184", "12345678"), "PEPPOL-COMMON-R042"),
        (endpoint("0192", "974760672"), "PEPPOL-COMMON-R041"),
        (endpoint("0007", "5560360794"), "PEPPOL-COMMON-R049"),
    ],
)  # fmt: skip
def test_a_broken_document_fails_the_code_list_syntax_and_peppol_rules(change, rule):
    assert rule in broken(reverse_charge_invoice(), change)


@pytest.mark.parametrize(
    ("scheme", "value"), [("0184", "DK12345678"), ("0192", "974760673"), ("0007", "5560360793"), ("EM", "a@b.example")]
)
def test_well_formed_identifiers_pass_the_identifier_rules(scheme, value):
    found = broken(reverse_charge_invoice(), endpoint(scheme, value))
    assert not {r for r in found if r.startswith("PEPPOL-COMMON") or r == "BR-CL-25"}


K_SUBTOTAL = "cac:TaxTotal/cac:TaxSubtotal[cac:TaxCategory/cbc:ID='K']"


def duplicate(path: str) -> Callable[[Element], None]:
    def change(root: Element) -> None:
        element = first(root, path)
        element.addnext(etree.fromstring(etree.tostring(element)))

    return change


def buyer_legal_id_instead_of_vat_id(root: Element) -> None:
    party = first(root, "cac:AccountingCustomerParty/cac:Party")
    add_text(first(party, "cac:PartyLegalEntity"), 1, "cbc:CompanyID", "403032650")
    party.remove(first(party, "cac:PartyTaxScheme"))


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (duplicate(K_SUBTOTAL), "BR-IC-01"),
        (set_text(K_SUBTOTAL + "/cac:TaxCategory/cbc:ID", "Z"), "BR-IC-01"),
        (remove("cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme"), "BR-IC-02"),
        (remove("cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme"), "BR-IC-02"),
        (buyer_legal_id_instead_of_vat_id, "BR-IC-02"),  # enough for AE (BR-AE-02), not for K
        (remove("cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme"), "BR-IC-03"),
        (remove("cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme"), "BR-IC-04"),
        (set_text("cac:InvoiceLine/cac:Item/cac:ClassifiedTaxCategory/cbc:Percent", "21"), "BR-IC-05"),
        (set_text("cac:AllowanceCharge[cbc:ChargeIndicator='false']/cac:TaxCategory/cbc:Percent", "21"), "BR-IC-06"),
        (set_text("cac:AllowanceCharge[cbc:ChargeIndicator='true']/cac:TaxCategory/cbc:Percent", "21"), "BR-IC-07"),
        (set_text(K_SUBTOTAL + "/cbc:TaxableAmount", "268.90"), "BR-IC-08"),
        (set_text(K_SUBTOTAL + "/cbc:TaxAmount", "56.47"), "BR-IC-09"),
        (remove(K_SUBTOTAL + "/cac:TaxCategory/cbc:TaxExemptionReasonCode"
                " | " + K_SUBTOTAL + "/cac:TaxCategory/cbc:TaxExemptionReason"), "BR-IC-10"),
        (set_text(K_SUBTOTAL + "/cac:TaxCategory/cbc:TaxExemptionReasonCode", "VATEX-EU-AE"), "BR-IC-10"),
        (remove("cac:Delivery/cbc:ActualDeliveryDate"), "BR-IC-11"),
        (set_text("cac:Delivery/cbc:ActualDeliveryDate", ""), "BR-IC-11"),
        (remove("cac:Delivery/cac:DeliveryLocation"), "BR-IC-12"),
        (remove("cac:Delivery"), "BR-IC-12"),
        (lambda r: first(r, "cac:Delivery").append(first(r, "cac:Delivery/cbc:ActualDeliveryDate")), "UBL-SEQUENCE"),
    ],
)  # fmt: skip
def test_a_broken_intra_community_invoice_fails_the_right_rule(change, rule):
    assert rule in broken(intra_community_invoice(), change)


def test_a_missing_delivery_date_breaks_br_ic_11_and_nothing_else():
    assert broken(intra_community_invoice(), remove("cac:Delivery/cbc:ActualDeliveryDate")) == ["BR-IC-11"]


def test_an_invoicing_period_satisfies_br_ic_11_instead_of_the_delivery_date():
    def period_instead_of_date(root: Element) -> None:
        remove("cac:Delivery/cbc:ActualDeliveryDate")(root)
        period = etree.fromstring(
            f'<cac:InvoicePeriod xmlns:cac="{NS["cac"]}" xmlns:cbc="{NS["cbc"]}">'
            "<cbc:StartDate>2025-03-01</cbc:StartDate><cbc:EndDate>2025-03-31</cbc:EndDate></cac:InvoicePeriod>"
        )
        first(root, "cac:OrderReference").addprevious(period)

    assert broken(intra_community_invoice(), period_instead_of_date) == []


def test_the_intra_community_exemption_code_on_a_reverse_charge_breakdown_fails_peppol_p0106():
    change = set_text("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:TaxExemptionReasonCode", "VATEX-EU-IC")
    assert "PEPPOL-EN16931-P0106" in broken(reverse_charge_invoice(), change)


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (remove("cac:Delivery/cbc:ActualDeliveryDate"), "BR-IC-11"),
        (remove("cac:Delivery/cac:DeliveryLocation"), "BR-IC-12"),
        (remove("cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme"), "BR-IC-02"),
        (set_text("cac:CreditNoteLine/cac:Item/cac:ClassifiedTaxCategory/cbc:Percent", "21"), "BR-IC-05"),
        (set_text(K_SUBTOTAL + "/cbc:TaxableAmount", "29.70"), "BR-IC-08"),
    ],
)
def test_a_broken_intra_community_credit_note_fails_the_same_rules(change, rule):
    assert rule in broken(intra_community_credit_note(), change)


def test_the_delivery_order_matches_the_ubl_21_schema():
    xsd = pytest.importorskip("peppol.xsd")
    schema = etree.parse(os.path.join(xsd.SCHEMA_DIR, "common", "UBL-CommonAggregateComponents-2.1.xsd"))
    refs = schema.xpath(
        "//xsd:complexType[@name='DeliveryType']/xsd:sequence/xsd:element/@ref",
        namespaces={"xsd": "http://www.w3.org/2001/XMLSchema"},
    )
    assert [str(ref).split(":")[1] for ref in refs] == DELIVERY_SEQUENCE
    root = etree.fromstring(intra_community_invoice())
    first(root, "cac:Delivery").append(first(root, "cac:Delivery/cbc:ActualDeliveryDate"))
    valid, _ = xsd.validate_xsd(etree.tostring(root))
    assert not valid
