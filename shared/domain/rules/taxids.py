"""Customer tax ids: which python-stdnum module checks which country, and where an order carries the id.

Used by validation before invoicing; pure (no VIES or SAT look-ups, those need the network).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import import_module
from types import ModuleType

from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError

from shared import texts
from shared.domain.order import Order
from shared.domain.rules.settings import EU_COUNTRIES

# The one list of schemes: country → python-stdnum modules tried in order; the first that accepts wins.
SCHEMES: dict[str, tuple[str, ...]] = {
    "ES": ("es.nif", "es.cif", "es.nie"),  # es.nif covers DNI, NIE, CIF and the K/L/M numbers
    "PT": ("pt.nif",),
    "FR": ("fr.tva", "fr.siren"),  # VAT number, or the SIREN of a company without one
    "DE": ("de.vat",),
    "IT": ("it.iva", "it.codicefiscale"),  # Partita IVA; codice fiscale for a private buyer
    "MX": ("mx.rfc",),
    "CL": ("cl.rut",),
    "AR": ("ar.cuit",),
    "CO": ("co.nit",),
    "PE": ("pe.ruc",),
}
EU_VAT = "eu.vat"  # any id written with an EU VAT prefix (ESB…, FR…, EL…, ATU…), and other EU countries

# SAT's generic RFCs for CFDI: XAXX010101000 = sale to the general public (no RFC given),
# XEXX010101000 = foreign buyer. Valid on an invoice although they identify nobody.
MX_GENERIC_RFCS = frozenset({"XAXX010101000", "XEXX010101000"})

# Order.meta keys read for a tax id when Customer.tax_id is empty, in this order. Keys are compared after
# lower-casing, dropping leading underscores and turning spaces and dashes into underscores, so
# "_billing_vat_number", "VAT Number" and "vat-number" all match "vat_number"-style entries.
TAX_ID_META_KEYS: tuple[str, ...] = (
    "billing_vat_number",  # WooCommerce EU VAT Number (newer versions), WCPOS default
    "vat_number",  # WooCommerce EU VAT Number (older versions), Shopify note attribute "VAT number"
    "billing_eu_vat_number",
    "oss_vat_number",  # EU VAT OSS plugin
    "billing_vat",
    "vat_id",
    "vat",
    "billing_nif",  # Spanish/Portuguese checkout plugins ("NIF/CIF Spain" and similar)
    "nif",
    "billing_cif",
    "cif",
    "nif_cif",
    "billing_dni",
    "dni",
    "billing_rfc",  # Mexico
    "rfc",
    "billing_rut",  # Chile
    "rut",
    "billing_cuit",  # Argentina
    "cuit",
    "billing_nit",  # Colombia
    "nit",
    "billing_ruc",  # Peru
    "ruc",
    "billing_tax_id",
    "tax_id",  # Shopify note attribute "Tax ID"
    "tax_number",
)

# Why an id is not valid, as catalog keys (the sentence is rendered in the reader's language).
_REASONS: dict[type[ValidationError], str] = {
    InvalidChecksum: "word.tax_id_check_digit",
    InvalidLength: "word.tax_id_length",
    InvalidFormat: "word.tax_id_format",
    InvalidComponent: "word.tax_id_component",
}
_UNKNOWN_REASON = "word.tax_id_invalid"


@dataclass(frozen=True)
class TaxIdResult:
    """The verdict on one tax id. `scheme` is "" when no check exists for the country (valid is then True)."""

    valid: bool
    compact: str
    scheme: str
    reason_text: str = ""  # why, as a catalog key ("word.tax_id_length")

    @property
    def checked(self) -> bool:
        return bool(self.scheme)

    @property
    def reason(self) -> str:
        """Why, in English (for settings errors and logs)."""
        return texts.render(self.reason_text) if self.reason_text else ""


def _module(name: str) -> ModuleType:
    return import_module(f"stdnum.{name}")


def _reason(error: ValidationError) -> str:
    for kind, reason in _REASONS.items():
        if isinstance(error, kind):
            return reason
    return _UNKNOWN_REASON


def _eu_prefix(number: str) -> str:
    """The EU VAT country prefix the buyer wrote, if any ("EL" for Greece)."""
    prefix = number[:2].upper()
    if len(number) > 2 and (prefix in EU_COUNTRIES or prefix == "EL"):
        return prefix
    return ""


def scheme_countries() -> tuple[str, ...]:
    return tuple(sorted(SCHEMES))


def check_tax_id(tax_id: str, country: str) -> TaxIdResult:
    """Check a buyer's tax id for the buyer's country (ISO alpha-2; "" when unknown).

    An id written with an EU VAT prefix is checked as an EU VAT number (eu.vat) when the country is in the
    EU or unknown; other EU countries without a national scheme here use eu.vat with their prefix added.
    Mexico accepts SAT's generic RFCs. Never raises.
    """
    raw = (tax_id or "").strip()
    country = (country or "").strip().upper()
    if country == "EL":
        country = "GR"
    if not raw:
        return TaxIdResult(False, "", "", "word.tax_id_empty")
    cleaned = re.sub(r"[\s.\-/]", "", raw).upper()

    if country == "MX" and cleaned in MX_GENERIC_RFCS:
        return TaxIdResult(True, cleaned, "mx.rfc")

    # (module, number as given to it): an EU-prefixed id is tried as EU VAT first, then nationally, because a
    # national id may start with letters that look like a prefix (an Italian codice fiscale "DELMRA…").
    candidates: list[tuple[str, str]] = []
    prefix = _eu_prefix(cleaned)
    if prefix and (country in EU_COUNTRIES or not country):
        candidates.append((EU_VAT, raw))
    if country in SCHEMES:
        candidates.extend((name, raw) for name in SCHEMES[country])
    elif country in EU_COUNTRIES and not prefix:
        candidates.append((EU_VAT, ("EL" if country == "GR" else country) + cleaned))
    if not candidates:
        return TaxIdResult(True, cleaned, "", "word.tax_id_no_check")

    first_error: str | None = None
    for name, number in candidates:
        try:
            compact = str(_module(name).validate(number))
        except ValidationError as error:
            first_error = first_error or _reason(error)
            continue
        except Exception:  # a stdnum bug on odd input must not crash a worker
            first_error = first_error or _UNKNOWN_REASON
            continue
        return TaxIdResult(True, compact, name)
    return TaxIdResult(False, cleaned, candidates[0][0], first_error or _UNKNOWN_REASON)


def _normalise_key(key: str) -> str:
    return re.sub(r"[\s\-]+", "_", key.strip().lower()).lstrip("_")


def find_tax_id(order: Order, extra_meta_keys: tuple[str, ...] = ()) -> tuple[str, str]:
    """(tax id, field it came from): Customer.tax_id first, then the documented Order.meta keys."""
    if order.customer.tax_id.strip():
        return order.customer.tax_id.strip(), "customer.tax_id"
    by_key = {_normalise_key(k): k for k, v in order.meta.items() if str(v).strip()}
    for wanted in (*extra_meta_keys, *TAX_ID_META_KEYS):
        original = by_key.get(_normalise_key(wanted))
        if original is not None:
            return order.meta[original].strip(), f"meta.{original}"
    return "", ""
