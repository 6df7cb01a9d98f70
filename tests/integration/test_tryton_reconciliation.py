"""Reading Tryton back for reconciliation, against the live local Tryton (`make tryton`): invoices by our reference,
and its sellable stock against the store's (fake store API on loopback)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from shared.handlers.reconciliation import reconcile
from shared.ports import ListsInvoices
from shared.stores import StoreApi
from shared.targets.tryton import TrytonTarget
from tests.fake_order_store import FakeStore
from tests.integration.test_tryton_target import _order, _store, _tryton_answers
from tests.support import make_services

pytestmark = [
    pytest.mark.tryton,
    pytest.mark.skipif(not _tryton_answers(), reason="no Tryton JSON-RPC; run `make tryton`"),
]


@pytest.fixture(scope="module")
def target() -> TrytonTarget:
    return TrytonTarget(_store())


def test_tryton_lists_the_invoice_of_each_issued_order_by_our_reference(target: TrytonTarget) -> None:
    issued, never = _order(), _order()
    document = target.issue_invoice(issued, "INV-000001")

    found = target.invoices_by_order([issued, never])

    assert isinstance(target, ListsInvoices)
    assert list(found) == [issued.order_id]
    assert [(d.number, d.external_id, d.total) for d in found[issued.order_id]] == [
        (document.number, document.external_id, document.total)
    ]


def test_a_second_invoice_under_our_reference_shows_as_two(target: TrytonTarget) -> None:
    order = _order()
    document = target.issue_invoice(order, "INV-000001")
    # Someone copies the posted invoice by hand in Tryton and gives it our reference again.
    (copy,) = target.rpc.model("account.invoice", "copy", [int(document.external_id)], {})
    target.rpc.write("account.invoice", [int(copy)], {"reference": f"{order.store_id}:{order.order_id}"})

    found = target.invoices_by_order([order])

    assert sorted(d.external_id for d in found[order.order_id]) == sorted([document.external_id, str(copy)])


def test_credit_notes_are_not_counted_as_invoices(target: TrytonTarget) -> None:
    order = _order()
    target.issue_invoice(order, "INV-000001")
    target.cancel_order(order)  # a credit note of the whole invoice, under its own reference

    assert len(target.invoices_by_order([order])[order.order_id]) == 1


def test_reconciliation_compares_the_stores_stock_with_trytons_sellable_quantity(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    codes = ["BLUE-MUG-350ML", "GREEN-TEA-100G"]
    store = FakeStore(httpserver)
    settings = _store().model_copy(
        update={"api": StoreApi(base_url=store.base_url, consumer_key="ck", consumer_secret="cs")}
    )
    target = TrytonTarget(settings)
    services = make_services(tmp_path, target, store=settings)
    services.state.put_sku_map("demo-woo", {code: code for code in codes}, replace=True)
    sellable = target.sellable_stock(codes)
    mugs, teas = (int(sellable[code]) for code in codes)
    store.stock({"BLUE-MUG-350ML": mugs + 3, "GREEN-TEA-100G": teas})
    today = services.clock().date()

    report = reconcile(services, "demo-woo", today, today)

    assert report.stock_compared is True
    assert [(d.kind, d.sku, d.store, d.target) for d in report.differences] == [
        ("stock_differs", "BLUE-MUG-350ML", str(mugs + 3), str(sellable["BLUE-MUG-350ML"]))
    ]
