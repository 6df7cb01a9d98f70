"""Tryton target: a store order becomes a Tryton sale, its posted invoice, its shipment and its payment.

Called by the invoicing, stock and payment stages through shared.ports.Target plus record_payment, ship_order,
cancel_order and stock_levels. Every write is found by our reference before it is made again, so a redelivery,
a replay or a timeout after the ERP committed never makes a second sale, invoice, credit note or payment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shared.domain.rules.mapping import ItemCodes
from shared.ports import AssignsNumbers, CancelsOrders, ListsInvoices, RecordsPayments, ReportsStock, Ships
from shared.stores import StoreSettings
from shared.targets.tryton.credit_notes import CreditNotes
from shared.targets.tryton.payments import Payments
from shared.targets.tryton.rpc import TrytonRpc


# The concerns first: the capability protocols only declare methods and must not shadow an implementation.
class TrytonTarget(
    CreditNotes, Payments, AssignsNumbers, Ships, RecordsPayments, CancelsOrders, ListsInvoices, ReportsStock
):
    """shared.ports.Target for Tryton 8.2 (sale, account_invoice, stock, account_product modules).

    Raises PermanentError (the order goes to `held` with the ERP's message) for a functional refusal, an unmapped
    product or tax, or totals that differ from the store's; RetryableError for passing faults. All methods are
    idempotent. Amounts in DocumentRef are in the order currency, positive for invoices and credit notes alike.
    """

    name = "tryton"
    assigns_numbers = True  # Tryton numbers invoices from its fiscal-year sequences; our series is not used

    def __init__(
        self,
        store: StoreSettings,
        rpc: TrytonRpc | None = None,
        *,
        invoice_wait_seconds: float = 10.0,
        item_codes: Callable[[], Mapping[str, str]] | None = None,
    ):
        self.store = store
        # The SKU map in force, read at each use: an upload takes effect without rebuilding the target.
        codes = item_codes or (lambda: store.sku_map)
        self._item_codes = lambda: ItemCodes(codes(), store.products)
        self.settings = store.tryton
        self.rpc = rpc or TrytonRpc(store.tryton, store.store_id)
        self.invoice_wait_seconds = invoice_wait_seconds
        self._catalogue: dict[str, Any] = {}
