"""Tryton target: a store order becomes a Tryton sale, its posted invoice, its shipment and its payment.

Called by the invoicing, stock and payment stages through shared.ports.Target plus record_payment, ship_order,
cancel_order and stock_levels. Every write is found by our reference before it is made again, so a redelivery,
a replay or a timeout after the ERP committed never makes a second sale, invoice, credit note or payment.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from typing import Any

from stdnum.eu import vat as eu_vat

from shared.domain.order import Order, Refund
from shared.domain.records import DocumentRef
from shared.errors import PermanentError, RetryableError
from shared.ports import AssignsNumbers, CancelsOrders, RecordsPayments, ReportsStock, Ships
from shared.stores import StoreSettings
from shared.targets.tryton import mapper, stock
from shared.targets.tryton.rpc import TrytonRpc, UncertainOutcome

log = logging.getLogger(__name__)

PAYMENT_TERM = "Immediate"
OPEN_INVOICE_STATES = ("draft", "validated")
DONE_INVOICE_STATES = ("posted", "paid")


class KeyedLocks:
    """One lock per key, kept only while a thread holds or waits for it. Thread-safe.

    Written here because the standard library has no keyed lock and 20 lines do not justify a dependency.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[Hashable, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, *keys: Hashable) -> Iterator[None]:
        """Hold every key's lock; taken in sorted order, so two holders of overlapping keys cannot deadlock."""
        with ExitStack() as stack:
            for key in sorted(set(keys), key=repr):
                stack.enter_context(self._one(key))
            yield

    @contextmanager
    def _one(self, key: Hashable) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


# New customers are created under these locks (per ERP database and customer key, in this process), so two
# orders of one new customer handled at once make one party. Other processes or instances are not covered.
CUSTOMER_LOCKS = KeyedLocks()


class TrytonTarget(AssignsNumbers, Ships, RecordsPayments, CancelsOrders, ReportsStock):
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
        self._item_codes = item_codes or (lambda: store.sku_map)
        self.settings = store.tryton
        self.rpc = rpc or TrytonRpc(store.tryton, store.store_id)
        self.invoice_wait_seconds = invoice_wait_seconds
        self._catalogue: dict[str, Any] = {}

    # -- lookups (cached per target instance) --------------------------------------------------------------------

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
            raise PermanentError(
                "erp_refused",
                f"Tryton has no currency {self.store.currency}",
                message_es=f"Tryton no tiene la moneda {self.store.currency}",
            )
        return int(found[0]["id"])

    def _load_payment_term(self) -> int | None:
        found = self.rpc.search_read("account.invoice.payment_term", [("name", "=", PAYMENT_TERM)], ["id"], limit=1)
        return int(found[0]["id"]) if found else None

    def _load_warehouse(self) -> dict[str, Any]:
        found = self.rpc.search_read(
            "stock.location", [("type", "=", "warehouse")], ["id", "storage_location"], order=[("id", "ASC")], limit=1
        )
        if not found:
            raise PermanentError("erp_refused", "Tryton has no warehouse", message_es="Tryton no tiene ningún almacén")
        return found[0]

    def _load_payment_method(self) -> int:
        found = self.rpc.search_read("account.invoice.payment.method", [], ["id"], order=[("id", "ASC")], limit=1)
        if not found:
            raise PermanentError(
                "erp_refused",
                "Tryton has no invoice payment method (Accounting > Payment Methods)",
                # Tryton's menu path as its English client labels it; a Spanish client shows it translated.
                message_es="Tryton no tiene ningún método de pago de facturas (Accounting > Payment Methods)",
            )
        return int(found[0]["id"])

    def _products(self, codes: set[str]) -> dict[str, tuple[int, int]]:
        known: dict[str, tuple[int, int]] = self._catalogue.setdefault("products", {})
        wanted = sorted(code for code in codes if code and code not in known)
        if wanted:
            for product in self.rpc.search_read("product.product", [("code", "in", wanted)], ["code", "default_uom"]):
                known[product["code"]] = (int(product["id"]), int(product["default_uom"]))
        return known

    # -- parties -------------------------------------------------------------------------------------------------

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
        # An uncertain party create may leave one spare party behind; never a second sale (that is looked up).
        (party_id,) = self._create_once("party.party", values, lambda: None)
        log.info("tryton: created customer party %s for order %s (store %s)", party_id, order.order_id, order.store_id)
        return party_id

    # -- idempotent creation -------------------------------------------------------------------------------------

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

    # -- sales ---------------------------------------------------------------------------------------------------

    def _find_sale(self, order: Order) -> dict[str, Any] | None:
        found = self.rpc.search_read(
            "sale.sale",
            [("reference", "=", mapper.external_reference(order)), ("company", "=", self.rpc.context.get("company"))],
            ["id", "state", "number", "invoices", "shipments", "total_amount", "tax_amount"],
            order=[("id", "ASC")],
        )
        return found[0] if found else None

    def sale_ids(self, order: Order) -> list[int]:
        """Every sale carrying the order's reference (one, unless someone made another by hand)."""
        found = self.rpc.search_read("sale.sale", [("reference", "=", mapper.external_reference(order))], ["id"])
        return [int(s["id"]) for s in found]

    def _create_sale(self, order: Order) -> int:
        lines = mapper.sale_lines(order, self._item_codes(), self.store.rules)
        products = self._products({line.product_code for line in lines})
        missing = mapper.missing_products(lines, products)
        if missing:
            raise PermanentError(
                "erp_unmapped_product",
                f"Tryton has no product with code {', '.join(missing)}; create it or map the store's SKU.",
                message_es=f"Tryton no tiene ningún producto con el código {', '.join(missing)}; créelo o asocie el "
                "SKU de la tienda.",
            )
        taxes = self._cached("taxes")
        missing_rates = mapper.missing_taxes(lines, taxes)
        if missing_rates:
            rates = ", ".join(f"{r}%" for r in missing_rates)
            raise PermanentError(
                "erp_tax_unmapped",
                f"Tryton has no percentage tax at {rates}.",
                message_es=f"Tryton no tiene ningún impuesto de tipo porcentaje al {rates}.",
            )
        party_id, address_id = self._party(order)
        values = mapper.sale_values(
            order,
            lines,
            party_id=party_id,
            address_id=address_id,
            products=products,
            taxes=taxes,
            currency_id=self._cached("currency"),
            payment_term_id=self._cached("payment_term"),
            warehouse_id=int(self._cached("warehouse")["id"]),
        )

        def lookup() -> int | None:
            sale = self._find_sale(order)
            return int(sale["id"]) if sale else None

        (sale_id,) = self._create_once("sale.sale", values, lookup)
        log.info("tryton: created sale %s for order %s (store %s)", sale_id, order.order_id, order.store_id)
        return sale_id

    def _processed_sale(self, order: Order) -> dict[str, Any]:
        """The order's sale, created if missing, taken through quote → confirm → process until it has an invoice."""
        sale = self._find_sale(order)
        if sale is None:
            self._create_sale(order)
            sale = self._find_sale(order)
            if sale is None:
                raise RetryableError("Tryton sale created but not found yet")
        sale_id = int(sale["id"])
        if sale["state"] == "cancelled":
            raise PermanentError(
                "erp_refused",
                f"The Tryton sale {sale['number'] or sale_id} is cancelled",
                message_es=f"La venta {sale['number'] or sale_id} de Tryton está cancelada",
            )
        if sale["state"] == "draft":
            self.rpc.button("sale.sale", "quote", [sale_id])
        if sale["state"] in ("draft", "quotation"):
            self.rpc.button("sale.sale", "confirm", [sale_id])
        deadline = time.monotonic() + self.invoice_wait_seconds
        while True:
            # confirm queues `process`; without a queue worker Tryton runs it at commit, with one it runs later.
            self.rpc.button("sale.sale", "process", [sale_id])
            sale = self._find_sale(order) or sale
            if sale["invoices"] or time.monotonic() > deadline:
                return sale
            time.sleep(0.5)

    # -- invoices ------------------------------------------------------------------------------------------------

    _INVOICE_FIELDS = (
        "id",
        "state",
        "number",
        "total_amount",
        "tax_amount",
        "untaxed_amount",
        "reference",
        "type",
        "invoice_date",
    )

    def _read_invoice(self, invoice_id: int) -> dict[str, Any]:
        (invoice,) = self.rpc.read("account.invoice", [invoice_id], list(self._INVOICE_FIELDS))
        return invoice

    def _document(self, order: Order, invoice: dict[str, Any], kind: str, refund_id: str = "") -> DocumentRef:
        return DocumentRef(
            kind=kind,
            number=invoice["number"] or "",
            target=self.name,
            external_id=str(invoice["id"]),
            location=f"{self.settings.url.rstrip('/')}/#{self.settings.database}/model/account.invoice/{invoice['id']}",
            total=abs(Decimal(invoice["total_amount"])),
            tax=abs(Decimal(invoice["tax_amount"])),
            currency=order.currency,
            refund_id=refund_id,
        )

    def _check_and_post(
        self, order: Order, invoice: dict[str, Any], expected: mapper.Totals, what: tuple[str, str]
    ) -> dict:
        """Post only when Tryton's total and tax equal the store's to the cent; otherwise hold it unposted.
        `what` names the document in English and Spanish for the refusal."""
        what_en, what_es = what
        invoice_id = int(invoice["id"])
        if invoice["state"] in OPEN_INVOICE_STATES:
            total, tax = Decimal(invoice["total_amount"]), Decimal(invoice["tax_amount"])
            if total != expected.total or tax != expected.tax:
                raise PermanentError(
                    "erp_totals_mismatch",
                    f"Tryton computes {what_en} total {total} and tax {tax} {order.currency}; the store has "
                    f"{expected.total} and {expected.tax}. The draft stays unposted in Tryton.",
                    message_es=f"Tryton calcula para {what_es} un total de {total} y un impuesto de {tax} "
                    f"{order.currency}; la tienda indica {expected.total} y {expected.tax}. El borrador queda sin "
                    "contabilizar en Tryton.",
                    detail=f"invoice {invoice_id}",
                )
            self.rpc.button("account.invoice", "post", [invoice_id])
            invoice = self._read_invoice(invoice_id)
        if invoice["state"] not in DONE_INVOICE_STATES:
            raise PermanentError(
                "erp_refused",
                f"Tryton left {what_en} {invoice_id} in state {invoice['state']}",
                message_es=f"Tryton dejó {what_es} {invoice_id} en estado {invoice['state']}",
            )
        return invoice

    def _sale_invoice(self, sale: dict[str, Any]) -> dict[str, Any] | None:
        invoices = [self._read_invoice(int(i)) for i in sale["invoices"]]
        invoices = [i for i in invoices if i["state"] != "cancelled" and i["type"] == "out"]
        return invoices[0] if invoices else None

    def find_document(self, order: Order, kind: str, number: str, refund_id: str = "") -> DocumentRef | None:
        """The posted invoice or credit note for the order, looked up by our reference; None if not issued."""
        if kind == "invoice":
            sale = self._find_sale(order)
            invoice = self._sale_invoice(sale) if sale else None
        else:
            invoice = self._find_invoice_by_reference(mapper.refund_reference(order, refund_id))
        if invoice is None or invoice["state"] not in DONE_INVOICE_STATES:
            return None
        return self._document(order, invoice, kind, refund_id)

    def issue_invoice(self, order: Order, number: str) -> DocumentRef:
        """Sale with our reference (found or created), processed, its invoice checked against the store and posted.

        `number` is the service's own document number; Tryton numbers the invoice from its fiscal-year sequence,
        and that is the number returned. Idempotent: a second call returns the same invoice.
        """
        sale = self._processed_sale(order)
        invoice = self._sale_invoice(sale)
        if invoice is None:
            raise RetryableError(f"Tryton sale {sale['id']} has no invoice yet")
        if invoice["state"] in OPEN_INVOICE_STATES and invoice["reference"] != mapper.external_reference(order):
            self.rpc.write(
                "account.invoice",
                [int(invoice["id"])],
                {"reference": mapper.external_reference(order), "description": order.number},
            )
        invoice = self._check_and_post(order, invoice, mapper.order_totals(order), ("the invoice", "la factura"))
        log.info("tryton: invoice %s posted for order %s (store %s)", invoice["number"], order.order_id, order.store_id)
        return self._document(order, invoice, "invoice")

    # -- credit notes --------------------------------------------------------------------------------------------

    def _find_invoice_by_reference(self, reference: str) -> dict[str, Any] | None:
        found = self.rpc.search_read(
            "account.invoice",
            [("reference", "=", reference), ("state", "!=", "cancelled")],
            list(self._INVOICE_FIELDS),
            order=[("id", "ASC")],
            limit=1,
        )
        return found[0] if found else None

    def _credit_values(
        self, order: Order, invoice_id: int, lines: list[mapper.ErpLine], reference: str, description: str
    ) -> dict[str, Any]:
        (header,) = self.rpc.read(
            "account.invoice",
            [invoice_id],
            ["party", "invoice_address", "currency", "journal", "account", "payment_term"],
        )
        originals = self.rpc.search_read(
            "account.invoice.line",
            [("invoice", "=", invoice_id), ("type", "=", "line")],
            ["id", "product", "account", "unit", "origin", "note", "taxes"],
        )
        sale_notes = self._sale_line_keys([o["origin"] for o in originals])
        by_key = {sale_notes.get(o["origin"] or "", ""): o for o in originals}
        taxes = self._cached("taxes")
        created = []
        for index, line in enumerate(lines, start=1):
            original = by_key.get(line.key)
            if original is None:
                raise PermanentError(
                    "erp_refused",
                    f"Invoice {invoice_id} has no line for {line.key}; credit it by hand",
                    message_es=f"La factura {invoice_id} no tiene ninguna línea para {line.key}; emita la factura "
                    "rectificativa a mano",
                )
            created.append(
                {
                    "type": "line",
                    "sequence": index,
                    "product": original["product"],
                    "account": original["account"],
                    "unit": original["unit"],
                    "quantity": float(line.quantity),
                    "unit_price": line.unit_price,
                    "description": line.description,
                    "origin": f"account.invoice.line,{original['id']}",
                    "taxes": [("add", [taxes.get(line.tax_rate, t) for t in original["taxes"][:1]] or [])],
                }
            )
        return {
            "type": "out",
            "company": self.rpc.context.get("company"),
            **{k: header[k] for k in ("party", "invoice_address", "currency", "journal", "account", "payment_term")},
            "reference": reference,
            "description": description,
            # No invoice date: Tryton dates the credit note when it posts it (its own today). The refund's date
            # would make an earlier payment-term date (refused as "in the past") or fall in a closed period.
            "lines": [("create", created)],
        }

    def _sale_line_keys(self, origins: list[str | None]) -> dict[str, str]:
        ids = [int(o.split(",")[1]) for o in origins if o and o.startswith("sale.line,")]
        if not ids:
            return {}
        return {f"sale.line,{s['id']}": s["note"] or "" for s in self.rpc.read("sale.line", ids, ["id", "note"])}

    def _issue_credit(
        self,
        order: Order,
        invoice_id: int,
        lines: list[mapper.ErpLine],
        expected: mapper.Totals,
        reference: str,
        description: str,
    ) -> dict[str, Any]:
        existing = self._find_invoice_by_reference(reference)
        if existing is None:
            values = self._credit_values(order, invoice_id, lines, reference, description)

            def lookup() -> int | None:
                found = self._find_invoice_by_reference(reference)
                return int(found["id"]) if found else None

            (credit_id,) = self._create_once("account.invoice", values, lookup)
            existing = self._read_invoice(credit_id)
        elif existing["state"] in OPEN_INVOICE_STATES and existing["invoice_date"] is not None:
            # A draft left by an earlier attempt that dated it (older versions used the refund's date): undate it.
            self.rpc.write("account.invoice", [int(existing["id"])], {"invoice_date": None})
            existing = self._read_invoice(int(existing["id"]))
        return self._check_and_post(order, existing, expected, ("the credit note", "la factura rectificativa"))

    def issue_credit_note(self, order: Order, refund: Refund, invoice: DocumentRef, number: str) -> DocumentRef:
        """A posted credit note for exactly the refunded lines and amounts; returned items go back into stock.

        Idempotent by reference "<store>:<order>:refund:<refund id>".
        """
        lines = mapper.credit_lines(order, refund, self._item_codes(), self.store.rules)
        credit = self._issue_credit(
            order,
            int(invoice.external_id),
            lines,
            mapper.refund_totals(refund),
            mapper.refund_reference(order, refund.refund_id),
            mapper.refund_description(order, refund),
        )
        restock = {line.line_id: line.quantity for line in refund.lines if line.restock and line.quantity}
        if restock:
            self._return_items(order, refund, restock)
        log.info(
            "tryton: credit note %s posted for refund %s of order %s (store %s)",
            credit["number"],
            refund.refund_id,
            order.order_id,
            order.store_id,
        )
        return self._document(order, credit, "credit_note", refund.refund_id)

    def _return_items(self, order: Order, refund: Refund, quantities: dict[str, Decimal]) -> None:
        """A customer return shipment, received and done, so returned items are back in stock. Idempotent."""
        reference = mapper.refund_reference(order, refund.refund_id)
        if self.rpc.search_read("stock.shipment.out.return", [("reference", "=", reference)], ["id"], limit=1):
            return
        sale = self._find_sale(order)
        if sale is None:
            return
        codes = self._item_codes()
        skus = {line.line_id: mapper.product_code(line, codes) for line in order.lines}
        prices = {line.line_id: line.unit_price for line in order.lines}
        # Tryton warns about moves from a customer without an origin: point each at the delivery it returns.
        sale_lines = {
            s["note"]: s["id"] for s in self.rpc.search_read("sale.line", [("sale", "=", sale["id"])], ["id", "note"])
        }
        products = self._products(set(skus.values()))
        warehouse = self._cached("warehouse")
        (customer,) = self.rpc.search_read("stock.location", [("type", "=", "customer")], ["id"], limit=1)
        (locations,) = self.rpc.read("stock.location", [int(warehouse["id"])], ["input_location", "storage_location"])
        (header,) = self.rpc.read("sale.sale", [int(sale["id"])], ["party", "shipment_address"])
        moves = []
        for line_id, quantity in quantities.items():
            product_id, unit_id = products[skus[line_id]]
            moves.append(
                {
                    "product": product_id,
                    "unit": unit_id,
                    "quantity": float(quantity),
                    "from_location": customer["id"],
                    "to_location": locations["input_location"],
                    "company": self.rpc.context.get("company"),
                    # Moves in from a customer carry a value (Tryton requires it): the price the line was sold at.
                    "unit_price": prices[line_id],
                    "origin": self._returned_move(sale_lines.get(f"line:{line_id}")),
                    "currency": self._cached("currency"),
                }
            )
        values = {
            "reference": reference,
            "customer": header["party"],
            "contact_address": header["shipment_address"],
            "warehouse_input": locations["input_location"],
            "warehouse_storage": locations["storage_location"],
            "warehouse": warehouse["id"],
            "company": self.rpc.context.get("company"),
            "incoming_moves": [("create", moves)],
        }

        def lookup() -> int | None:
            found = self.rpc.search_read("stock.shipment.out.return", [("reference", "=", reference)], ["id"])
            return int(found[0]["id"]) if found else None

        (shipment_id,) = self._create_once("stock.shipment.out.return", values, lookup)
        for button in ("receive", "do"):
            self.rpc.button("stock.shipment.out.return", button, [shipment_id])

    def _returned_move(self, sale_line_id: int | None) -> str | None:
        if sale_line_id is None:
            return None
        found = self.rpc.search_read(
            "stock.move",
            [("origin", "=", f"sale.line,{sale_line_id}"), ("to_location.type", "=", "customer")],
            ["id"],
            order=[("id", "ASC")],
            limit=1,
        )
        # Not delivered yet: the sale line itself (Tryton then counts the return against the quantity sold).
        return f"stock.move,{found[0]['id']}" if found else f"sale.line,{sale_line_id}"

    # -- payments, shipping, cancellation, stock -----------------------------------------------------------------

    def record_payment(self, order: Order, invoice: DocumentRef, amount: Decimal, paid_at: dt.datetime) -> None:
        """Pay the invoice with the store's payment (Tryton's pay wizard, store payment method). Idempotent.

        The payment is dated when it is recorded, by Tryton's own today (the wizard's default date): the store's
        `paid_at` may lie in a closed period or a year without a fiscal year; it stays on the order record.
        """
        reference = f"{mapper.external_reference(order)}:payment"
        invoice_id = int(invoice.external_id)

        def already() -> bool:
            return bool(self.rpc.search_read("account.move", [("description", "=", reference)], ["id"], limit=1))

        (state,) = self.rpc.read("account.invoice", [invoice_id], ["state", "amount_to_pay", "party"])
        if state["state"] == "paid" or already():
            return
        if state["state"] != "posted":
            raise PermanentError(
                "erp_refused",
                f"Tryton invoice {invoice.number} is {state['state']}, not posted",
                message_es=f"La factura {invoice.number} de Tryton está en estado {state['state']}, no contabilizada",
            )
        start = {
            "payee": state["party"],
            "amount": amount,
            "currency": self._cached("currency"),
            "description": reference,
            "payment_method": self._cached("payment_method"),
            "company": self.rpc.context.get("company"),
        }

        def answer(result: Any) -> list[tuple[str, dict[str, Any]]]:
            state = _wizard_state(result)
            if state == "start":
                defaults = result["view"].get("defaults", {})
                start["date"] = defaults.get("date") or dt.datetime.now(dt.UTC).date()
                return [("choice", {"start": start})]
            if state == "ask":
                # Less than the amount due: Tryton asks whether to write the rest off; keep it open (partial).
                ask = {**result["view"].get("defaults", {}), "type": "partial"}
                return [("pay", {"start": start, "ask": ask})]
            return []

        try:
            self.rpc.wizard("account.invoice.pay", "account.invoice", invoice_id, [("start", {})], follow=answer)
        except UncertainOutcome:
            if not already():
                raise
        log.info(
            "tryton: payment recorded on %s on invoice %s for order %s (store %s; paid in the store on %s)",
            start.get("date"),
            invoice.number,
            order.order_id,
            order.store_id,
            paid_at.date(),
        )

    def ship_order(self, order: Order) -> None:
        """Take the sale's customer shipments to done so stock moves out of the warehouse. Idempotent."""
        sale = self._find_sale(order)
        if sale is None:
            raise PermanentError(
                "erp_refused",
                f"No Tryton sale for order {order.number}; issue the invoice first",
                message_es=f"No hay ninguna venta en Tryton para el pedido {order.number}; emita primero la factura",
            )
        for shipment_id in sale["shipments"]:
            (shipment,) = self.rpc.read("stock.shipment.out", [int(shipment_id)], ["state"])
            if shipment["state"] in ("done", "cancelled"):
                continue
            if shipment["state"] in ("draft", "waiting"):
                self.rpc.button("stock.shipment.out", "wait", [int(shipment_id)])
                self.rpc.button("stock.shipment.out", "assign_try", [int(shipment_id)])
                (shipment,) = self.rpc.read("stock.shipment.out", [int(shipment_id)], ["state"])
                if shipment["state"] == "waiting":
                    raise PermanentError(
                        "erp_stock_short",
                        f"Tryton has not enough stock for order {order.number}",
                        message_es=f"Tryton no tiene existencias suficientes para el pedido {order.number}",
                    )
            for button in ("pick", "pack", "do"):
                self.rpc.button("stock.shipment.out", button, [int(shipment_id)])

    def cancel_order(self, order: Order) -> DocumentRef | None:
        """Cancel the sale while nothing is invoiced; once invoiced, credit the whole invoice (returned)."""
        sale = self._find_sale(order)
        if sale is None:
            return None
        sale_id = int(sale["id"])
        if sale["state"] in ("draft", "quotation"):
            self.rpc.button("sale.sale", "cancel", [sale_id])
            return None
        invoice = self._sale_invoice(sale)
        if invoice is None:
            return None
        for shipment_id in sale["shipments"]:
            (shipment,) = self.rpc.read("stock.shipment.out", [int(shipment_id)], ["state"])
            if shipment["state"] not in ("done", "cancelled"):
                self.rpc.button("stock.shipment.out", "cancel", [int(shipment_id)])
        if invoice["state"] in OPEN_INVOICE_STATES:
            self.rpc.button("account.invoice", "cancel", [int(invoice["id"])])
            return None
        lines = [
            mapper.ErpLine(
                line.key,
                line.product_code,
                line.description,
                -line.quantity,
                line.unit_price,
                line.tax_rate,
                -line.amount,
                -line.tax,
            )
            for line in mapper.sale_lines(order, self._item_codes(), self.store.rules)
        ]
        expected = mapper.Totals(
            -Decimal(invoice["untaxed_amount"]), -Decimal(invoice["tax_amount"]), -Decimal(invoice["total_amount"])
        )
        credit = self._issue_credit(
            order,
            int(invoice["id"]),
            lines,
            expected,
            mapper.cancel_reference(order),
            f"Cancellation of order {order.number}",
        )
        return self._document(order, credit, "credit_note", "cancel")

    def sellable_stock(self, item_codes: Sequence[str]) -> dict[str, Decimal]:
        """Per product code, what a shop may sell from the warehouse now (shared.targets.tryton.stock)."""
        return stock.sellable_stock(self.rpc, int(self._cached("warehouse")["id"]), item_codes)

    def stock_levels(self, item_codes: list[str]) -> dict[str, Decimal]:
        """Quantity on hand per product code in the warehouse today; codes Tryton does not know are left out."""
        warehouse = self._cached("warehouse")
        found = self.rpc.search_read(
            "product.product",
            [("code", "in", list(item_codes))],
            ["code", "quantity"],
            context={"locations": [int(warehouse["id"])], "with_childs": True},
        )
        return {p["code"]: Decimal(str(p["quantity"])) for p in found}


def _wizard_state(result: Any) -> str:
    if isinstance(result, dict) and "view" in result:
        return str(result["view"].get("state", ""))
    return "end"


def _compact_tax_id(value: str) -> str:
    if not value:
        return ""
    try:
        return str(eu_vat.compact(value))
    except Exception:  # not an EU VAT number: keep letters and digits only
        return re.sub(r"[^0-9A-Za-z]", "", value).upper()
