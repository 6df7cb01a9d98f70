"""The whole pipeline into the live local Tryton (started by `make test`): a signed WooCommerce order becomes
a posted invoice, stock moves, the payment is recorded, and a refund becomes a credit note, each once."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from shared.domain.commands import IssueCreditNote
from shared.domain.order import OrderState, Refund, RefundLine
from shared.handlers.intake import receive_webhook
from shared.handlers.messages import send
from tests.integration.test_tryton_target import TRYTON_PASSWORD, TRYTON_URL, _tryton_answers
from tests.support import fixture_json, http_status, make_services, store_settings, webhook_headers

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
        tryton={"url": TRYTON_URL, "database": os.environ.get("TRYTON_DATABASE", "o2c"), "password": TRYTON_PASSWORD},
        sku_map={"BLUE-MUG-350ML": "BLUE-MUG-350ML", "TEE-ORG-M": "RED-TEAPOT-1L"},
    )
    found = make_services(tmp_path, None, erp=settings)
    found.state.put_sku_map("erp-woo", {}, replace=True)  # only the store file's map applies here
    return found


def a_new_order() -> tuple[str, bytes]:
    """The WooCommerce sample with a fresh id, so reruns against the same Tryton do not collide."""
    order = fixture_json("woocommerce", "order_created")
    order_id = str(uuid.uuid4().int % 10**9)
    order["id"], order["number"] = int(order_id), order_id
    # Dated today: the demo ERP's fiscal years are 2026 and 2027, and a closed period is refused (held).
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    order["date_created_gmt"] = order["date_modified_gmt"] = order["date_paid_gmt"] = now
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
    # The refund with its lines, as the WooCommerce refund resource gives it: one mug back.
    refund = Refund(
        refund_id="9001",
        created_at=datetime(2026, 11, 28, 12, 0, tzinfo=UTC),
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
