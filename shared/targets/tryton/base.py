"""What every part of the Tryton target shares: the JSON-RPC client, the store's settings, the ERP ids it
looks up once per target (taxes, currency, warehouse, products) and creation that survives an unknown outcome."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from shared.errors import PermanentError, RetryableError
from shared.stores import StoreSettings, TrytonSettings
from shared.targets.tryton.rpc import TrytonRpc, UncertainOutcome

PAYMENT_TERM = "Immediate"


class TrytonBase:
    """The state of one TrytonTarget; TrytonTarget.__init__ sets it."""

    name: str
    store: StoreSettings
    settings: TrytonSettings
    rpc: TrytonRpc
    invoice_wait_seconds: float
    _item_codes: Callable[[], Mapping[str, str]]
    _catalogue: dict[str, Any]

    def _cached(self, key: str) -> Any:
        if key not in self._catalogue:
            self._catalogue[key] = getattr(self, f"_load_{key}")()
        return self._catalogue[key]

    def _load_taxes(self) -> dict[Decimal, int]:
        taxes: dict[Decimal, int] = {}
        for tax in self.rpc.search_read(
            "account.tax", [("type", "=", "percentage"), ("parent", "=", None)], ["rate"], order=[("id", "ASC")]
        ):
            rate = (Decimal(tax["rate"]) * 100).normalize()
            taxes.setdefault(rate if rate else Decimal(0), tax["id"])
        return taxes

    def _load_currency(self) -> int:
        found = self.rpc.search_read("currency.currency", [("code", "=", self.store.currency)], ["id"], limit=1)
        if not found:
            raise PermanentError("erp_refused", {"currency": self.store.currency}, text="error.erp_no_currency")
        return int(found[0]["id"])

    def _load_payment_term(self) -> int | None:
        found = self.rpc.search_read("account.invoice.payment_term", [("name", "=", PAYMENT_TERM)], ["id"], limit=1)
        return int(found[0]["id"]) if found else None

    def _load_warehouse(self) -> dict[str, Any]:
        found = self.rpc.search_read(
            "stock.location", [("type", "=", "warehouse")], ["id", "storage_location"], order=[("id", "ASC")], limit=1
        )
        if not found:
            raise PermanentError("erp_refused", text="error.erp_no_warehouse")
        return found[0]

    def _load_payment_method(self) -> int:
        found = self.rpc.search_read("account.invoice.payment.method", [], ["id"], order=[("id", "ASC")], limit=1)
        if not found:
            # The text names Tryton's menu path as its English client labels it; a Spanish client shows it translated.
            raise PermanentError("erp_refused", text="error.erp_no_payment_method")
        return int(found[0]["id"])

    def _products(self, codes: set[str]) -> dict[str, tuple[int, int]]:
        known: dict[str, tuple[int, int]] = self._catalogue.setdefault("products", {})
        wanted = sorted(code for code in codes if code and code not in known)
        if wanted:
            for product in self.rpc.search_read("product.product", [("code", "in", wanted)], ["code", "default_uom"]):
                known[product["code"]] = (int(product["id"]), int(product["default_uom"]))
        return known

    def _create_once(self, model: str, values: dict[str, Any], lookup: Any) -> list[int]:
        """Create after an uncertain outcome only if our reference is still not there (the ERP may have committed)."""
        for _ in range(2):
            try:
                return self.rpc.create(model, [values])
            except UncertainOutcome:
                existing = lookup()
                if existing is not None:
                    return [existing]
        raise RetryableError(f"Tryton {model} create: outcome unknown twice")
