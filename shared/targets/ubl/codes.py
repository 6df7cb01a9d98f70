"""Code lists the UBL mapper needs: UBL/Peppol identifiers, VAT categories, EU membership, Peppol EAS schemes.

Values are facts from the Peppol BIS Billing 3.0 code lists (EAS, UNCL5305, UNCL5189, UNCL7161, VATEX) and
ISO 3166-1; only the subset this service emits is listed.
"""

from __future__ import annotations

from typing import Final

from shared.domain.rules.settings import EU_COUNTRIES

CUSTOMIZATION_ID: Final = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE_ID: Final = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
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

# EAS "EM" (e-mail) is in the CEN EAS list (BR-CL-25) but not in Peppol's (CL008); see mapper docstring.
EMAIL_SCHEME: Final = "EM"


def vat_prefix(country: str) -> str:
    """The VAT-number prefix of a country: ISO 3166-1 alpha-2, except Greece which uses EL (BR-CO-09)."""
    return "EL" if country == "GR" else country
