"""Personal data: erasure of one customer and the retention timer, through the real pipeline on SQLite with the
UBL outbox; the redaction of raw store bodies; the retention settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.bootstrap import Services
from shared.domain.order import OrderState
from shared.errors import BadRequest, ConfigError
from shared.handlers.intake import receive_webhook
from shared.handlers.operations import retry_order
from shared.handlers.privacy import MARKER, REDACTED_HEADER, apply_retention, erase_customer, redact_body
from shared.store_files import load_store
from tests.support import fixture_bytes, fixture_json, http_status, make_services, webhook_headers, write_store_file

WOO, WOO_ORDER = "demo-woo", "5123"  # tests/fixtures/woocommerce/order_created.json
SHOP = "demo-shopify"
# What the WooCommerce fixture says about its buyer, as it would appear in stored bytes or JSON.
PERSONAL = ("lucia.fernandez", "Calle de Col", "B58378431", "203.0.113.24", "961 234 567", "Ruiz", "Turia", "mañana")


def deliver(services: Services, channel: str, store_id: str, topic: str, body: bytes) -> None:
    result = receive_webhook(services, channel, store_id, body, webhook_headers(channel, topic, body))
    assert http_status(result) == 202, result


def drain(services: Services) -> None:
    services.bus.drain(services)  # type: ignore[attr-defined]


def stored_text(services: Services) -> str:
    """Every row of the state file as text, JSON rows decoded so that accented letters read as written."""
    rows = services.state.dump()  # type: ignore[attr-defined]
    return json.dumps(rows, ensure_ascii=False, default=lambda b: bytes(b).decode("utf-8", "replace"))


def outbox_files(services: Services) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((services.state_dir / "outbox").rglob("*.xml"))}


@pytest.fixture
def services(tmp_path: Path) -> Services:
    return make_services(tmp_path)


@pytest.fixture
def invoiced(services: Services) -> Services:
    deliver(services, "woocommerce", WOO, "order.created", fixture_bytes("woocommerce", "order_created"))
    drain(services)
    record = services.state.get_order(WOO, WOO_ORDER)
    assert record is not None and record.state == OrderState.INVOICED, record and record.problems
    assert all(value in stored_text(services) for value in PERSONAL)  # the fixture does carry them
    return services


# -- erasure ---------------------------------------------------------------------------------------------


def test_erasure_by_email_redacts_order_events_and_timeline_and_keeps_the_issued_invoice(invoiced: Services) -> None:
    documents = outbox_files(invoiced)
    before = invoiced.state.get_order(WOO, WOO_ORDER)
    assert before is not None and before.order is not None

    answer = erase_customer(invoiced, WOO, email=" Lucia.Fernandez@EXAMPLE.com ", actor="operator:ana")

    [order] = answer["orders"]
    assert order["order_id"] == WOO_ORDER and order["documents_kept"] == ["INV-000001"]
    assert {"name", "email", "phone", "address", "tax_id", "note"} <= set(order["redacted"])
    assert order["events_redacted"] == 1
    assert not any(value in json.dumps(answer, ensure_ascii=False) for value in PERSONAL)
    # Nothing of the buyer is left anywhere in state: snapshot, raw body (IP address too), timeline.
    text = stored_text(invoiced)
    assert [value for value in PERSONAL if value in text] == []
    # The order stays readable: lines, amounts, country and documents unchanged, the customer marked.
    after = invoiced.state.get_order(WOO, WOO_ORDER)
    assert after is not None and after.order is not None
    assert after.state == OrderState.INVOICED and after.documents == before.documents
    assert after.order.lines == before.order.lines and after.order.total == before.order.total
    assert after.order.customer.billing.country == "ES" and after.order.customer.email == MARKER
    assert after.order.redacted_at == invoiced.clock()
    # The issued document is the legal record: byte for byte as issued, buyer and tax id included.
    assert outbox_files(invoiced) == documents and b"B58378431" in next(iter(documents.values()))
    # The erasure itself is on the order's timeline, with who and when, in both languages.
    last = invoiced.state.get_timeline(WOO, WOO_ORDER)[-1]
    assert (last.action, last.actor) == ("privacy.erased", "operator:ana") and last.at.tzinfo is not None
    assert answer["erased_at"] == invoiced.clock().isoformat() and answer["actor"] == "operator:ana"
    assert "e-mail" in last.describe("en") and "correo electrónico" in last.describe("es")
    assert last.data["kinds"] == order["redacted"]


def test_a_second_erasure_finds_nothing_left(invoiced: Services) -> None:
    erase_customer(invoiced, WOO, email="lucia.fernandez@example.com")
    timeline = invoiced.state.get_timeline(WOO, WOO_ORDER)
    again = erase_customer(invoiced, WOO, email="lucia.fernandez@example.com")
    assert again["orders"] == [] and again["other_events_redacted"] == []
    assert invoiced.state.get_timeline(WOO, WOO_ORDER) == timeline


@pytest.mark.parametrize("typed", ["B58378431", "es-b 5837 8431", "ESB58378431"])
def test_erasure_by_tax_id_matches_it_however_it_is_written(invoiced: Services, typed: str) -> None:
    answer = erase_customer(invoiced, WOO, tax_id=typed)
    assert [o["order_id"] for o in answer["orders"]] == [WOO_ORDER]
    assert "B58378431" not in stored_text(invoiced)


def test_erasure_leaves_other_customers_and_other_stores_alone(invoiced: Services) -> None:
    deliver(invoiced, "shopify", SHOP, "orders/create", fixture_bytes("shopify", "orders_create"))
    drain(invoiced)
    shop_order = fixture_json("shopify", "orders_create")["id"]
    # The Shopify fixture has the same buyer: erasure is per store, as the route says.
    answer = erase_customer(invoiced, WOO, email="lucia.fernandez@example.com")
    assert [o["order_id"] for o in answer["orders"]] == [WOO_ORDER]
    shop = invoiced.state.get_order(SHOP, str(shop_order))
    assert shop is not None and shop.order is not None and shop.order.redacted_at is None
    assert shop.order.customer.email == "lucia.fernandez@example.com"
    assert erase_customer(invoiced, WOO, email="someone.else@example.com")["orders"] == []


def test_an_order_erased_before_invoicing_is_held_and_never_invoiced_from_redacted_data(services: Services) -> None:
    deliver(services, "woocommerce", WOO, "order.created", fixture_bytes("woocommerce", "order_created"))
    # Validated, its invoice request still queued, when the erasure comes.
    services.bus.drain(services, queue="order-events")  # type: ignore[attr-defined]
    validated = services.state.get_order(WOO, WOO_ORDER)
    assert validated is not None and validated.state == OrderState.VALIDATED
    erase_customer(services, WOO, email="lucia.fernandez@example.com")
    drain(services)
    record = services.state.get_order(WOO, WOO_ORDER)
    assert record is not None and record.state == OrderState.HELD
    assert [p.code for p in record.problems] == ["personal_data_erased"]
    assert record.documents == [] and outbox_files(services) == {}
    # A retry does not get round it: the redacted snapshot is checked again and held again.
    retry_order(services, WOO, WOO_ORDER)
    drain(services)
    record = services.state.get_order(WOO, WOO_ORDER)
    assert record is not None and record.state == OrderState.HELD and outbox_files(services) == {}
    assert services.state.claim(WOO, "probe", "invoice")[0].number == "1"  # no invoice number was taken


def test_erasure_redacts_a_tax_id_quoted_by_a_held_orders_problem_and_timeline(services: Services) -> None:
    body = fixture_json("woocommerce", "order_created")
    for meta in body["meta_data"]:
        if meta["key"] == "_billing_nif":
            meta["value"] = "B58378432"  # wrong check digit: held, and the problem quotes it
    deliver(services, "woocommerce", WOO, "order.created", json.dumps(body).encode())
    drain(services)
    held = services.state.get_order(WOO, WOO_ORDER)
    assert held is not None and [(p.code, p.found) for p in held.problems] == [("invalid_tax_id", "B58378432")]
    assert "B58378432" in json.dumps([t.model_dump(mode="json") for t in services.state.get_timeline(WOO, WOO_ORDER)])

    answer = erase_customer(services, WOO, email="lucia.fernandez@example.com")

    assert "tax_id" in answer["orders"][0]["redacted"]
    assert "B58378432" not in stored_text(services)
    record = services.state.get_order(WOO, WOO_ORDER)
    assert record is not None and record.state == OrderState.HELD
    assert [(p.code, p.field, p.found) for p in record.problems] == [("invalid_tax_id", "customer.tax_id", MARKER)]
    assert MARKER in record.problems[0].message("es")


@pytest.mark.parametrize(
    ("store_id", "request_", "status"),
    [
        ("nowhere", {"email": "lucia.fernandez@example.com"}, 404),
        (WOO, {}, 400),
        (WOO, {"email": "lucia.fernandez@example.com", "tax_id": "B58378431"}, 400),
        (WOO, {"email": "not-an-address"}, 400),
        (WOO, {"tax_id": "B5"}, 400),
    ],
)
def test_a_bad_erasure_request_is_refused_and_changes_nothing(
    invoiced: Services, store_id: str, request_: dict[str, str], status: int
) -> None:
    before = invoiced.state.dump()  # type: ignore[attr-defined]
    with pytest.raises(BadRequest) as refused:
        erase_customer(invoiced, store_id, **request_)
    assert http_status(refused.value) == status
    assert invoiced.state.dump() == before  # type: ignore[attr-defined]


# -- retention -------------------------------------------------------------------------------------------


def _at(services: Services, days: int) -> None:
    """Move the clock: the state stamps changes with the real time, so the timer looks from `days` later."""
    services.clock = lambda: datetime.now(UTC) + timedelta(days=days)


@pytest.fixture
def finished_and_held(invoiced: Services) -> Services:
    """The invoiced WooCommerce order, and a Shopify order held for an unknown SKU (still being worked)."""
    body = fixture_json("shopify", "orders_create")
    body["line_items"][0]["sku"] = "NOT-IN-THE-MAP"
    body["line_items"][0]["product_id"] = 1
    deliver(invoiced, "shopify", SHOP, "orders/create", json.dumps(body).encode())
    drain(invoiced)
    held = invoiced.state.get_order(SHOP, str(body["id"]))
    assert held is not None and held.state == OrderState.HELD
    return invoiced


def test_retention_redacts_finished_orders_and_old_raw_bodies_but_not_orders_still_being_worked(
    finished_and_held: Services,
) -> None:
    services = finished_and_held
    shop_order = str(fixture_json("shopify", "orders_create")["id"])
    _at(services, 10)
    assert apply_retention(services) == [
        {"store_id": WOO, "orders_redacted": 0, "events_redacted": 0},
        {"store_id": SHOP, "orders_redacted": 0, "events_redacted": 0},
    ]
    assert all(value in stored_text(services) for value in PERSONAL)

    _at(services, 31)  # raw bodies are past raw_events_days (30), orders not past personal_data_days (90)
    assert [s["events_redacted"] for s in apply_retention(services)] == [1, 1]
    events = list(services.state.scan_events(WOO))
    assert all(REDACTED_HEADER in e.headers and b"203.0.113.24" not in e.body for e in events)
    woo = services.state.get_order(WOO, WOO_ORDER)
    assert woo is not None and woo.order is not None and woo.order.redacted_at is None

    _at(services, 91)
    assert [s["orders_redacted"] for s in apply_retention(services)] == [1, 0]
    woo = services.state.get_order(WOO, WOO_ORDER)
    assert woo is not None and woo.order is not None and woo.order.customer.tax_id == MARKER
    last = services.state.get_timeline(WOO, WOO_ORDER)[-1]
    assert (last.action, last.actor) == ("privacy.retention", "retention") and last.describe("es")
    # The held order still needs its buyer's details to be invoiced once a person maps the SKU.
    held = services.state.get_order(SHOP, shop_order)
    assert held is not None and held.order is not None and held.order.redacted_at is None
    assert held.order.customer.email == "lucia.fernandez@example.com"
    # A second run finds nothing new and writes nothing.
    before = services.state.dump()  # type: ignore[attr-defined]
    assert [(s["orders_redacted"], s["events_redacted"]) for s in apply_retention(services)] == [(0, 0), (0, 0)]
    assert services.state.dump() == before  # type: ignore[attr-defined]


def test_retention_follows_each_stores_own_setting(tmp_path: Path, services: Services) -> None:
    services.stores[WOO] = services.stores[WOO].model_copy(
        update={"retention": services.stores[WOO].retention.model_copy(update={"personal_data_days": 400})}
    )
    deliver(services, "woocommerce", WOO, "order.created", fixture_bytes("woocommerce", "order_created"))
    drain(services)
    _at(services, 91)
    assert [s["orders_redacted"] for s in apply_retention(services)] == [0, 0]
    _at(services, 401)
    assert [s["orders_redacted"] for s in apply_retention(services)] == [1, 0]


# -- raw bodies ------------------------------------------------------------------------------------------


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return None


def test_a_shopify_body_keeps_its_shape_and_figures_and_loses_ip_address_contact_and_addresses() -> None:
    raw = fixture_bytes("shopify", "orders_create")
    original = json.loads(raw)
    body, kinds = redact_body(raw)
    redacted = json.loads(body)
    assert _shape(redacted) == _shape(original)
    assert redacted["browser_ip"] == MARKER and redacted["email"] == MARKER
    assert redacted["billing_address"]["address1"] == MARKER and redacted["customer"]["last_name"] == MARKER
    assert redacted["billing_address"]["country_code"] == "ES"
    assert redacted["total_price"] == original["total_price"] and redacted["line_items"] == original["line_items"]
    assert {"ip_address", "email", "address", "name", "phone"} <= kinds
    assert redact_body(body) == (body, set())  # already redacted: unchanged


def test_a_woocommerce_body_keeps_meta_labels_and_drops_their_values() -> None:
    body, kinds = redact_body(fixture_bytes("woocommerce", "order_created"))
    redacted = json.loads(body)
    assert {m["key"]: m["value"] for m in redacted["meta_data"]}["_billing_nif"] == MARKER
    assert redacted["customer_ip_address"] == MARKER and redacted["customer_user_agent"] == MARKER
    assert redacted["billing"]["country"] == "es" and redacted["customer_note"] == MARKER
    assert {"attributes", "ip_address", "browser", "note"} <= kinds


def test_a_body_that_is_not_json_is_replaced_whole() -> None:
    assert redact_body(b"billing[email]=ana@example.es") == (MARKER.encode(), {"raw_body"})
    assert redact_body(b"") == (b"", set())


def test_values_found_elsewhere_in_a_body_are_redacted_by_value() -> None:
    raw = json.dumps({"id": 1, "tags": "vip, lucia.fernandez@example.com"}).encode()
    body, kinds = redact_body(raw, {"Lucia.Fernandez@example.com"})
    assert json.loads(body) == {"id": 1, "tags": f"vip, {MARKER}"} and kinds == {"other"}


# -- settings --------------------------------------------------------------------------------------------


def test_retention_defaults_and_limits_are_checked_on_load(tmp_path: Path) -> None:
    write_store_file(tmp_path, "shop-a", "woocommerce")
    settings = load_store(tmp_path / "shop-a.yaml")
    assert (settings.retention.personal_data_days, settings.retention.raw_events_days) == (90, 30)
    write_store_file(tmp_path, "shop-b", "woocommerce", retention={"personal_data_days": 365, "raw_events_days": 7})
    assert load_store(tmp_path / "shop-b.yaml").retention.personal_data_days == 365
    write_store_file(tmp_path, "shop-c", "woocommerce", retention={"personal_data_days": 5})
    with pytest.raises(ConfigError, match=r"shop-c.yaml: retention.personal_data_days: .*30"):
        load_store(tmp_path / "shop-c.yaml")
    write_store_file(tmp_path, "shop-d", "woocommerce", retention={"raw_event_days": 10})
    with pytest.raises(ConfigError, match=r"retention.raw_event_days: unknown key"):
        load_store(tmp_path / "shop-d.yaml")


# -- on Table Storage ------------------------------------------------------------------------------------


@pytest.mark.azurite
def test_erasure_and_retention_on_table_storage(tmp_path: Path, azurite: str) -> None:
    from tests.contract.test_state_store_contract import _claim_checks, _tables_store
    from tests.support import SKU_MAP

    services = make_services(tmp_path)
    tables = _tables_store(azurite, claim_checks=_claim_checks(azurite))
    services.state = tables
    try:
        tables.put_sku_map(WOO, SKU_MAP)
        deliver(services, "woocommerce", WOO, "order.created", fixture_bytes("woocommerce", "order_created"))
        drain(services)
        _at(services, 31)
        assert [s["events_redacted"] for s in apply_retention(services)] == [1, 0]
        [event] = tables.scan_events(WOO)
        assert b"203.0.113.24" not in event.body and REDACTED_HEADER in event.headers

        answer = erase_customer(services, WOO, tax_id="B58378431", actor="operator:ana")
        assert [o["order_id"] for o in answer["orders"]] == [WOO_ORDER]
        record = tables.get_order(WOO, WOO_ORDER)
        assert record is not None and record.order is not None and record.order.customer.email == MARKER
        assert record.state == OrderState.INVOICED and [d.number for d in record.documents] == ["INV-000001"]
        assert tables.get_timeline(WOO, WOO_ORDER)[-1].actor == "operator:ana"
        [event] = tables.scan_events(WOO)
        assert b"lucia.fernandez" not in event.body and b"B58378431" not in event.body
        assert erase_customer(services, WOO, tax_id="B58378431")["orders"] == []
    finally:
        tables.drop_tables()


def test_retention_marks_a_finished_order_without_personal_data_once(services: Services) -> None:
    from shared.domain.order import Order
    from shared.domain.records import OrderRecord

    guest = Order(
        channel="woocommerce",
        store_id=WOO,
        order_id="900",
        number="900",
        currency="EUR",
        created_at=datetime(2026, 1, 5, tzinfo=UTC),
        updated_at=datetime(2026, 1, 5, tzinfo=UTC),
        total="0",
    )
    services.state.save_order(OrderRecord(store_id=WOO, order_id="900", state=OrderState.PAID, order=guest))
    _at(services, 91)
    apply_retention(services)
    apply_retention(services)
    entries = [t for t in services.state.get_timeline(WOO, "900") if t.action == "privacy.retention"]
    assert [(t.describe("en").split("(")[1].split(")")[0], t.data["kinds"]) for t in entries] == [("none found", [])]
