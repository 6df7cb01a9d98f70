"""The whole pipeline into the live local Tryton (started by `make test`): a signed WooCommerce order becomes
a posted invoice, stock moves, the payment is recorded, and a refund becomes a credit note, each once; documents
are dated when they are made, whatever the store's dates; bursts of orders handled at once are all invoiced."""

from __future__ import annotations

import json
import os
import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from stdnum.es import cif

from shared.domain.commands import IssueCreditNote
from shared.domain.order import OrderState, Refund, RefundLine
from shared.handlers.dispatch import handle_message
from shared.handlers.intake import receive_webhook
from shared.handlers.messages import send
from tests.integration.test_tryton_target import TRYTON_PASSWORD, TRYTON_URL, _tryton_answers
from tests.support import STAGES, SentMessage, fixture_json, http_status, make_services, store_settings, webhook_headers

pytestmark = [
    pytest.mark.tryton,
    pytest.mark.skipif(not _tryton_answers(), reason=f"no Tryton JSON-RPC at {TRYTON_URL}; run `make tryton`"),
]


@pytest.fixture
def services(tmp_path: Path):
    settings = store_settings(
        "erp-woo",
        "woocommerce",
        target="tryton",
        tryton={
            "url": TRYTON_URL,
            "database": os.environ.get("TRYTON_DATABASE", "o2c"),
            "password": TRYTON_PASSWORD,
            # As many requests at once as the burst tests' workers send, so their writes really meet in the ERP.
            "max_concurrency": 8,
            "requests_per_second": 200,
            "burst": 50,
        },
        sku_map={"BLUE-MUG-350ML": "BLUE-MUG-350ML", "TEE-ORG-M": "RED-TEAPOT-1L"},
    )
    found = make_services(tmp_path, None, erp=settings)
    found.state.put_sku_map("erp-woo", {}, replace=True)  # only the store file's map applies here
    return found


def a_new_customer() -> dict[str, str]:
    """A customer Tryton has never seen: a fresh e-mail and a fresh valid Spanish CIF."""
    digits = "B" + "".join(random.choice("0123456789") for _ in range(7))
    tax_id = next(digits + check for check in cif.calc_check_digits(digits) if cif.is_valid(digits + check))
    return {"email": f"cliente.{uuid.uuid4().hex[:12]}@example.com", "tax_id": tax_id}


def a_new_order(customer: dict[str, str] | None = None, *, placed: datetime | None = None) -> tuple[str, bytes]:
    """The WooCommerce sample with a fresh id, so reruns against the same Tryton do not collide; placed and paid
    now unless `placed` says otherwise; from `customer` (e-mail and tax id) if given, else the sample's."""
    order = fixture_json("woocommerce", "order_created")
    order_id = str(uuid.uuid4().int % 10**9)
    order["id"], order["number"] = int(order_id), order_id
    stamp = (placed or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S")
    order["date_created_gmt"] = order["date_modified_gmt"] = order["date_paid_gmt"] = stamp
    if customer:
        order["billing"]["email"] = customer["email"]
        order["meta_data"] = [m for m in order["meta_data"] if m["key"] != "_billing_nif"]
        order["meta_data"].append({"id": 1, "key": "_billing_nif", "value": customer["tax_id"]})
    return order_id, json.dumps(order).encode()


def deliver(services, topic: str, body: bytes) -> int:
    headers = webhook_headers("woocommerce", topic, body)
    return http_status(receive_webhook(services, "woocommerce", "erp-woo", body, headers))


def test_order_is_invoiced_shipped_and_paid_in_tryton_once(services):
    order_id, body = a_new_order()
    target = services.target(services.stores["erp-woo"])
    before = target.stock_levels(["BLUE-MUG-350ML"])["BLUE-MUG-350ML"]
    assert deliver(services, "order.created", body) == 202
    assert deliver(services, "order.created", body) == 200  # the same delivery again
    services.bus.drain(services)
    record = services.state.get_order("erp-woo", order_id)
    assert record.state == OrderState.PAID, record.problems
    invoice = record.document("invoice")
    assert invoice.target == "tryton" and invoice.number.startswith("FV")
    assert invoice.total == record.order.total and invoice.tax == record.order.tax_total
    sold = sum(line.quantity for line in record.order.lines if line.sku == "BLUE-MUG-350ML")
    assert target.stock_levels(["BLUE-MUG-350ML"])["BLUE-MUG-350ML"] == before - sold
    assert len(target.sale_ids(record.order)) == 1
    actions = [t.action for t in services.state.get_timeline("erp-woo", order_id)]
    assert actions == ["order.received", "validated", "invoiced", "stock_synced", "paid"]


def test_refund_after_invoicing_becomes_one_tryton_credit_note(services):
    order_id, body = a_new_order()
    deliver(services, "order.created", body)
    services.bus.drain(services)
    line = json.loads(body)["line_items"][0]
    # The refund with its lines, as the WooCommerce refund resource gives it: one mug back, refunded in the store
    # four days before the service credits it (a held refund released late, a replay, a catch-up poll).
    refunded_at = datetime.now(UTC) - timedelta(days=4)
    refund = Refund(
        refund_id="9001",
        created_at=refunded_at,
        lines=[RefundLine(line_id=str(line["id"]), sku=line["sku"], quantity=1, amount="10.80", tax="2.27")],
        amount=Decimal("13.07"),
    )
    record = services.state.get_order("erp-woo", order_id)
    record.order.refunds = [refund]
    services.state.save_order(record)
    send(services, IssueCreditNote(store_id="erp-woo", order_id=order_id, refund_id="9001"))
    send(services, IssueCreditNote(store_id="erp-woo", order_id=order_id, refund_id="9001", attempt=1))
    services.bus.drain(services)
    record = services.state.get_order("erp-woo", order_id)
    credit = record.document("credit_note", "9001")
    assert credit is not None, record.problems
    assert credit.target == "tryton" and credit.number.startswith("RV")
    assert abs(credit.total) == Decimal("13.07") and abs(credit.tax) == Decimal("2.27")
    assert [d.kind for d in record.documents].count("credit_note") == 1
    target = services.target(services.stores["erp-woo"])
    (stored,) = target.rpc.read("account.invoice", [int(credit.external_id)], ["invoice_date", "description"])
    assert stored["invoice_date"] > refunded_at.date()  # dated when credited, not when refunded
    assert f"of {refunded_at:%Y-%m-%d}" in stored["description"]  # the refund's own date, kept as reference


def test_order_placed_and_paid_years_ago_is_invoiced_and_paid_with_todays_dates(services):
    """A store's old dates (a late catch-up, a replay) name no open fiscal year; the ERP documents are dated today."""
    placed = datetime.now(UTC) - timedelta(days=3 * 366)
    order_id, body = a_new_order(placed=placed)
    assert deliver(services, "order.created", body) == 202
    services.bus.drain(services)
    record = services.state.get_order("erp-woo", order_id)
    assert record.state == OrderState.PAID, record.problems
    target = services.target(services.stores["erp-woo"])
    invoice_id = int(record.document("invoice").external_id)
    (invoice,) = target.rpc.read("account.invoice", [invoice_id], ["invoice_date", "state"])
    assert invoice["state"] == "paid" and invoice["invoice_date"] > placed.date()
    (move,) = target.rpc.search_read("account.move", [("description", "=", f"erp-woo:{order_id}:payment")], ["date"])
    assert move["date"] > placed.date()


def drain_concurrently(services, workers: int = 8, max_delivery: int = 10) -> None:
    """Deliver every waiting message through the real dispatch from several threads at once, as the Functions
    host (and the local host's workers) do; a delivery that raises goes back in the queue, as a redelivery."""
    bus = services.bus

    def deliver_one(message: SentMessage) -> SentMessage | None:
        message.delivery_count += 1
        try:
            handle_message(services, STAGES[message.queue], message.body, message.message_id, message.delivery_count)
        except Exception:
            return message
        return None

    with ThreadPoolExecutor(workers) as pool:
        while bus.messages:
            batch, bus.messages[:] = list(bus.messages), []
            for failed in pool.map(deliver_one, batch):
                if failed is not None:
                    (bus.dead_letters if failed.delivery_count >= max_delivery else bus.messages).append(failed)


def burst(services, customers: list[dict[str, str]]) -> list[str]:
    """One new order per customer entry, all received first and then handled at once."""
    order_ids = []
    for customer in customers:
        order_id, body = a_new_order(customer)
        assert deliver(services, "order.created", body) == 202
        order_ids.append(order_id)
    drain_concurrently(services)
    return order_ids


def parties_of(services, email: str) -> list[Any]:
    target = services.target(services.stores["erp-woo"])
    mechanisms = [("type", "=", "email"), ("value", "=", email)]
    found = target.rpc.search_read("party.contact_mechanism", mechanisms, ["party"])
    return sorted({row["party"] for row in found})


def test_burst_of_orders_from_distinct_new_customers_is_all_invoiced_none_held(services):
    customers = [a_new_customer() for _ in range(16)]
    order_ids = burst(services, customers)
    records = [services.state.get_order("erp-woo", order_id) for order_id in order_ids]
    assert services.bus.dead_letters == []
    assert {r.state for r in records} == {OrderState.PAID}, [(r.order_id, r.state, r.problems) for r in records]
    assert all(len(parties_of(services, c["email"])) == 1 for c in customers)


def test_burst_of_orders_from_one_new_repeat_customer_makes_one_party_all_invoiced(services):
    customer = a_new_customer()
    order_ids = burst(services, [customer] * 8)
    records = [services.state.get_order("erp-woo", order_id) for order_id in order_ids]
    assert services.bus.dead_letters == []
    assert {r.state for r in records} == {OrderState.PAID}, [(r.order_id, r.state, r.problems) for r in records]
    assert len(parties_of(services, customer["email"])) == 1
