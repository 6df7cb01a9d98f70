"""Tryton finds each order line's product as validation did (docs/products-and-buyers.md): by the store's SKU with
`products.match: sku`, by product id for lines without SKU, the custom item for lines that are no catalogue product;
a code Tryton does not know holds the invoice. Against the live local Tryton (`make tryton`)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.errors import PermanentError
from shared.stores import StoreSettings
from shared.targets.tryton import TrytonTarget
from tests.integration.test_tryton_target import TRYTON_URL, _order, _store, _tryton_answers

pytestmark = [
    pytest.mark.tryton,
    pytest.mark.skipif(not _tryton_answers(), reason=f"no Tryton JSON-RPC at {TRYTON_URL}; run `make tryton`"),
]


def _settings(**products: str) -> StoreSettings:
    return _store().model_copy(update={"products": _store().products.model_copy(update=products)})


def _target(item_codes: dict[str, str], **products: str) -> TrytonTarget:
    return TrytonTarget(_settings(**products), item_codes=lambda: item_codes)


def _sold_codes(target: TrytonTarget, sale_id: int) -> list[str]:
    lines: list[dict[str, Any]] = target.rpc.search_read("sale.line", [("sale", "=", sale_id)], ["product"])
    ids = sorted({int(line["product"]) for line in lines if line.get("product")})
    return sorted(str(p["code"]) for p in target.rpc.read("product.product", ids, ["code"]))


def test_match_by_sku_sells_the_product_whose_code_is_the_store_sku() -> None:
    # The map points elsewhere; with products.match: sku the store's SKU is the code.
    target = _target({"BLUE-MUG-350ML": "PURPLE-VASE-2L", "GREEN-TEA-100G": "PURPLE-VASE-2L"}, match="sku")
    order = _order()

    document = target.issue_invoice(order, "INV-SKU-1")

    assert document.total == order.total
    [sale_id] = target.sale_ids(order)
    assert _sold_codes(target, sale_id) == ["BLUE-MUG-350ML", "GREEN-TEA-100G", "SHIPPING"]


def test_match_by_sku_holds_a_sku_tryton_does_not_know_without_creating_a_sale() -> None:
    target = _target({"PURPLE-VASE-2L": "BLUE-MUG-350ML"}, match="sku")
    order = _order()
    order.lines[0].sku = "PURPLE-VASE-2L"

    with pytest.raises(PermanentError) as refused:
        target.issue_invoice(order, "INV-SKU-2")

    assert refused.value.code == "erp_unmapped_product" and "PURPLE-VASE-2L" in refused.value.message
    assert target.sale_ids(order) == []


def test_lines_without_sku_are_sold_by_product_id_and_as_the_custom_item() -> None:
    target = _target({"product:93": "BLUE-MUG-350ML"}, custom_item="GREEN-TEA-100G")
    order = _order()
    order.lines[0].sku, order.lines[0].product_id = "", "93"  # a WooCommerce product without SKU
    order.lines[1].sku, order.lines[1].product_id = "", ""  # a Shopify custom item

    document = target.issue_invoice(order, "INV-SKU-3")

    assert document.total == order.total
    [sale_id] = target.sale_ids(order)
    assert _sold_codes(target, sale_id) == ["BLUE-MUG-350ML", "GREEN-TEA-100G", "SHIPPING"]
