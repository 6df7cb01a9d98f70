"""Customers: the Tryton party of an order's customer, found by the store's customer_match setting or created
once (one party per new customer, under a per-process lock)."""

from __future__ import annotations

import logging
import re
from typing import Any

from stdnum.eu import vat as eu_vat

from shared.domain.order import Order
from shared.targets.tryton.base import TrytonBase
from shared.targets.tryton.locks import KeyedLocks

log = logging.getLogger(__name__)

# New customers are created under these locks (per ERP database and customer key, in this process), so two
# orders of one new customer handled at once make one party. Other processes or instances are not covered.
CUSTOMER_LOCKS = KeyedLocks()


class Customers(TrytonBase):
    def _party(self, order: Order) -> tuple[int, int | None]:
        """Find or create the customer per the store's customer_match setting; returns (party, address).

        A customer not found is created under this process's lock for its keys (tax id, e-mail) and looked up
        again once the lock is held: the order that waited finds the party the other one just made.
        """
        customer = order.customer
        email = (customer.email or customer.billing.email).strip()
        tax_id = _compact_tax_id(customer.tax_id)
        party_id = self._find_party(email, tax_id)
        if party_id is None:
            keys = self._customer_keys(email, tax_id)
            with CUSTOMER_LOCKS.hold(*keys):
                party_id = self._find_party(email, tax_id) if keys else None
                if party_id is None:
                    party_id = self._create_party(order, email, tax_id)
        addresses = self.rpc.search_read("party.address", [("party", "=", party_id)], ["id"], order=[("id", "ASC")])
        return int(party_id), (int(addresses[0]["id"]) if addresses else None)

    def _find_party(self, email: str, tax_id: str) -> int | None:
        strategy = self.settings.customer_match
        if strategy == "tax_id_then_email" and tax_id:
            found = self.rpc.search_read("party.identifier", [("code", "=", tax_id)], ["party"], limit=1)
            if found:
                return int(found[0]["party"])
        if strategy in ("tax_id_then_email", "email") and email:
            found = self.rpc.search_read(
                "party.contact_mechanism", [("type", "=", "email"), ("value", "ilike", email)], ["party"], limit=1
            )
            if found:
                return int(found[0]["party"])
        return None

    def _customer_keys(self, email: str, tax_id: str) -> list[tuple[str, str, str]]:
        """The lock keys a new customer is created under: whatever the lookup matches on, per ERP database
        (stores sharing one Tryton share its parties). None under always_create: every order gets its own party."""
        erp = f"{self.settings.url.rstrip('/')}/{self.settings.database}"
        strategy = self.settings.customer_match
        keys = []
        if strategy == "tax_id_then_email" and tax_id:
            keys.append((erp, "tax_id", tax_id))
        if strategy in ("tax_id_then_email", "email") and email:
            keys.append((erp, "email", email.casefold()))
        return keys

    def _create_party(self, order: Order, email: str, tax_id: str) -> int:
        customer = order.customer
        billing = customer.billing
        name = customer.name or billing.company or billing.name or f"Customer of order {order.number}"
        values: dict[str, Any] = {
            "name": name,
            "addresses": [
                (
                    "create",
                    [
                        {
                            "party_name": billing.company or "",
                            "street": "\n".join(p for p in (billing.line1, billing.line2) if p),
                            "postal_code": billing.postal_code,
                            "city": billing.city,
                        }
                    ],
                )
            ],
        }
        if email:
            values["contact_mechanisms"] = [("create", [{"type": "email", "value": email}])]
        if tax_id:
            kind = "eu_vat" if eu_vat.is_valid(tax_id) else None
            values["identifiers"] = [("create", [{"type": kind, "code": tax_id}])]
        # After an uncertain create (a timeout on a busy ERP) the party is looked up by the keys it was created
        # with, so a committed create is not made twice; under always_create there are no keys to look up by.
        has_keys = bool(self._customer_keys(email, tax_id))
        (party_id,) = self._create_once(
            "party.party", values, lambda: self._find_party(email, tax_id) if has_keys else None
        )
        log.info("tryton: created customer party %s for order %s (store %s)", party_id, order.order_id, order.store_id)
        return party_id


def _compact_tax_id(value: str) -> str:
    if not value:
        return ""
    try:
        return str(eu_vat.compact(value))
    except Exception:  # not an EU VAT number: keep letters and digits only
        return re.sub(r"[^0-9A-Za-z]", "", value).upper()
