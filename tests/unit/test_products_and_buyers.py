"""Orders real shops send that used to be uninvoiceable (issue 11, items 4 and 5): lines without SKU (WooCommerce's
own documentation examples, Shopify custom items) and consumers without data (point of sale, drafts), from fixtures
in the stores' public shapes through validation, the UBL document and the pipeline."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from shared.channels import shopify, woocommerce
from shared.dashboard.page import render_dashboard
from shared.dashboard.view import dashboard_view
from shared.domain.order import Order, OrderState
from shared.domain.rules import simplified_invoice, validate_order, with_default_buyer
from shared.domain.rules.mapping import ItemCodes, item_code_for, parse_sku_map_csv, sku_map_to_csv
from shared.errors import Unreadable
from shared.handlers.catalog import import_sku_map, parse_sku_map, unmapped_skus
from shared.handlers.intake import receive_webhook
from shared.handlers.operations import retry_order
from shared.handlers.simulate import simulate_order
from shared.store_files import load_store
from shared.stores import StoreFileError, StoreSettings
from shared.targets.ubl.mapper import invoice_xml
from tests.support import SKU_MAP, fixture_bytes, fixture_json, make_services, store_settings, webhook_headers
from tests.ubl_rules import NS, check_invoice

ISSUED = date(2026, 1, 5)
DEFAULT_BUYER = {"default_buyer": {"name": "Consumidor final", "country": "ES"}}
# A consumer has no Peppol address: its document may break only the two Peppol rules about that (see
# tests/unit/test_ubl_real_payloads.py); every EN 16931 rule holds.
CONSUMER = ("PEPPOL-EN16931-CL008", "PEPPOL-EN16931-R010")


def woo(name: str) -> Order:
    return woocommerce.parse_order(fixture_json("woocommerce", name), "demo-woo")


def shop(name: str) -> Order:
    return shopify.parse_order(fixture_json("shopify", name), "demo-shopify")


def woo_store(**overrides: Any) -> StoreSettings:
    return store_settings("demo-woo", "woocommerce", **overrides)


def shop_store(**overrides: Any) -> StoreSettings:
    return store_settings("demo-shopify", "shopify", **overrides)


def issue(order: Order, store: StoreSettings, sku_map: dict[str, str]) -> bytes:
    assert store.seller is not None
    codes = ItemCodes(sku_map, store.products)
    return invoice_xml(with_default_buyer(order, store), store.seller, store.invoice, "INV-1", ISSUED, codes)


def xpath(xml: bytes, path: str) -> list[str]:
    return [str(x) for x in etree.fromstring(xml).xpath(path, namespaces=NS)]


def item_codes(xml: bytes) -> list[str]:
    return xpath(xml, "cac:InvoiceLine/cac:Item/cac:SellersItemIdentification/cbc:ID/text()")


def codes_of(problems: list[Any]) -> list[tuple[str, str]]:
    return sorted((p.code, p.field) for p in problems)


# --------------------------------------------------------------------------- products without SKU


PRODUCT_MAP = {"product:93": "WOO-SINGLE", "product:22": "SHIP-IDEA", "product:22:23": "SHIP-IDEA-BLACK"}


def test_woocommerce_lines_without_sku_are_invoiced_by_product_and_variant_id() -> None:
    order = woo("order_created_no_sku")
    store = woo_store()

    assert validate_order(order, store, PRODUCT_MAP) == []
    xml = issue(order, store, PRODUCT_MAP)
    # The variant's own key wins over its product's.
    assert item_codes(xml) == ["WOO-SINGLE", "SHIP-IDEA-BLACK"]
    assert check_invoice(xml, ignore=CONSUMER) == []


def test_woocommerce_line_without_sku_names_the_product_to_map() -> None:
    problems = validate_order(woo("order_created_no_sku"), woo_store(), SKU_MAP)

    assert codes_of(problems) == [
        ("unmapped_product", "lines[0].product_id"),
        ("unmapped_product", "lines[1].product_id"),
    ]
    first = problems[0]
    assert (first.found, first.data["product_id"], first.data["name"]) == ("product:93", "93", "Woo Single #1")
    assert "product:93" in first.message("en") and "product:93" in first.message("es")


def test_shopify_custom_item_takes_the_stores_custom_item_code() -> None:
    order = shop("orders_create_custom_item")
    store = shop_store(products={"custom_item": "CUSTOM-WORK"})

    assert validate_order(order, store, SKU_MAP) == []
    xml = issue(order, store, SKU_MAP)
    assert item_codes(xml) == ["MUG-BLUE-350", "CUSTOM-WORK"]
    assert xpath(xml, "cac:InvoiceLine[2]/cac:Item/cbc:Name/text()") == ["Grabado personalizado"]


def test_shopify_custom_item_without_a_custom_item_code_is_held() -> None:
    problems = validate_order(shop("orders_create_custom_item"), shop_store(), SKU_MAP)

    assert codes_of(problems) == [("missing_sku", "lines[1].sku")]


def test_custom_item_code_is_never_used_for_a_catalogue_product() -> None:
    # A WooCommerce product without SKU is in the catalogue: a wrong item on an invoice costs more than a wait.
    problems = validate_order(woo("order_created_no_sku"), woo_store(products={"custom_item": "CUSTOM"}), SKU_MAP)

    assert {p.code for p in problems} == {"unmapped_product"}


def test_match_by_sku_makes_the_store_sku_the_item_code_without_a_map() -> None:
    order = woo("order_created")
    store = woo_store(products={"match": "sku"})

    assert validate_order(order, store, {}) == []
    assert item_codes(issue(order, store, {})) == ["BLUE-MUG-350ML", "TEE-ORG-M"]
    # The map still serves the lines without a SKU.
    no_sku = woo("order_created_no_sku")
    assert item_code_for(no_sku.lines[0], ItemCodes(PRODUCT_MAP, store.products)) == "WOO-SINGLE"


def test_match_by_map_still_holds_a_sku_that_is_not_mapped() -> None:
    problems = validate_order(woo("order_created"), woo_store(), {})

    assert {p.code for p in problems} == {"unmapped_sku"}


def test_csv_with_product_ids_reads_back_and_keeps_formula_cells_inert() -> None:
    text = (
        "sku,variant_id,product_id,item_code\n"
        "BLUE-MUG-350ML,,,MUG-BLUE-350\n"
        ",,93,WOO-SINGLE\n"
        ',23,22,=HYPERLINK("http://x.example")\n'
    )
    mapping = parse_sku_map_csv(text)
    assert mapping == {
        "BLUE-MUG-350ML": "MUG-BLUE-350",
        "product:93": "WOO-SINGLE",
        "product:22:23": '=HYPERLINK("http://x.example")',
    }
    exported = sku_map_to_csv(mapping)
    assert '"","23","22","\'=HYPERLINK(""http://x.example"")"' in exported.splitlines()
    assert '"","","93","WOO-SINGLE"' in exported.splitlines()
    assert parse_sku_map_csv(exported) == mapping


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("sku,product_id,item_code\nBLUE,93,X\n", "row 2: give sku or product_id, not both"),
        ("sku,product_id,item_code\n,,X\n", "row 2: sku and product_id are both empty"),
        ("sku,item_code\nproduct:93,X\n", "row 2: a SKU may not start with 'product:'"),
        ("product_id,item_code\n93,X\n93,Y\n", "row 3: product:93 appears twice"),
    ],
)
def test_bad_product_rows_are_refused_naming_the_row(text: str, reason: str) -> None:
    with pytest.raises(Unreadable) as refused:
        parse_sku_map(text.encode(), "text/csv")
    assert reason in refused.value.detail


def test_json_sku_map_takes_product_keys_and_product_rows() -> None:
    as_object = parse_sku_map(b'{"product:93": "WOO-SINGLE", "product:22:23": "B", "BLUE:7": "C"}', "application/json")
    as_rows = parse_sku_map(b'[{"product_id": "93", "item_code": "WOO-SINGLE"}]', "application/json")

    assert as_object == {"product:93": "WOO-SINGLE", "product:22:23": "B", "BLUE:7": "C"}
    assert as_rows == {"product:93": "WOO-SINGLE"}


def test_products_waiting_for_a_mapping_show_their_id_and_name_until_mapped(tmp_path: Path) -> None:
    services = make_services(tmp_path)
    body = fixture_bytes("woocommerce", "order_created_no_sku")
    receive_webhook(services, "woocommerce", "demo-woo", body, webhook_headers("woocommerce", "order.created", body))
    services.bus.drain(services)
    assert services.state.get_order("demo-woo", "727").state == OrderState.HELD

    waiting = unmapped_skus(services, "demo-woo")
    assert [(w["key"], w["sku"], w["product_id"], w["name"], w["orders"]) for w in waiting] == [
        ("product:22", "", "22", "Ship Your Idea - Black", ["727"]),
        ("product:93", "", "93", "Woo Single #1", ["727"]),
    ]
    view = dashboard_view(services, {"lang": "en", "store": "demo-woo"}, "").overview
    assert view is not None
    [panel] = view.panels
    assert [(u.key, u.product_id, u.name) for u in panel.unmapped] == [
        ("product:22", "22", "Ship Your Idea - Black"),
        ("product:93", "93", "Woo Single #1"),
    ]
    html = render_dashboard(services, {"lang": "es", "store": "demo-woo"}, "")
    assert "Producto 93 sin SKU, Woo Single #1" in str(html)

    csv_body = b"sku,variant_id,product_id,item_code\n,,93,WOO-SINGLE\n,,22,SHIP-IDEA\n"
    import_sku_map(services, "demo-woo", csv_body, "text/csv")
    retry_order(services, "demo-woo", "727")
    services.bus.drain(services)
    assert services.state.get_order("demo-woo", "727").state == OrderState.INVOICED
    assert unmapped_skus(services, "demo-woo") == []


# --------------------------------------------------------------------------- consumers without data


def test_point_of_sale_order_without_customer_is_held_at_validation_without_a_default_buyer() -> None:
    problems = validate_order(shop("orders_create_pos_no_customer"), shop_store(), SKU_MAP)

    assert codes_of(problems) == [
        ("missing_buyer", "customer.billing.country"),
        ("missing_buyer", "customer.billing.name"),
    ]
    assert "invoice.default_buyer" in problems[0].message("en")
    assert "comprador por defecto" in problems[0].message("es")


def test_point_of_sale_order_within_the_limit_is_a_simplified_invoice_to_the_default_buyer() -> None:
    order = shop("orders_create_pos_no_customer")
    store = shop_store(invoice=DEFAULT_BUYER)

    assert validate_order(order, store, SKU_MAP) == []
    assert simplified_invoice(order, store) is True
    xml = issue(order, store, SKU_MAP)
    party = "cac:AccountingCustomerParty/cac:Party/"
    assert xpath(xml, party + "cac:PartyLegalEntity/cbc:RegistrationName/text()") == ["Consumidor final"]
    assert xpath(xml, party + "cac:PostalAddress/cac:Country/cbc:IdentificationCode/text()") == ["ES"]
    assert check_invoice(xml, ignore=CONSUMER) == []
    assert order.customer.name == ""  # the store's snapshot is kept as it came


def test_point_of_sale_order_over_the_limit_is_held_naming_the_limit() -> None:
    order = shop("orders_create_pos_over_limit")
    problems = validate_order(order, shop_store(invoice=DEFAULT_BUYER), SKU_MAP)

    # No name and no country: the default buyer may not stand in above the limit, so both are asked for.
    assert codes_of(problems) == [
        ("missing_billing_field", "customer.billing.country"),
        ("missing_billing_field", "customer.billing.name"),
    ]
    assert "400 EUR" in problems[0].message("en") and "400 EUR" in problems[0].message("es")
    assert order.total > 400


def test_a_named_country_over_the_limit_without_default_buyer_gets_one_reason_per_field() -> None:
    order = shop("orders_create_pos_over_limit")
    order.customer.shipping.country = "ES"

    problems = validate_order(order, shop_store(), SKU_MAP)

    assert codes_of(problems) == [("missing_billing_field", "customer.billing.name")]


def test_retail_limit_of_3000_eur_is_a_store_setting() -> None:
    retail = {"ES": {"business": ["tax_id", "name", "line1"], "over_limit": ["name"], "limit": "3000"}}
    store = shop_store(invoice=DEFAULT_BUYER, rules={"billing": {"countries": retail}})
    order = shop("orders_create_pos_over_limit")

    assert validate_order(order, store, SKU_MAP) == []
    assert simplified_invoice(order, store) is True


def test_limit_in_another_currency_asks_for_the_buyer() -> None:
    order = shop("orders_create_pos_no_customer").model_copy(update={"currency": "USD"})
    store = shop_store(invoice=DEFAULT_BUYER, rules={"currencies": ["USD"]})

    problems = [p for p in validate_order(order, store, SKU_MAP) if p.code == "missing_billing_field"]
    assert [p.field for p in problems] == ["customer.billing.name", "customer.billing.country"]
    assert "400 EUR" in problems[0].message("en")


def test_taxes_default_country_gives_a_named_buyer_without_address_its_country() -> None:
    order = shop("orders_create_pos_no_customer")
    order.customer.name = "Marta Gil"
    store = shop_store(rules={"taxes": {"default_country": "ES"}})

    assert validate_order(order, store, SKU_MAP) == []
    xml = issue(order, store, SKU_MAP)
    assert xpath(
        xml, "cac:AccountingCustomerParty/cac:Party/cac:PostalAddress/cac:Country/cbc:IdentificationCode/text()"
    ) == ["ES"]


def test_a_business_without_name_never_gets_the_default_buyer() -> None:
    order = shop("orders_create_pos_no_customer")
    order.meta["VAT_Number"] = "ESB58378431"
    store = shop_store(invoice=DEFAULT_BUYER)

    # Spain's requirement for a business names the field (missing_billing_field); without it, missing_buyer would.
    assert ("missing_billing_field", "customer.billing.name") in codes_of(validate_order(order, store, SKU_MAP))
    assert with_default_buyer(order, store).customer.name == ""


def test_named_business_buyer_gets_a_full_invoice_and_a_small_consumer_a_simplified_one() -> None:
    store = shop_store(invoice=DEFAULT_BUYER)

    assert simplified_invoice(shop("orders_create"), store) is False  # company and VAT number
    consumer = shop("orders_create")
    consumer.customer.billing.company = consumer.customer.tax_id = ""
    consumer.meta.clear()
    assert simplified_invoice(consumer, store) is True


def test_pipeline_invoices_the_point_of_sale_order_and_records_it_as_simplified(tmp_path: Path) -> None:
    services = make_services(tmp_path, None, **{"demo-shopify": shop_store(invoice=DEFAULT_BUYER)})
    for name in ("orders_create_pos_no_customer", "orders_create_pos_over_limit"):
        body = fixture_bytes("shopify", name)
        headers = webhook_headers("shopify", "orders/create", body, x_shopify_event_id=f"evt-{name}")
        receive_webhook(services, "shopify", "demo-shopify", body, headers)
    services.bus.drain(services)

    small = services.state.get_order("demo-shopify", "5901123400002")
    large = services.state.get_order("demo-shopify", "5901123400003")
    assert small is not None and large is not None
    assert (small.state, small.simplified_invoice) == (OrderState.INVOICED, True)
    assert (large.state, [p.code for p in large.problems]) == (OrderState.HELD, ["missing_billing_field"] * 2)
    stored = services.document_store.get("demo-shopify", small.documents[0].number)
    assert stored is not None
    assert b"Consumidor final" in stored.content


def test_dry_run_shows_the_invoice_to_the_default_buyer(tmp_path: Path) -> None:
    services = make_services(tmp_path, None, **{"demo-shopify": shop_store(invoice=DEFAULT_BUYER)})

    result = simulate_order(services, "demo-shopify", fixture_bytes("shopify", "orders_create_pos_no_customer"))

    assert result["problems"] == [] and result["invoice"] is not None
    assert "Consumidor final" in result["invoice"]["xml"]


# --------------------------------------------------------------------------- store settings


@pytest.mark.parametrize(
    ("settings", "key", "reason"),
    [
        (
            {"invoice": {"default_buyer": {"name": "Consumidor final", "country": "Spain"}}},
            "invoice.default_buyer.country",
            "two-letter",
        ),
        ({"invoice": {"default_buyer": {"name": " ", "country": "ES"}}}, "invoice.default_buyer.name", "empty"),
        ({"products": {"match": "title"}}, "products.match", "'map' or 'sku'"),
        ({"products": {"custom_item": "X" * 500}}, "products.custom_item", "the limit is"),
    ],
)
def test_bad_product_and_buyer_settings_are_refused_naming_the_key(
    tmp_path: Path, settings: dict[str, Any], key: str, reason: str
) -> None:
    data = {"store_id": "shop", "channel": "shopify", "webhook_secret": "a-long-webhook-secret", "currency": "EUR"}
    (tmp_path / "shop.yaml").write_text(json.dumps(data | settings), encoding="utf-8")

    with pytest.raises(StoreFileError) as refused:
        load_store(tmp_path / "shop.yaml")
    [problem] = refused.value.problems
    assert problem.key == key and reason in problem.reason
