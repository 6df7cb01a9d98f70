"""Code lists the UBL mapper needs: UBL/Peppol identifiers, VAT categories, EU membership, Peppol EAS schemes;
and what text and country codes a document may hold.

Values are facts from the Peppol BIS Billing 3.0 code lists (EAS, UNCL5305, UNCL5189, UNCL7161, VATEX) and
ISO 3166-1; only the subset this service emits is listed.
"""

from __future__ import annotations

import re
from typing import Final

from shared.domain.rules.settings import EU_COUNTRIES


def _code_list(words: str) -> frozenset[str]:
    return frozenset(words.split())


CUSTOMIZATION_ID: Final = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE_ID: Final = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
# A document for a buyer without a Peppol address claims only the European standard itself (BT-24), no profile.
EN16931_CUSTOMIZATION_ID: Final = "urn:cen.eu:en16931:2017"
# Peppol's Electronic Address Scheme list (PEPPOL-EN16931-CL008); unlike the CEN list it has no "EM" (e-mail).
PEPPOL_EAS: Final = _code_list(
    """0002 0007 0009 0037 0060 0088 0096 0097 0106 0130 0135 0142 0147 0151 0154 0158 0170 0177 0183 0184
    0188 0190 0191 0192 0193 0194 0195 0196 0198 0199 0200 0201 0202 0203 0204 0205 0208 0209 0210
    0211 0212 0213 0215 0216 0217 0218 0221 0225 0230 0235 0240 0244 9910 9913 9914 9915 9918 9919
    9920 9922 9923 9924 9925 9926 9927 9928 9929 9930 9931 9932 9933 9934 9935 9936 9937 9938 9939
    9940 9941 9942 9943 9944 9945 9946 9947 9948 9949 9950 9951 9952 9953 9957 9959"""
)
INVOICE_TYPE_CODE: Final = "380"  # commercial invoice
CREDIT_NOTE_TYPE_CODE: Final = "381"  # credit note

NS_INVOICE: Final = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
NS_CREDIT_NOTE: Final = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
NS_CAC: Final = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
NS_CBC: Final = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"

# UN/ECE Recommendation 20 units: H87 "piece" for goods, C62 "one" for amount-only lines.
UNIT_PIECE: Final = "H87"
UNIT_ONE: Final = "C62"

# UNCL7161 (charges) and UNCL5189 (allowances, Peppol subset) reason codes.
CHARGE_FREIGHT: Final = "FC"  # freight service
CHARGE_MISCELLANEOUS: Final = "ABK"  # miscellaneous
ALLOWANCE_DISCOUNT: Final = "95"  # discount

# VAT categories (UNCL5305) with the exemption reason each one needs in the VAT breakdown (BR-x-10).
# (VATEX code or "", reason text or ""); S and Z must carry no reason (BR-S-10, BR-Z-10).
EXEMPTION_REASONS: Final[dict[str, tuple[str, str]]] = {
    "S": ("", ""),
    "Z": ("", ""),
    "AE": ("VATEX-EU-AE", "Reverse charge"),
    # Goods sent to a VAT-registered buyer in another member state: exempt under Art. 138 of Directive 2006/112/EC.
    "K": ("VATEX-EU-IC", "Intra-community supply"),
    "G": ("VATEX-EU-G", "Export outside the EU"),
    "O": ("VATEX-EU-O", "Not subject to VAT"),
    # E has many legal bases (VATEX-EU-132-…); the store settings do not say which, so a text only.
    "E": ("", "Exempt from VAT"),
}

# One list of EU member states for the whole service (VAT categories here, tax ids in the rules).
EU_MEMBER_STATES: Final = EU_COUNTRIES

# Peppol Electronic Address Scheme for a party's VAT number, by country. Only schemes in the Peppol EAS list
# (PEPPOL-EN16931-CL008) are used: Denmark is addressed by CVR (0184, "DK" + 8 digits is a valid value),
# Italy by partita IVA (0211), Finland by its VAT scheme (0213). Sweden has no VAT scheme in Peppol.
VAT_ENDPOINT_SCHEMES: Final[dict[str, str]] = {
    "AD": "9922",
    "AL": "9923",
    "AT": "9914",
    "BA": "9924",
    "BE": "9925",
    "BG": "9926",
    "CH": "9927",
    "CY": "9928",
    "CZ": "9929",
    "DE": "9930",
    "DK": "0184",
    "EE": "9931",
    "ES": "9920",
    "FI": "0213",
    "FR": "9957",
    "GB": "9932",
    "GR": "9933",
    "HR": "9934",
    "HU": "9910",
    "IE": "9935",
    "IT": "0211",
    "LI": "9936",
    "LT": "9937",
    "LU": "9938",
    "LV": "9939",
    "MC": "9940",
    "ME": "9941",
    "MK": "9942",
    "MT": "9943",
    "NL": "9944",
    "PL": "9945",
    "PT": "9946",
    "RO": "9947",
    "RS": "9948",
    "SI": "9949",
    "SK": "9950",
    "SM": "9951",
    "TR": "9952",
    "VA": "9953",
}

# ISO 3166-1 alpha-2 as the EN 16931 code list has it (BR-CL-14), with 1A for Kosovo and XI for Northern Ireland.
COUNTRIES: Final = _code_list(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
    CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR
    GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO
    JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR
    MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO
    RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV
    TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW 1A XI"""
)
# Codes stores send that are not ISO 3166-1: Shopify and WooCommerce use the user-assigned XK for Kosovo, which the
# EN 16931 list spells 1A; "UK" is a common hand-typed United Kingdom.
COUNTRY_ALIASES: Final[dict[str, str]] = {"XK": "1A", "UK": "GB"}

# ISO 4217 alpha-3 as the Peppol list has it (BR-CL-03/04, PEPPOL-EN16931-CL007).
CURRENCIES: Final = _code_list(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD CDF
    CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF
    GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD
    LSL LYD MAD MDL MGA MKD MMK MNT MOP MRO MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR
    PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD
    TWD TZS UAH UGX USD USN UYI UYU UZS VEF VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XDR XOF XPD XPF XPT XSU XTS XUA
    XXX YER ZAR ZMW ZWL"""
)

# UNCL4461 payment means codes the EN 16931 list accepts (BR-CL-16).
PAYMENT_MEANS: Final = _code_list(
    """1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40
    41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63 64 65 66 67 68 70 74 75 76 77 78 91 92 93 94
    95 96 97 ZZZ"""
)
# Direct debit needs the mandate reference (PEPPOL-EN16931-R061), which no store order carries.
DIRECT_DEBIT: Final = frozenset({"49", "59"})

# EAS "EM" (e-mail) is in the CEN EAS list (BR-CL-25) but not in Peppol's (CL008); see mapper docstring.
EMAIL_SCHEME: Final = "EM"


def vat_prefix(country: str) -> str:
    """The VAT-number prefix of a country: ISO 3166-1 alpha-2, except Greece which uses EL (BR-CO-09)."""
    return "EL" if country == "GR" else country


# Characters XML 1.0 cannot carry (control characters, lone surrogates, U+FFFE/U+FFFF). Stores pass them through
# from pasted product names and addresses; lxml refuses them, so they are dropped rather than failing the order.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean_text(text: str) -> str:
    """The text without characters XML 1.0 cannot carry, trimmed: what the document holds."""
    return _NOT_XML.sub("", text).strip()


def country(code: str) -> str:
    """The EN 16931 country code (BR-CL-14) for what the store sent, "" when it is not one."""
    code = code.strip().upper()
    code = COUNTRY_ALIASES.get(code, code)
    return code if code in COUNTRIES else ""
