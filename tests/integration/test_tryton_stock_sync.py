"""Stock in the store follows Tryton: after a burst of sales is shipped in a live Tryton, the fake store
(tests/fake_store.py) holds Tryton's sellable quantity of each product."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from shared.handlers import stock
from shared.stores import StoreApi
from shared.targets.tryton import TrytonTarget
from tests.fake_store import FakeWooCommerce, Product
from tests.integration.test_tryton_target import _order, _store, _tryton_answers
from tests.support import make_services

pytestmark = [
    pytest.mark.tryton,
    pytest.mark.skipif(not _tryton_answers(), reason="no Tryton JSON-RPC; run `make tryton`"),
]
CODES = ["BLUE-MUG-350ML", "GREEN-TEA-100G"]


def test_store_stock_equals_trytons_sellable_quantity_after_a_burst_of_sales(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    woo = FakeWooCommerce(httpserver)
    woo.products = [Product(11, "BLUE-MUG-350ML", 999), Product(12, "GREEN-TEA-100G", 999)]
    api = StoreApi(base_url=woo.url, consumer_key="ck", consumer_secret="cs")
    settings = _store().model_copy(update={"api": api})
    target = TrytonTarget(settings)
    services = make_services(tmp_path, target, store=settings)
    services.state.put_sku_map("demo-woo", {code: code for code in CODES}, replace=True)
    on_hand_before = target.stock_levels(CODES)
    sellable_before = target.sellable_stock(CODES)  # earlier runs' unshipped sales are already taken off
    for number in range(5):  # a burst: five orders of 2 mugs and 3 teas, invoiced and shipped
        order = _order()
        target.issue_invoice(order, f"INV-BURST-{number}")
        target.ship_order(order)
    waiting = _order()  # sold and invoiced, not shipped yet: no longer sellable, still on hand
    target.issue_invoice(waiting, "INV-BURST-W")

    report = stock.sync_store_stock(services, settings)

    sellable = target.sellable_stock(CODES)
    assert target.stock_levels(CODES) == {c: on_hand_before[c] - q for c, q in zip(CODES, (10, 15), strict=True)}
    assert sellable == {c: sellable_before[c] - q for c, q in zip(CODES, (12, 18), strict=True)}
    assert {sku: woo.stock(sku) for sku in CODES} == {sku: int(sellable[sku]) for sku in CODES}
    assert sorted(report.written) == CODES and report.error == ""
    assert isinstance(sellable["BLUE-MUG-350ML"], Decimal)
