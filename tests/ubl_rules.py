"""A checker of the EN 16931 / Peppol BIS Billing 3.0 rules expressible over a UBL document with lxml.

Used by the UBL unit tests and the end-to-end tests to check every generated invoice and credit note. It restates
the rules (ids as in the official artefacts) over XPath; it is not the official Schematron, which runs with an
XSLT 2 processor outside this project. `check_invoice` returns the sorted ids of the rules a document breaks: the
CEN rules for every document, the Peppol rules for a document that claims Peppol BIS 3 in its CustomizationID.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import ROUND_FLOOR, Decimal, InvalidOperation

from lxml import etree


def _words(text: str) -> list[str]:
    return text.split()


NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "inv": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "cn": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
}

# The children of the root in the order the UBL 2.1 maindoc schemas declare them.
INVOICE_SEQUENCE = _words(
    """UBLExtensions UBLVersionID CustomizationID ProfileID ProfileExecutionID ID CopyIndicator UUID
    IssueDate IssueTime DueDate InvoiceTypeCode Note TaxPointDate DocumentCurrencyCode
    TaxCurrencyCode PricingCurrencyCode PaymentCurrencyCode PaymentAlternativeCurrencyCode
    AccountingCostCode AccountingCost LineCountNumeric BuyerReference InvoicePeriod OrderReference
    BillingReference DespatchDocumentReference ReceiptDocumentReference StatementDocumentReference
    OriginatorDocumentReference ContractDocumentReference AdditionalDocumentReference
    ProjectReference Signature AccountingSupplierParty AccountingCustomerParty PayeeParty
    BuyerCustomerParty SellerSupplierParty TaxRepresentativeParty Delivery DeliveryTerms
    PaymentMeans PaymentTerms PrepaidPayment AllowanceCharge TaxExchangeRate PricingExchangeRate
    PaymentExchangeRate PaymentAlternativeExchangeRate TaxTotal WithholdingTaxTotal
    LegalMonetaryTotal InvoiceLine"""
)
CREDIT_NOTE_SEQUENCE = _words(
    """UBLExtensions UBLVersionID CustomizationID ProfileID ProfileExecutionID ID CopyIndicator UUID
    IssueDate IssueTime TaxPointDate CreditNoteTypeCode Note DocumentCurrencyCode TaxCurrencyCode
    PricingCurrencyCode PaymentCurrencyCode PaymentAlternativeCurrencyCode AccountingCostCode
    AccountingCost LineCountNumeric BuyerReference InvoicePeriod DiscrepancyResponse OrderReference
    BillingReference DespatchDocumentReference ReceiptDocumentReference ContractDocumentReference
    AdditionalDocumentReference StatementDocumentReference OriginatorDocumentReference Signature
    AccountingSupplierParty AccountingCustomerParty PayeeParty BuyerCustomerParty
    SellerSupplierParty TaxRepresentativeParty Delivery DeliveryTerms PaymentMeans PaymentTerms
    TaxExchangeRate PricingExchangeRate PaymentExchangeRate PaymentAlternativeExchangeRate
    AllowanceCharge TaxTotal LegalMonetaryTotal CreditNoteLine"""
)

# The children of cac:Delivery in the order UBL 2.1 DeliveryType declares them.
DELIVERY_SEQUENCE = _words(
    """ID Quantity MinimumQuantity MaximumQuantity ActualDeliveryDate ActualDeliveryTime LatestDeliveryDate
    LatestDeliveryTime ReleaseID TrackingID DeliveryAddress DeliveryLocation AlternativeDeliveryLocation
    RequestedDeliveryPeriod PromisedDeliveryPeriod EstimatedDeliveryPeriod CarrierParty DeliveryParty NotifyParty
    Despatch DeliveryTerms MinimumDeliveryUnit MaximumDeliveryUnit Shipment"""
)

CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
# Peppol's Electronic Address Scheme list (PEPPOL-EN16931-CL008): note that it has no "EM" (e-mail).
PEPPOL_EAS = set(
    _words(
        """0002 0007 0009 0037 0060 0088 0096 0097 0106 0130 0135 0142 0147 0151 0154 0158 0170 0177 0183 0184
    0188 0190 0191 0192 0193 0194 0195 0196 0198 0199 0200 0201 0202 0203 0204 0205 0208 0209 0210
    0211 0212 0213 0215 0216 0217 0218 0221 0225 0230 0235 0240 0244 9910 9913 9914 9915 9918 9919
    9920 9922 9923 9924 9925 9926 9927 9928 9929 9930 9931 9932 9933 9934 9935 9936 9937 9938 9939
    9940 9941 9942 9943 9944 9945 9946 9947 9948 9949 9950 9951 9952 9953 9957 9959"""
    )
)
UNCL5189_PEPPOL = set(_words("41 42 60 62 63 64 65 66 67 68 70 71 88 95 100 102 103 104 105"))
UNCL7161 = set(
    _words(
        """AA AAA AAC AAD AAE AAF AAH AAI AAS AAT AAV AAY AAZ ABA ABB ABC ABD ABF ABK ABL ABN ABR ABS ABT ABU
    ACF ACG ACH ACI ACJ ACK ACL ACM ACS ADC ADE ADJ ADK ADL ADM ADN ADO ADP ADQ ADR ADT ADW ADY ADZ
    AEA AEB AEC AED AEF AEH AEI AEJ AEK AEL AEM AEN AEO AEP AES AET AEU AEV AEW AEX AEY AEZ AJ AU CA
    CAB CAD CAE CAF CAI CAJ CAK CAL CAM CAN CAO CAP CAQ CAR CAS CAT CAU CAV CAW CAX CAY CAZ CD CG CS
    CT DAB DAC DAD DAF DAG DAH DAI DAJ DAK DAL DAM DAN DAO DAP DAQ DL EG EP ER FAA FAB FAC FC FH FI
    GAA HAA HD HH IAA IAB ID IF IR IS KO L1 LA LAA LAB LF MAE MI ML NAA OA PA PAA PC PL RAB RAC RAD
    RAF RE RF RH RV SA SAA SAD SAE SAI SG SH SM SU TAB TAC TT TV V1 V2 WH XAA YY ZZZ"""
    )
)
ISO3166 = set(
    _words(
        """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT
    BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG
    EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN
    HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI
    LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC
    NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA
    SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR
    TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW 1A XI EL"""
    )
)
# The CEN EAS list (BR-CL-25) adds e-mail and a few transport schemes to Peppol's.
CEN_EAS = PEPPOL_EAS | {"EM", "AN", "AQ", "AS", "AU", "9901"}
# ISO 3166-1 as EN 16931 has it (BR-CL-14): the Peppol list above without EL, which is only a VAT prefix.
COUNTRIES = ISO3166 - {"EL"}
ISO4217 = set(
    _words(
        """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD
    CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD
    GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR
    LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRO MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP
    PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY
    TTD TWD TZS UAH UGX USD USN UYI UYU UZS VEF VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XDR XOF XPD XPF XPT XSU XTS
    XUA XXX YER ZAR ZMW ZWL"""
    )
)
UNCL4461 = set(
    _words(
        """1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39
    40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63 64 65 66 67 68 70 74 75 76 77 78 91 92 93
    94 95 96 97 ZZZ"""
    )
)
UNCL5305 = set(_words("AE L M E S Z G O K B"))
# VATEX exemption reason codes (BR-CL-22), written as a pattern: the EU articles with their lettered points.
VATEX = re.compile(
    r"VATEX-EU-(79-C|132(-1[A-Q])?|143(-1[A-L])?|148(-[A-G])?|151(-1[A-E])?|309|AE|D|F|G|I|IC|O|J)"
    r"|VATEX-FR-(FRANCHISE|CNWVAT)"
)
# Elements EN 16931 does not use (UBL-CR-*), relative to the root; the ones a mapper could plausibly emit.
FORBIDDEN = {
    "UBL-CR-001": "*[local-name()='UBLExtensions']",
    "UBL-CR-003": "cbc:ProfileExecutionID",
    "UBL-CR-004": "cbc:CopyIndicator",
    "UBL-CR-005": "cbc:UUID",
    "UBL-CR-006": "cbc:IssueTime",
    "UBL-CR-007": "cbc:PricingCurrencyCode",
    "UBL-CR-008": "cbc:PaymentCurrencyCode",
    "UBL-CR-010": "cbc:AccountingCostCode",
    "UBL-CR-011": "cbc:LineCountNumeric",
    "UBL-CR-018": "cac:OrderReference/cbc:IssueDate",
    "UBL-CR-020": "cac:OrderReference/cbc:CustomerReference",
    "UBL-CR-026": "cac:BillingReference/cac:InvoiceDocumentReference/cbc:DocumentTypeCode",
    "UBL-CR-137": "cac:Signature",
    "UBL-CR-193": "cac:AccountingSupplierParty/cac:Party/cac:Person",
    "UBL-CR-257": "cac:AccountingCustomerParty/cac:Party/cac:Person",
    "UBL-CR-264": "cac:AccountingCustomerParty/cac:BuyerContact",
    "UBL-CR-294": "cac:BuyerCustomerParty",
    "UBL-CR-295": "cac:SellerSupplierParty",
    "UBL-CR-346": "cac:Delivery/cbc:ActualDeliveryTime",
    "UBL-CR-357": "cac:Delivery/cac:DeliveryLocation/cbc:Name",
    "UBL-CR-394": "cac:Delivery/cac:DeliveryParty/cac:PostalAddress",
    "UBL-CR-410": "cac:DeliveryTerms",
    "UBL-CR-411": "cac:PaymentMeans/cbc:ID",
    "UBL-CR-463": "cac:PaymentTerms/cbc:PaymentDueDate",
    "UBL-CR-470": "cac:PrepaidPayment",
    "UBL-CR-477": "cac:AllowanceCharge/cac:TaxCategory/cbc:Name",
    "UBL-CR-480": "cac:AllowanceCharge/cac:TaxCategory/cbc:TaxExemptionReasonCode",
    "UBL-CR-481": "cac:AllowanceCharge/cac:TaxCategory/cbc:TaxExemptionReason",
    "UBL-CR-490": "cac:TaxExchangeRate",
    "UBL-CR-494": "cac:TaxTotal/cbc:RoundingAmount",
    "UBL-CR-499": "cac:TaxTotal/cac:TaxSubtotal/cbc:Percent",
    "UBL-CR-504": "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:Name",
    "UBL-CR-513": "cac:WithholdingTaxTotal",
    "UBL-CR-550": "(cac:InvoiceLine|cac:CreditNoteLine)/cac:Delivery",
    "UBL-CR-558": "(cac:InvoiceLine|cac:CreditNoteLine)/cac:AllowanceCharge/cac:TaxCategory",
    "UBL-CR-561": "(cac:InvoiceLine|cac:CreditNoteLine)/cac:TaxTotal",
    "UBL-CR-597": "(cac:InvoiceLine|cac:CreditNoteLine)/cac:Item/cac:ClassifiedTaxCategory/cbc:Name",
    "UBL-CR-600": "(cac:InvoiceLine|cac:CreditNoteLine)/cac:Item/cac:ClassifiedTaxCategory/cbc:TaxExemptionReasonCode",
    "UBL-CR-601": "(cac:InvoiceLine|cac:CreditNoteLine)/cac:Item/cac:ClassifiedTaxCategory/cbc:TaxExemptionReason",
    "UBL-CR-669": "//cac:Price/cac:AllowanceCharge/cbc:AllowanceChargeReasonCode",
    "UBL-CR-670": "//cac:Price/cac:AllowanceCharge/cbc:AllowanceChargeReason",
    "UBL-CR-671": "//cac:Price/cac:AllowanceCharge/cbc:MultiplierFactorNumeric",
}
# Exemption reason code → the only VAT category it may go with (PEPPOL-EN16931-P0104..P0107).
EXEMPTION_CATEGORY = {"VATEX-EU-G": "G", "VATEX-EU-O": "O", "VATEX-EU-IC": "K", "VATEX-EU-AE": "AE"}

_AMOUNT_TAGS = _words(
    """Amount BaseAmount PriceAmount TaxAmount TaxableAmount LineExtensionAmount TaxExclusiveAmount
    TaxInclusiveAmount AllowanceTotalAmount ChargeTotalAmount PrepaidAmount PayableRoundingAmount
    PayableAmount"""
)


def _dec(value: object) -> Decimal:
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return Decimal("NaN")


def _xpath_round2(value: Decimal) -> Decimal:
    """XPath round(x * 100) div 100: half towards +infinity, as the CEN Schematron rounds (BR-CO-17)."""
    return (value * 100 + Decimal("0.5")).to_integral_value(rounding=ROUND_FLOOR) / 100


def _decimals(text: str | None) -> int:
    text = (text or "").strip()
    return len(text.split(".", 1)[1]) if "." in text else 0


class _Doc:
    def __init__(self, root: etree._Element) -> None:
        self.root = root
        self.is_invoice = etree.QName(root).localname == "Invoice"
        self.line_tag = "cac:InvoiceLine" if self.is_invoice else "cac:CreditNoteLine"
        self.quantity_tag = "cbc:InvoicedQuantity" if self.is_invoice else "cbc:CreditedQuantity"

    def all(self, path: str, node: etree._Element | None = None) -> list[etree._Element]:
        return list((node if node is not None else self.root).xpath(path, namespaces=NS))

    def text(self, path: str, node: etree._Element | None = None) -> str:
        found = self.all(path, node)
        return (found[0].text or "").strip() if found else ""

    def has(self, path: str, node: etree._Element | None = None) -> bool:
        return bool(self.all(path, node))

    def amount(self, path: str, node: etree._Element | None = None) -> Decimal:
        text = self.text(path, node)
        return _dec(text) if text else Decimal(0)

    def total_of(self, path: str, node: etree._Element | None = None) -> Decimal:
        return sum((_dec(e.text) for e in self.all(path, node)), Decimal(0))

    @property
    def lines(self) -> list[etree._Element]:
        return self.all(self.line_tag)

    def document_charges(self, charge: bool) -> list[etree._Element]:
        return self.all(f"cac:AllowanceCharge[normalize-space(cbc:ChargeIndicator)='{'true' if charge else 'false'}']")


def check_invoice(xml: bytes, *, ignore: Iterable[str] = ()) -> list[str]:
    """Rule ids the Invoice or CreditNote breaks, sorted; `ignore` drops ids a caller accepts knowingly."""
    root = etree.fromstring(xml)
    doc = _Doc(root)
    broken: set[str] = set()
    checks = (
        _order,
        _mandatory,
        _lines,
        _allowances_charges,
        _totals,
        _vat_breakdown,
        _categories,
        _intra_community_delivery,
        _decimals_rules,
    )
    # A document claims Peppol BIS 3 by its CustomizationID (BT-24); the Peppol rules apply only to such a one.
    peppol = doc.text("cbc:CustomizationID").startswith(CUSTOMIZATION_ID)
    for check in (*checks, _code_lists, _syntax, *((_peppol, _peppol_identifiers) if peppol else ())):
        broken.update(check(doc))
    return sorted(broken - set(ignore))


check_document = check_invoice


def _order(doc: _Doc) -> set[str]:
    parents = [(doc.root, INVOICE_SEQUENCE if doc.is_invoice else CREDIT_NOTE_SEQUENCE)]
    parents += [(delivery, DELIVERY_SEQUENCE) for delivery in doc.all("cac:Delivery")]
    return {"UBL-SEQUENCE"} if any(not _in_sequence(parent, sequence) for parent, sequence in parents) else set()


def _in_sequence(parent: etree._Element, sequence: list[str]) -> bool:
    position = -1
    for child in parent:
        if not isinstance(child.tag, str):
            continue  # comments
        name = etree.QName(child).localname
        if name not in sequence or sequence.index(name) < position:
            return False
        position = sequence.index(name)
    return True


def _mandatory(doc: _Doc) -> set[str]:
    broken = set()
    supplier = "cac:AccountingSupplierParty/cac:Party"
    customer = "cac:AccountingCustomerParty/cac:Party"
    type_code = "cbc:InvoiceTypeCode" if doc.is_invoice else "cbc:CreditNoteTypeCode"
    required = {
        "BR-01": "cbc:CustomizationID",
        "BR-02": "cbc:ID",
        "BR-03": "cbc:IssueDate",
        "BR-04": type_code,
        "BR-05": "cbc:DocumentCurrencyCode",
        "BR-06": f"{supplier}/cac:PartyLegalEntity/cbc:RegistrationName",
        "BR-07": f"{customer}/cac:PartyLegalEntity/cbc:RegistrationName",
        "BR-08": f"{supplier}/cac:PostalAddress",
        "BR-09": f"{supplier}/cac:PostalAddress/cac:Country/cbc:IdentificationCode",
        "BR-10": f"{customer}/cac:PostalAddress",
        "BR-11": f"{customer}/cac:PostalAddress/cac:Country/cbc:IdentificationCode",
        "BR-12": "cac:LegalMonetaryTotal/cbc:LineExtensionAmount",
        "BR-13": "cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount",
        "BR-14": "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount",
        "BR-15": "cac:LegalMonetaryTotal/cbc:PayableAmount",
        "BR-16": doc.line_tag,
    }
    for rule, path in required.items():
        if not doc.text(path) and not (rule in ("BR-08", "BR-10", "BR-16") and doc.has(path)):
            broken.add(rule)
    for rule, party in (("BR-62", supplier), ("BR-63", customer)):
        for endpoint in doc.all(f"{party}/cbc:EndpointID"):
            if not endpoint.get("schemeID"):
                broken.add(rule)
    if doc.has("cac:Delivery/cac:DeliveryLocation/cac:Address") and not doc.text(
        "cac:Delivery/cac:DeliveryLocation/cac:Address/cac:Country/cbc:IdentificationCode"
    ):
        broken.add("BR-57")
    for means in doc.all("cac:PaymentMeans"):
        code = doc.text("cbc:PaymentMeansCode", means)
        if not code:
            broken.add("BR-49")
        if code in ("30", "58") and not doc.text("cac:PayeeFinancialAccount/cbc:ID", means):
            broken.add("BR-61")
    if doc.amount("cac:LegalMonetaryTotal/cbc:PayableAmount") > 0 and not (
        doc.has("cbc:DueDate")
        or doc.has("cac:PaymentMeans/cbc:PaymentDueDate")
        or doc.text("cac:PaymentTerms/cbc:Note")
    ):
        broken.add("BR-CO-25")
    if not (
        doc.text(f"{supplier}/cac:PartyIdentification/cbc:ID")
        or doc.text(f"{supplier}/cac:PartyLegalEntity/cbc:CompanyID")
        or doc.text(f"{supplier}/cac:PartyTaxScheme[cac:TaxScheme/cbc:ID='VAT']/cbc:CompanyID")
    ):
        broken.add("BR-CO-26")
    for vat_id in doc.all("//cac:PartyTaxScheme[cac:TaxScheme/cbc:ID='VAT']/cbc:CompanyID"):
        if (vat_id.text or "").strip()[:2] not in ISO3166:
            broken.add("BR-CO-09")
    return broken


def _lines(doc: _Doc) -> set[str]:
    broken = set()
    for line in doc.lines:
        if not doc.text("cbc:ID", line):
            broken.add("BR-21")
        quantity = doc.all(doc.quantity_tag, line)
        if not quantity:
            broken.add("BR-22")
        elif not quantity[0].get("unitCode"):
            broken.add("BR-23")
        if not doc.text("cbc:LineExtensionAmount", line):
            broken.add("BR-24")
        if not doc.text("cac:Item/cbc:Name", line):
            broken.add("BR-25")
        if not doc.text("cac:Price/cbc:PriceAmount", line):
            broken.add("BR-26")
        elif doc.amount("cac:Price/cbc:PriceAmount", line) < 0:
            broken.add("BR-27")
        if not doc.text("cac:Item/cac:ClassifiedTaxCategory/cbc:ID", line):
            broken.add("BR-CO-04")
        for allowance in doc.all("cac:AllowanceCharge[normalize-space(cbc:ChargeIndicator)='false']", line):
            if not doc.text("cbc:Amount", allowance):
                broken.add("BR-41")
            if not (
                doc.text("cbc:AllowanceChargeReason", allowance) or doc.text("cbc:AllowanceChargeReasonCode", allowance)
            ):
                broken.add("BR-42")
        for charge in doc.all("cac:AllowanceCharge[normalize-space(cbc:ChargeIndicator)='true']", line):
            if not doc.text("cbc:Amount", charge):
                broken.add("BR-43")
            if not (doc.text("cbc:AllowanceChargeReason", charge) or doc.text("cbc:AllowanceChargeReasonCode", charge)):
                broken.add("BR-44")
    return broken


def _allowances_charges(doc: _Doc) -> set[str]:
    broken = set()
    for charge, (amount_rule, category_rule, reason_rule) in (
        (False, ("BR-31", "BR-32", "BR-33")),
        (True, ("BR-36", "BR-37", "BR-38")),
    ):
        for element in doc.document_charges(charge):
            if not doc.text("cbc:Amount", element):
                broken.add(amount_rule)
            if not doc.text("cac:TaxCategory/cbc:ID", element):
                broken.add(category_rule)
            if not (
                doc.text("cbc:AllowanceChargeReason", element) or doc.text("cbc:AllowanceChargeReasonCode", element)
            ):
                broken.add(reason_rule)
    return broken


def _totals(doc: _Doc) -> set[str]:
    broken = set()
    total = "cac:LegalMonetaryTotal/"
    line_sum = doc.total_of(f"{doc.line_tag}/cbc:LineExtensionAmount")
    allowances = doc.total_of("cac:AllowanceCharge[normalize-space(cbc:ChargeIndicator)='false']/cbc:Amount")
    charges = doc.total_of("cac:AllowanceCharge[normalize-space(cbc:ChargeIndicator)='true']/cbc:Amount")
    if doc.amount(f"{total}cbc:LineExtensionAmount") != line_sum:
        broken.add("BR-CO-10")
    if doc.amount(f"{total}cbc:AllowanceTotalAmount") != allowances:
        broken.add("BR-CO-11")
    if doc.amount(f"{total}cbc:ChargeTotalAmount") != charges:
        broken.add("BR-CO-12")
    tax_exclusive = doc.amount(f"{total}cbc:TaxExclusiveAmount")
    if tax_exclusive != doc.amount(f"{total}cbc:LineExtensionAmount") - doc.amount(
        f"{total}cbc:AllowanceTotalAmount"
    ) + doc.amount(f"{total}cbc:ChargeTotalAmount"):
        broken.add("BR-CO-13")
    tax_totals = doc.all("cac:TaxTotal[cac:TaxSubtotal]")
    tax = doc.amount("cbc:TaxAmount", tax_totals[0]) if tax_totals else Decimal(0)
    tax_currency = doc.text("cbc:TaxCurrencyCode")
    # BR-53: with a VAT accounting currency, the VAT total in it (BT-111) is present.
    if tax_currency and not doc.all(f"cac:TaxTotal/cbc:TaxAmount[@currencyID='{tax_currency}']"):
        broken.add("BR-53")
    if tax_totals and tax != doc.total_of("cac:TaxSubtotal/cbc:TaxAmount", tax_totals[0]):
        broken.add("BR-CO-14")
    if doc.amount(f"{total}cbc:TaxInclusiveAmount") != tax_exclusive + tax:
        broken.add("BR-CO-15")
    expected = (
        doc.amount(f"{total}cbc:TaxInclusiveAmount")
        - doc.amount(f"{total}cbc:PrepaidAmount")
        + doc.amount(f"{total}cbc:PayableRoundingAmount")
    )
    if doc.amount(f"{total}cbc:PayableAmount") != expected:
        broken.add("BR-CO-16")
    if not doc.has("cac:TaxTotal/cac:TaxSubtotal"):
        broken.add("BR-CO-18")
    return broken


def _vat_breakdown(doc: _Doc) -> set[str]:
    broken = set()
    for subtotal in doc.all("cac:TaxTotal/cac:TaxSubtotal"):
        if not doc.text("cbc:TaxableAmount", subtotal):
            broken.add("BR-45")
        if not doc.text("cbc:TaxAmount", subtotal):
            broken.add("BR-46")
        code = doc.text("cac:TaxCategory/cbc:ID", subtotal)
        if not code:
            broken.add("BR-47")
        percent = doc.text("cac:TaxCategory/cbc:Percent", subtotal)
        if not percent and code != "O":
            broken.add("BR-48")
        tax = doc.amount("cbc:TaxAmount", subtotal)
        if percent and _dec(percent) != 0:
            if tax != _xpath_round2(doc.amount("cbc:TaxableAmount", subtotal) * _dec(percent) / 100):
                broken.add("BR-CO-17")
        elif tax != 0:
            broken.add("BR-CO-17")
    return broken


def _category_parts(doc: _Doc, code: str) -> tuple[list[etree._Element], list[etree._Element], list[etree._Element]]:
    lines = [line for line in doc.lines if doc.text("cac:Item/cac:ClassifiedTaxCategory/cbc:ID", line) == code]
    allowances = [a for a in doc.document_charges(False) if doc.text("cac:TaxCategory/cbc:ID", a) == code]
    charges = [c for c in doc.document_charges(True) if doc.text("cac:TaxCategory/cbc:ID", c) == code]
    return lines, allowances, charges


def _categories(doc: _Doc) -> set[str]:
    """BR-S-*, BR-Z-*, BR-E-*, BR-AE-*, BR-IC-* (K), BR-G-*, BR-O-* (the -01..-10 family and BR-O-11..14)."""
    broken = set()
    seller_vat = doc.text(
        "cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme[cac:TaxScheme/cbc:ID='VAT']/cbc:CompanyID"
    ) or doc.text("cac:TaxRepresentativeParty/cac:PartyTaxScheme[cac:TaxScheme/cbc:ID='VAT']/cbc:CompanyID")
    seller_tax_registration = doc.text(
        "cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme[cac:TaxScheme/cbc:ID!='VAT']/cbc:CompanyID"
    )
    buyer_vat = doc.text(
        "cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme[cac:TaxScheme/cbc:ID='VAT']/cbc:CompanyID"
    )
    buyer_legal = doc.text("cac:AccountingCustomerParty/cac:Party/cac:PartyLegalEntity/cbc:CompanyID")
    zero_rated = {"Z", "E", "AE", "K", "G"}
    for code in ("S", "Z", "E", "AE", "K", "G", "O"):
        prefix = "BR-IC-" if code == "K" else f"BR-{code}-"
        lines, allowances, charges = _category_parts(doc, code)
        subtotals = [
            s for s in doc.all("cac:TaxTotal/cac:TaxSubtotal") if doc.text("cac:TaxCategory/cbc:ID", s) == code
        ]
        used = bool(lines or allowances or charges)
        # -01: a breakdown for a used category (S: at least one; others: exactly one).
        if used and (not subtotals or (code != "S" and len(subtotals) != 1)):
            broken.add(prefix + "01")
        # -02/-03/-04: seller VAT id (O: must be absent, together with the buyer's).
        for rule, parts in (("02", lines), ("03", allowances), ("04", charges)):
            if not parts:
                continue
            if code == "O":
                if seller_vat or buyer_vat:
                    broken.add(prefix + rule)
            elif code == "K":
                # BR-IC-02..04: the seller's VAT id (a tax registration id is not enough) and the buyer's VAT id (a
                # legal registration id is not enough, unlike AE).
                if not (seller_vat and buyer_vat):
                    broken.add(prefix + rule)
            elif not (seller_vat or seller_tax_registration) or (code == "AE" and not (buyer_vat or buyer_legal)):
                broken.add(prefix + rule)
        # -05/-06/-07: the rate on lines, allowances, charges.
        for rule, parts, path in (
            ("05", lines, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent"),
            ("06", allowances, "cac:TaxCategory/cbc:Percent"),
            ("07", charges, "cac:TaxCategory/cbc:Percent"),
        ):
            for part in parts:
                percent = doc.text(path, part)
                if (
                    (code == "S" and (not percent or _dec(percent) <= 0))
                    or (code in zero_rated and (not percent or _dec(percent) != 0))
                    or (code == "O" and percent)
                ):
                    broken.add(prefix + rule)
        # -08: taxable amount per rate; -09: tax amount; -10: exemption reason.
        for subtotal in subtotals:
            percent = doc.text("cac:TaxCategory/cbc:Percent", subtotal)

            def same_rate(part: etree._Element, path: str, percent: str = percent, code: str = code) -> bool:
                return code == "O" or _dec(doc.text(path, part) or "NaN") == _dec(percent or "NaN")

            base = (
                sum(
                    (doc.amount("cbc:LineExtensionAmount", x) for x in lines
                     if same_rate(x, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent")),
                    Decimal(0),
                )
                + sum((doc.amount("cbc:Amount", x) for x in charges if same_rate(x, "cac:TaxCategory/cbc:Percent")),
                      Decimal(0))
                - sum((doc.amount("cbc:Amount", x) for x in allowances if same_rate(x, "cac:TaxCategory/cbc:Percent")),
                      Decimal(0))
            )  # fmt: skip
            if doc.amount("cbc:TaxableAmount", subtotal) != base:
                broken.add(prefix + "08")
            tax = doc.amount("cbc:TaxAmount", subtotal)
            if code == "S":
                if tax != _xpath_round2(doc.amount("cbc:TaxableAmount", subtotal) * _dec(percent or "0") / 100):
                    broken.add(prefix + "09")
            elif tax != 0:
                broken.add(prefix + "09")
            reason_code = doc.text("cac:TaxCategory/cbc:TaxExemptionReasonCode", subtotal)
            reason = doc.text("cac:TaxCategory/cbc:TaxExemptionReason", subtotal)
            if code in ("S", "Z") and (reason_code or reason):
                broken.add(prefix + "10")
            if code in ("E", "O", "G", "AE", "K") and not (reason_code or reason):
                broken.add(prefix + "10")
            if code == "K" and reason_code and reason_code.upper() != "VATEX-EU-IC":
                broken.add(prefix + "10")
            if code == "AE" and reason_code and reason_code.upper() != "VATEX-EU-AE":
                broken.add(prefix + "10")
            if code == "G" and reason_code and reason_code.upper() != "VATEX-EU-G":
                broken.add(prefix + "10")
    # BR-O-11..14: a document with an O breakdown has nothing else.
    codes_used = {doc.text("cac:TaxCategory/cbc:ID", s) for s in doc.all("cac:TaxTotal/cac:TaxSubtotal")}
    if "O" in codes_used:
        if len(codes_used) > 1:
            broken.add("BR-O-11")
        if any(doc.text("cac:Item/cac:ClassifiedTaxCategory/cbc:ID", line) != "O" for line in doc.lines):
            broken.add("BR-O-12")
        if any(doc.text("cac:TaxCategory/cbc:ID", a) != "O" for a in doc.document_charges(False)):
            broken.add("BR-O-13")
        if any(doc.text("cac:TaxCategory/cbc:ID", c) != "O" for c in doc.document_charges(True)):
            broken.add("BR-O-14")
    return broken


def _intra_community_delivery(doc: _Doc) -> set[str]:
    """BR-IC-11 (actual delivery date or invoicing period) and BR-IC-12 (deliver-to country) for a K breakdown."""
    if not any(doc.text("cac:TaxCategory/cbc:ID", s) == "K" for s in doc.all("cac:TaxTotal/cac:TaxSubtotal")):
        return set()
    broken = set()
    if len(doc.text("cac:Delivery/cbc:ActualDeliveryDate")) <= 1 and not doc.has("cac:InvoicePeriod/*"):
        broken.add("BR-IC-11")
    if len(doc.text("cac:Delivery/cac:DeliveryLocation/cac:Address/cac:Country/cbc:IdentificationCode")) <= 1:
        broken.add("BR-IC-12")
    return broken


def _decimals_rules(doc: _Doc) -> set[str]:
    total = "cac:LegalMonetaryTotal/"
    paths = {
        "BR-DEC-01": ["cac:AllowanceCharge[normalize-space(cbc:ChargeIndicator)='false']/cbc:Amount"],
        "BR-DEC-05": ["cac:AllowanceCharge[normalize-space(cbc:ChargeIndicator)='true']/cbc:Amount"],
        "BR-DEC-09": [f"{total}cbc:LineExtensionAmount"],
        "BR-DEC-10": [f"{total}cbc:AllowanceTotalAmount"],
        "BR-DEC-11": [f"{total}cbc:ChargeTotalAmount"],
        "BR-DEC-12": [f"{total}cbc:TaxExclusiveAmount"],
        "BR-DEC-13": ["cac:TaxTotal/cbc:TaxAmount"],
        "BR-DEC-14": [f"{total}cbc:TaxInclusiveAmount"],
        "BR-DEC-16": [f"{total}cbc:PrepaidAmount"],
        "BR-DEC-17": [f"{total}cbc:PayableRoundingAmount"],
        "BR-DEC-18": [f"{total}cbc:PayableAmount"],
        "BR-DEC-19": ["cac:TaxTotal/cac:TaxSubtotal/cbc:TaxableAmount"],
        "BR-DEC-20": ["cac:TaxTotal/cac:TaxSubtotal/cbc:TaxAmount"],
        "BR-DEC-23": [f"{doc.line_tag}/cbc:LineExtensionAmount"],
        "BR-DEC-24": [f"{doc.line_tag}/cac:AllowanceCharge[normalize-space(cbc:ChargeIndicator)='false']/cbc:Amount"],
        "BR-DEC-27": [f"{doc.line_tag}/cac:AllowanceCharge[normalize-space(cbc:ChargeIndicator)='true']/cbc:Amount"],
    }
    return {
        rule
        for rule, rule_paths in paths.items()
        for path in rule_paths
        for element in doc.all(path)
        if _decimals(element.text) > 2
    }


def _peppol(doc: _Doc) -> set[str]:
    broken = set()
    root = doc.root
    profile = doc.text("cbc:ProfileID")
    if not profile:
        broken.add("PEPPOL-EN16931-R001")
    elif not (profile.startswith("urn:fdc:peppol.eu:2017:poacc:billing:") and profile.endswith(":1.0")):
        broken.add("PEPPOL-EN16931-R007")
    if len(doc.all("cbc:Note")) > 1:
        broken.add("PEPPOL-EN16931-R002")
    if not (doc.text("cbc:BuyerReference") or doc.text("cac:OrderReference/cbc:ID")):
        broken.add("PEPPOL-EN16931-R003")
    if not doc.text("cbc:CustomizationID").startswith(CUSTOMIZATION_ID):
        broken.add("PEPPOL-EN16931-R004")
    if any(not len(e) and not (e.text or "").strip() for e in root.iter() if isinstance(e.tag, str)):
        broken.add("PEPPOL-EN16931-R008")
    if not doc.has("cac:AccountingCustomerParty/cac:Party/cbc:EndpointID"):
        broken.add("PEPPOL-EN16931-R010")
    if not doc.has("cac:AccountingSupplierParty/cac:Party/cbc:EndpointID"):
        broken.add("PEPPOL-EN16931-R020")
    if len(doc.all("cac:TaxTotal[cac:TaxSubtotal]")) != 1:
        broken.add("PEPPOL-EN16931-R053")
    without_breakdown = doc.all("cac:TaxTotal[not(cac:TaxSubtotal)]")
    if len(without_breakdown) != (1 if doc.has("cbc:TaxCurrencyCode") else 0):
        broken.add("PEPPOL-EN16931-R054")
    with_breakdown = doc.all("cac:TaxTotal[cac:TaxSubtotal]/cbc:TaxAmount")
    if without_breakdown and with_breakdown:
        accounting = doc.amount("cbc:TaxAmount", without_breakdown[0])
        document = _dec(with_breakdown[0].text)
        if (accounting < 0) != (document < 0):  # R055: the same operational sign
            broken.add("PEPPOL-EN16931-R055")
    currency = doc.text("cbc:DocumentCurrencyCode")
    for element in root.iter():
        if isinstance(element.tag, str) and etree.QName(element).localname in _AMOUNT_TAGS:
            in_tax_total_without_breakdown = (
                etree.QName(element).localname == "TaxAmount"
                and element.getparent() is not None
                and etree.QName(element.getparent()).localname == "TaxTotal"
                and not doc.has("cac:TaxSubtotal", element.getparent())
            )
            if element.get("currencyID") != currency and not in_tax_total_without_breakdown:
                broken.add("PEPPOL-EN16931-R051")
    for line in doc.lines:
        quantity = doc.amount(doc.quantity_tag, line) if doc.has(doc.quantity_tag, line) else Decimal(1)
        price = doc.amount("cac:Price/cbc:PriceAmount", line)
        base = doc.amount("cac:Price/cbc:BaseQuantity", line) if doc.has("cac:Price/cbc:BaseQuantity", line) else None
        if base is not None and base <= 0:
            broken.add("PEPPOL-EN16931-R121")
        line_allowances = doc.total_of(
            "cac:AllowanceCharge[normalize-space(cbc:ChargeIndicator)='false']/cbc:Amount", line
        )
        line_charges = doc.total_of("cac:AllowanceCharge[normalize-space(cbc:ChargeIndicator)='true']/cbc:Amount", line)
        expected = quantity * (price / (base or 1)) + line_charges - line_allowances
        if abs(doc.amount("cbc:LineExtensionAmount", line) - expected) > Decimal("0.02"):
            broken.add("PEPPOL-EN16931-R120")
    for code in doc.all(
        "//cac:AllowanceCharge[normalize-space(cbc:ChargeIndicator)='false']/cbc:AllowanceChargeReasonCode"
    ):
        if (code.text or "").strip() not in UNCL5189_PEPPOL:
            broken.add("PEPPOL-EN16931-CL002")
    for code in doc.all(
        "//cac:AllowanceCharge[normalize-space(cbc:ChargeIndicator)='true']/cbc:AllowanceChargeReasonCode"
    ):
        if (code.text or "").strip() not in UNCL7161:
            broken.add("PEPPOL-EN16931-CL003")
    for endpoint in doc.all("//cbc:EndpointID[@schemeID]"):
        if endpoint.get("schemeID") not in PEPPOL_EAS:
            broken.add("PEPPOL-EN16931-CL008")
    if doc.is_invoice and doc.text("cbc:InvoiceTypeCode") not in {
        "380",
        "383",
        "386",
        "393",
        "82",
        "80",
        "84",
        "395",
        "575",
        "623",
        "780",
    }:
        broken.add("PEPPOL-EN16931-P0100")
    if not doc.is_invoice and doc.text("cbc:CreditNoteTypeCode") not in {"381", "396", "81", "83", "532"}:
        broken.add("PEPPOL-EN16931-P0101")
    for category in doc.all("//cac:TaxCategory[cbc:TaxExemptionReasonCode]"):
        reason = doc.text("cbc:TaxExemptionReasonCode", category).upper()
        if reason in EXEMPTION_CATEGORY and doc.text("cbc:ID", category) != EXEMPTION_CATEGORY[reason]:
            broken.add({"G": "PEPPOL-EN16931-P0104", "O": "PEPPOL-EN16931-P0105", "K": "PEPPOL-EN16931-P0106",
                        "AE": "PEPPOL-EN16931-P0107"}[EXEMPTION_CATEGORY[reason]])  # fmt: skip
    for date in doc.all("//cbc:IssueDate | //cbc:DueDate | //cbc:TaxPointDate | //cbc:ActualDeliveryDate"):
        text = (date.text or "").strip()
        if len(text) != 10 or text[4] != "-" or text[7] != "-" or not text.replace("-", "").isdigit():
            broken.add("PEPPOL-EN16931-F001")
    return broken


def _code_lists(doc: _Doc) -> set[str]:
    """BR-CL-*: the code lists EN 16931 binds to."""
    broken = set()
    if doc.text("cbc:DocumentCurrencyCode") not in ISO4217:
        broken.add("BR-CL-04")
    if doc.has("cbc:TaxCurrencyCode") and doc.text("cbc:TaxCurrencyCode") not in ISO4217:
        broken.add("BR-CL-05")
    for element in doc.root.iter():
        currency = element.get("currencyID") if isinstance(element.tag, str) else None
        if currency is not None and currency not in ISO4217:
            broken.add("BR-CL-03")
    for code in doc.all("//cac:Country/cbc:IdentificationCode"):
        if (code.text or "").strip() not in COUNTRIES:
            broken.add("BR-CL-14")
    for code in doc.all("cac:PaymentMeans/cbc:PaymentMeansCode"):
        if (code.text or "").strip() not in UNCL4461:
            broken.add("BR-CL-16")
    for rule, path in (("BR-CL-17", "//cac:TaxCategory/cbc:ID"), ("BR-CL-18", "//cac:ClassifiedTaxCategory/cbc:ID")):
        if any((code.text or "").strip() not in UNCL5305 for code in doc.all(path)):
            broken.add(rule)
    for code in doc.all("//cbc:TaxExemptionReasonCode"):
        if not VATEX.fullmatch((code.text or "").strip().upper()):
            broken.add("BR-CL-22")
    for endpoint in doc.all("//cbc:EndpointID[@schemeID]"):
        if endpoint.get("schemeID") not in CEN_EAS:
            broken.add("BR-CL-25")
    return broken


def _syntax(doc: _Doc) -> set[str]:
    """UBL-CR-* (elements EN 16931 does not use), UBL-SR-* (cardinalities) and UBL-DT-* (data types)."""
    broken = {rule for rule, path in FORBIDDEN.items() if doc.has(path)}
    if doc.has("cbc:UBLVersionID") and doc.text("cbc:UBLVersionID") != "2.1":
        broken.add("UBL-CR-002")
    if doc.is_invoice and doc.has("cac:PaymentMeans/cbc:PaymentDueDate"):
        broken.add("UBL-CR-412")
    for element in doc.root.iter():
        if not isinstance(element.tag, str):
            continue
        name = etree.QName(element).localname
        parent = element.getparent()
        in_price = parent is not None and bool(doc.all("ancestor::cac:Price", parent))
        if name.endswith("Amount") and name != "PriceAmount" and not in_price and _decimals(element.text) > 2:
            broken.add("UBL-DT-01")
        if element.get("name") is not None and name != "PaymentMeansCode":
            broken.add("UBL-DT-18")
    for line in doc.lines:
        if len(doc.all("cac:Item/cac:ClassifiedTaxCategory", line)) != 1:
            broken.add("UBL-SR-48")
    if len(doc.all("cbc:Note")) > 1:
        broken.add("UBL-SR-34")
    if len(doc.all("cac:Delivery")) > 1:
        broken.add("UBL-SR-24")
    if len(doc.all("cac:PaymentTerms/cbc:Note")) > 1:
        broken.add("UBL-SR-05")
    if len({doc.text(".", code) for code in doc.all("cac:PaymentMeans/cbc:PaymentMeansCode")}) > 1:
        broken.add("UBL-SR-47")
    return broken


def _peppol_identifiers(doc: _Doc) -> set[str]:
    """Peppol's further transaction rules: allowances and charges (R040-R046), payment (R061), price base quantity
    (R130), tax totals (R054, R005) and the form of the identifiers it checks (PEPPOL-COMMON-R041/R042/R049)."""
    broken = set()
    for element in doc.all(f"cac:AllowanceCharge | {doc.line_tag}/cac:AllowanceCharge"):
        has_factor, has_base = doc.has("cbc:MultiplierFactorNumeric", element), doc.has("cbc:BaseAmount", element)
        if has_factor and not has_base:
            broken.add("PEPPOL-EN16931-R041")
        if has_base and not has_factor:
            broken.add("PEPPOL-EN16931-R042")
        if has_factor and has_base:
            expected = doc.amount("cbc:BaseAmount", element) * doc.amount("cbc:MultiplierFactorNumeric", element) / 100
            if abs(doc.amount("cbc:Amount", element) - expected) > Decimal("0.02"):
                broken.add("PEPPOL-EN16931-R040")
        if doc.text("cbc:ChargeIndicator", element) not in ("true", "false"):
            broken.add("PEPPOL-EN16931-R043")
    for line in doc.lines:
        for allowance in doc.all("cac:Price/cac:AllowanceCharge", line):
            if doc.text("cbc:ChargeIndicator", allowance) != "false":
                broken.add("PEPPOL-EN16931-R044")
            if doc.has("cbc:BaseAmount", allowance) and doc.amount("cac:Price/cbc:PriceAmount", line) != (
                doc.amount("cbc:BaseAmount", allowance) - doc.amount("cbc:Amount", allowance)
            ):
                broken.add("PEPPOL-EN16931-R046")
        base_quantity = doc.all("cac:Price/cbc:BaseQuantity[@unitCode]", line)
        quantity = doc.all(doc.quantity_tag, line)
        if base_quantity and quantity and base_quantity[0].get("unitCode") != quantity[0].get("unitCode"):
            broken.add("PEPPOL-EN16931-R130")
    for means in doc.all("cac:PaymentMeans"):
        if doc.text("cbc:PaymentMeansCode", means) in ("49", "59") and not doc.text("cac:PaymentMandate/cbc:ID", means):
            broken.add("PEPPOL-EN16931-R061")
    if len(doc.all("cac:TaxTotal[not(cac:TaxSubtotal)]")) != (1 if doc.has("cbc:TaxCurrencyCode") else 0):
        broken.add("PEPPOL-EN16931-R054")
    if doc.has("cbc:TaxCurrencyCode") and doc.text("cbc:TaxCurrencyCode") == doc.text("cbc:DocumentCurrencyCode"):
        broken.add("PEPPOL-EN16931-R005")
    for identifier in doc.all("//cbc:EndpointID | //cac:PartyIdentification/cbc:ID | //cbc:CompanyID"):
        scheme, value = identifier.get("schemeID"), (identifier.text or "").strip()
        if scheme == "0184" and not re.fullmatch(r"DK\d{8}", value):
            broken.add("PEPPOL-COMMON-R042")
        if scheme == "0192" and not (re.fullmatch(r"\d{9}", value) and _mod11(value)):
            broken.add("PEPPOL-COMMON-R041")
        if scheme == "0007" and not (re.fullmatch(r"\d{10}", value) and _luhn(value)):
            broken.add("PEPPOL-COMMON-R049")
    return broken


def _mod11(value: str) -> bool:
    """Norwegian organisation number check digit (weights 2..7 from the right), as PEPPOL-COMMON-R041."""
    digits = [int(c) for c in reversed(value[:-1])]
    total = sum(d * (i % 6 + 2) for i, d in enumerate(digits))
    return int(value) > 0 and (11 - total % 11) % 11 == int(value[-1])


def _luhn(value: str) -> bool:
    """Swedish organisation number check digit over its first nine digits, as PEPPOL-COMMON-R049."""
    total = 0
    for position, char in enumerate(reversed(value[:9]), start=1):
        digit = int(char) * 2 if position % 2 else int(char)
        total += digit // 10 + digit % 10
    return (10 - total % 10) % 10 == int(value[9])
