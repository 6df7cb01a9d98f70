"""Seller, buyer and deliver-to of a UBL document: who they are, their VAT ids and Peppol electronic addresses.

Pure functions over the order and the store's seller settings; what the validators would refuse and the order
cannot fix is a PermanentError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from shared.domain.order import Address, Order
from shared.errors import PermanentError
from shared.stores import Seller
from shared.targets.ubl import codes
from shared.targets.ubl.codes import clean_text


@dataclass(frozen=True)
class Buyer:
    name: str
    address: Address
    country: str
    vat_id: str  # with country prefix, "" when unknown
    email: str
    peppol_id: tuple[str, str] | None = None  # (EAS scheme, identifier) set for this customer in the store


# Order.meta keys (order meta / note attributes) that carry a customer's Peppol address as "<EAS>:<identifier>",
# e.g. "0088:5798000000001" (a GLN) or "0192:987654321" (a Norwegian organisation number).
PEPPOL_ID_META_KEYS = ("peppol_id", "_peppol_id", "peppol_endpoint", "_peppol_endpoint")


def peppol_id(order: Order) -> tuple[str, str] | None:
    """The Peppol address set for the customer, when its scheme is one Peppol accepts; else None."""
    for key in PEPPOL_ID_META_KEYS:
        scheme, _, identifier = order.meta.get(key, "").strip().partition(":")
        if scheme.strip() in codes.PEPPOL_EAS and clean_text(identifier).strip():
            return scheme.strip(), clean_text(identifier).strip()
    return None


@dataclass(frozen=True)
class Delivery:
    """The Delivery group (BG-13/BG-15): where the goods went, and for an intra-community supply when."""

    address: Address
    country: str
    actual_date: date | None
    party_name: str


def require_seller(seller: Seller | None) -> Seller:
    if seller is None:
        raise PermanentError("seller_missing")
    if codes.country(seller.country) != seller.country:
        raise PermanentError("seller_country_invalid", {"country": seller.country})
    return seller


def buyer(order: Order) -> Buyer:
    customer = order.customer
    address = customer.billing if customer.billing.country else customer.shipping
    if not address.country:
        raise PermanentError("buyer_country_missing")
    country = codes.country(address.country)
    if not country:
        raise PermanentError("buyer_country_invalid", {"country": address.country})
    name = next(
        (
            clean_text(n)
            for n in (address.company, address.name, customer.name, customer.shipping.name)
            if clean_text(n)
        ),
        "",
    )
    if not name:
        raise PermanentError("buyer_name_missing")
    email = customer.email or address.email
    return Buyer(
        name=name,
        address=address,
        country=country,
        vat_id=vat_id(customer.tax_id, country),
        email=email,
        peppol_id=peppol_id(order),
    )


def vat_id(raw: str, country: str) -> str:
    """Compact a VAT id and give it the country prefix BR-CO-09 asks for when the buyer typed it without one."""
    compact = clean_text(re.sub(r"[\s.\-/]", "", raw).upper())
    if not compact:
        return ""
    prefixes = codes.EU_MEMBER_STATES | {"EL", "XI", country, codes.vat_prefix(country)}
    if not (compact[:2].isalpha() and compact[:2] in prefixes):
        compact = codes.vat_prefix(country) + compact
    # BR-CO-09: the prefix must be an ISO 3166-1 code (EL for Greece); a country without one (Kosovo, 1A) shows none.
    prefix = compact[:2]
    return compact if prefix.isalpha() and (prefix in codes.COUNTRIES or prefix == "EL") else ""


def vat_endpoint(vat: str) -> tuple[str, str] | None:
    """The Peppol address (EAS scheme, identifier) a VAT number gives, if its country has one in the EAS list.
    Where Peppol checks the identifier's form, the VAT number is cut to it: Sweden's organisation number (0007,
    PEPPOL-COMMON-R049) is digits 3-12 of its VAT number, Norway's (0192, R041) digits 3-11, Denmark's CVR (0184,
    R042) is "DK" + 8 digits."""
    if re.fullmatch(r"SE\d{10}01", vat):
        return "0007", vat[2:12]
    if re.fullmatch(r"NO\d{9}(MVA)?", vat):
        return "0192", vat[2:11]
    if vat[:2] == "DK" and not re.fullmatch(r"DK\d{8}", vat):
        return None
    scheme = codes.VAT_ENDPOINT_SCHEMES.get("GR" if vat[:2] == "EL" else vat[:2], "")
    return (scheme, vat) if scheme else None


def seller_endpoint(seller: Seller) -> tuple[str, str]:
    if seller.endpoint_id.strip() and seller.endpoint_scheme.strip():
        return seller.endpoint_scheme.strip(), seller.endpoint_id.strip()
    from_vat = vat_endpoint(vat_id(seller.vat_id, seller.country))
    if from_vat is not None:
        return from_vat
    if seller.email:
        return codes.EMAIL_SCHEME, seller.email
    raise PermanentError("seller_endpoint_missing")


def buyer_endpoint(buyer: Buyer, show_vat: bool) -> tuple[str, str] | None:
    """The buyer's electronic address (BT-49): the one set for the customer, else its VAT id under its country's
    scheme, else its e-mail ("EM", which only plain EN 16931 accepts), else none."""
    if buyer.peppol_id is not None:
        return buyer.peppol_id
    from_vat = vat_endpoint(buyer.vat_id) if show_vat and buyer.vat_id else None
    if from_vat is not None:
        return from_vat
    if clean_text(buyer.email):
        return codes.EMAIL_SCHEME, clean_text(buyer.email)
    return None


def delivery_date(order: Order) -> date:
    """The actual delivery date (BT-72) shown for an intra-community supply. Store orders carry no shipping date;
    the day the order was paid (else created), in UTC, is the nearest fact the order has."""
    return (order.paid_at or order.created_at).date()


def _deliver_to(order: Order, intra_community: bool) -> Address:
    """The deliver-to address: the shipping address; for an intra-community supply, which must name the country
    the goods went to (BR-IC-12), the billing address when the store sent no shipping country."""
    shipping = order.customer.shipping
    if intra_community and not shipping.country.strip():
        return order.customer.billing
    return shipping


def _check_dispatch(address: Address, country: str, seller: Seller) -> None:
    """An intra-community supply exempts goods sent to another member state (Art. 138 Directive 2006/112/EC); an
    invoice that says K for goods staying in the seller's country or leaving the EU would be wrong in law."""
    if not country:
        raise PermanentError("delivery_country_invalid", {"country": address.country})
    if country == seller.country or country not in codes.EU_MEMBER_STATES:
        raise PermanentError("intra_community_not_dispatched", {"country": country, "seller_country": seller.country})


def delivery(order: Order, seller: Seller, intra_community: bool) -> Delivery | None:
    """The deliver-to group, or None when there is no valid delivery country (BR-57 / BR-CL-14: the group is
    optional). An intra-community supply must show it, with a country in another member state."""
    address = _deliver_to(order, intra_community)
    country = codes.country(address.country)
    if intra_community:
        _check_dispatch(address, country, seller)
    elif not country:
        return None
    return Delivery(
        address=address,
        country=country,
        actual_date=delivery_date(order) if intra_community else None,
        party_name=clean_text(address.company) or clean_text(address.name),
    )


def on_peppol(seller_address: tuple[str, str], buyer_address: tuple[str, str] | None) -> bool:
    """A document is a Peppol BIS 3 one only when both parties have an address Peppol accepts (CL008, R010,
    R020); otherwise it is a plain EN 16931 invoice, for the archive or e-mail."""
    return buyer_address is not None and buyer_address[0] in codes.PEPPOL_EAS and seller_address[0] in codes.PEPPOL_EAS
