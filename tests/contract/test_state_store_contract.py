"""One StateStore contract, run over every adapter (SQLite file, Azure Tables on Azurite) so they cannot drift."""

from __future__ import annotations

import importlib
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.domain.order import Order, OrderLine, OrderState
from shared.domain.records import DocumentRef, EventRecord, OrderRecord, OutgoingMessage, Problem, TimelineEntry
from shared.ports import ConcurrencyError, StateStore

NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


def _tables_store(connection_string: str, **kwargs: Any) -> Any:
    from azure.data.tables import TableServiceClient

    from shared.adapters.tables import TableStateStore

    prefix = "t" + uuid.uuid4().hex[:10]
    return TableStateStore(TableServiceClient.from_connection_string(connection_string), table_prefix=prefix, **kwargs)


def _claim_checks(connection_string: str) -> Any:
    from azure.storage.blob import BlobServiceClient

    from shared.adapters.claimcheck import BlobClaimCheck

    return BlobClaimCheck.from_service(BlobServiceClient.from_connection_string(connection_string))


@pytest.fixture(params=["sqlite", pytest.param("tables", marks=pytest.mark.azurite)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "sqlite":
        try:
            module = importlib.import_module("shared.adapters.sqlite_state")
        except ModuleNotFoundError:
            pytest.skip("shared/adapters/sqlite_state.py is not written yet")
        yield module.SqliteStateStore(tmp_path / "state.db")
        return
    connection_string = request.getfixturevalue("azurite")
    tables = _tables_store(connection_string, claim_checks=_claim_checks(connection_string))
    yield tables
    tables.drop_tables()


def make_order(order_id: str = "4711", store_id: str = "demo-woo", lines: int = 1) -> Order:
    return Order(
        channel="woocommerce",
        store_id=store_id,
        order_id=order_id,
        number=order_id,
        currency="EUR",
        created_at=NOW,
        updated_at=NOW,
        lines=[
            OrderLine(
                line_id=str(n + 1),
                sku="BLUE-MUG-350ML" if n == 0 else f"BLUE-MUG-350ML-{n:04d}",
                name="Blue mug 350 ml, stoneware, dishwasher safe",
                quantity=Decimal("2"),
                unit_price=Decimal("8.26"),
                subtotal=Decimal("16.52"),
                total=Decimal("16.52"),
                tax=Decimal("3.47"),
            )
            for n in range(lines)
        ],
        total=Decimal("19.99") * lines,
    )


def make_record(order_id: str = "4711", store_id: str = "demo-woo", lines: int = 1) -> OrderRecord:
    return OrderRecord(store_id=store_id, order_id=order_id, order=make_order(order_id, store_id, lines))


def make_event(event_key: str = "demo-woo/4711/2025-03-14T09:30:00Z", body: bytes = b'{"id": 4711}') -> EventRecord:
    return EventRecord(
        store_id="demo-woo",
        event_key=event_key,
        channel="woocommerce",
        topic="order.updated",
        order_id="4711",
        received_at=NOW,
        headers={"X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Delivery-ID": "88"},
        body=body,
    )


# events -------------------------------------------------------------------------------------


def test_event_is_recorded_once_and_read_back_byte_for_byte(store: StateStore) -> None:
    event = make_event(body='{"id": 4711, "note": "Größe L \u2013 café"}'.encode())
    assert store.record_event(event) is True
    assert store.record_event(event) is False
    found = store.get_event("demo-woo", event.event_key)
    assert found is not None
    assert found.body == event.body
    assert found.headers == event.headers
    assert (found.topic, found.order_id, found.received_at) == ("order.updated", "4711", NOW)


def test_unknown_event_is_none(store: StateStore) -> None:
    assert store.get_event("demo-woo", "never-sent") is None


def test_event_body_near_the_webhook_limit_round_trips(store: StateStore) -> None:
    body = b'{"line_items": [' + b",".join(b'{"sku": "BLUE-MUG-350ML-%06d"}' % n for n in range(30000)) + b"]}"
    assert len(body) > 900_000
    assert store.record_event(make_event(body=body)) is True
    found = store.get_event("demo-woo", make_event().event_key)
    assert found is not None and found.body == body


# orders -------------------------------------------------------------------------------------


def test_problems_and_timeline_stored_as_key_and_data_or_in_the_old_shape_read_in_both_languages(
    store: StateStore,
) -> None:
    record = make_record()
    old_problem = {"code": "unmapped_sku", "field": "lines[0].sku", "found": "MUG", "message_en": "MUG is not mapped.",
                   "message_es": "MUG no está asociado."}  # fmt: skip
    record.problems = [
        Problem.model_validate(old_problem),
        Problem(code="currency_not_allowed", field="currency", expected="EUR", found="USD"),
    ]
    old_entry = {"actor": "intake", "action": "order.received", "detail": "Store sent it.", "detail_es": "La envió."}
    new_entry = TimelineEntry(actor="invoicing", action="paid", text="timeline.paid", data={"total": "9.50",
                              "currency": "EUR"})  # fmt: skip
    store.save_order(record, [TimelineEntry.model_validate(old_entry), new_entry])

    found = store.get_order("demo-woo", "4711")
    assert found is not None
    assert [p.message("es") for p in found.problems] == [
        "MUG no está asociado.",
        "El pedido está en USD, pero esta tienda solo factura en EUR.",
    ]
    assert found.problems[0].message("en") == "MUG is not mapped."
    timeline = store.get_timeline("demo-woo", "4711")
    assert [t.describe("es") for t in timeline] == ["La envió.", "Cobro de 9.50 EUR registrado."]
    assert [t.describe("en") for t in timeline] == ["Store sent it.", "Payment of 9.50 EUR recorded."]


def test_saved_order_reads_back_with_decimals_problems_and_documents(store: StateStore) -> None:
    record = make_record()
    record.problems.append(
        Problem(code="unmapped_sku", field="lines[0].sku", found="BLUE-MUG-350ML", message_en="x", message_es="y")
    )
    record.documents.append(DocumentRef(kind="invoice", number="7", target="ubl", total=Decimal("19.99")))
    saved = store.save_order(record)
    assert saved.version != ""
    found = store.get_order("demo-woo", "4711")
    assert found is not None
    assert found.version == saved.version
    assert found.order is not None and found.order.lines[0].unit_price == Decimal("8.26")
    assert found.problems[0].code == "unmapped_sku"
    assert found.documents[0].total == Decimal("19.99")


def test_simplified_invoice_flag_reads_back(store: StateStore) -> None:
    # National reporting (Spain's F2) reads it from the record: it must survive every adapter.
    record = make_record()
    record.simplified_invoice = True
    store.save_order(record)
    found = store.get_order("demo-woo", "4711")
    assert found is not None and found.simplified_invoice is True


def test_creating_an_existing_order_is_a_concurrency_error(store: StateStore) -> None:
    store.save_order(make_record())
    with pytest.raises(ConcurrencyError):
        store.save_order(make_record())


def test_stale_version_loses_and_fresh_version_wins(store: StateStore) -> None:
    first = store.save_order(make_record())
    second = first.model_copy(deep=True)
    first.state = OrderState.VALIDATED
    updated = store.save_order(first)
    assert updated.version != first.version
    second.state = OrderState.HELD
    with pytest.raises(ConcurrencyError):
        store.save_order(second)
    found = store.get_order("demo-woo", "4711")
    assert found is not None and found.state == OrderState.VALIDATED


def test_two_writers_with_the_same_version_only_one_saves(store: StateStore) -> None:
    base = store.save_order(make_record())
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def write(state: OrderState) -> None:
        record = base.model_copy(deep=True)
        record.state = state
        barrier.wait()
        try:
            store.save_order(record)
            outcomes.append("saved")
        except ConcurrencyError:
            outcomes.append("lost")

    threads = [threading.Thread(target=write, args=(s,)) for s in (OrderState.VALIDATED, OrderState.HELD)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["lost", "saved"]


def test_large_order_snapshot_round_trips(store: StateStore) -> None:
    record = store.save_order(make_record(lines=600))
    found = store.get_order("demo-woo", "4711")
    assert found is not None and found.order is not None
    assert len(found.order.lines) == 600
    assert found.order.lines[599].sku == "BLUE-MUG-350ML-0599"
    found.state = OrderState.VALIDATED
    assert store.save_order(found).version != record.version


def test_list_orders_newest_change_first_filtered_by_store_and_state(store: StateStore) -> None:
    saved = {order_id: store.save_order(make_record(order_id)) for order_id in ("1001", "1002", "1003")}
    store.save_order(make_record("2001", store_id="demo-shopify"))
    again = saved["1001"]
    again.state = OrderState.HELD
    store.save_order(again)  # 1001 is now the newest change of demo-woo
    assert [r.order_id for r in store.list_orders(store_id="demo-woo")] == ["1001", "1003", "1002"]
    assert [r.order_id for r in store.list_orders(store_id="demo-woo", state="held")] == ["1001"]
    assert [r.order_id for r in store.list_orders(state="received")] == ["2001", "1003", "1002"]
    assert [r.order_id for r in store.list_orders(limit=2)] == ["1001", "2001"]
    assert all(r.version for r in store.list_orders())


def test_count_orders_by_state_per_store_and_overall(store: StateStore) -> None:
    assert store.count_orders() == {}
    saved = {order_id: store.save_order(make_record(order_id)) for order_id in ("1001", "1002", "1003")}
    store.save_order(make_record("2001", store_id="demo-shopify"))
    held = saved["1002"]
    held.state = OrderState.HELD
    store.save_order(held)
    assert store.count_orders("demo-woo") == {"received": 2, "held": 1}
    assert store.count_orders() == {"received": 3, "held": 1}
    assert store.count_orders("nowhere") == {}


def test_save_with_timeline_is_all_or_nothing(store: StateStore) -> None:
    first = store.save_order(make_record(), [TimelineEntry(actor="intake", action="order.received")])
    stale = first.model_copy(deep=True)
    first.state = OrderState.VALIDATED
    store.save_order(first, [TimelineEntry(actor="validation", action="validated")])
    stale.state = OrderState.HELD
    with pytest.raises(ConcurrencyError):
        store.save_order(stale, [TimelineEntry(actor="validation", action="held")])
    assert [t.action for t in store.get_timeline("demo-woo", "4711")] == ["order.received", "validated"]
    assert store.get_order("demo-woo", "4711").state == OrderState.VALIDATED


def test_timeline_is_oldest_first_and_per_order(store: StateStore) -> None:
    for action in ("received", "validated", "invoiced"):
        store.append_timeline("demo-woo", "4711", TimelineEntry(actor="test", action=action, at=NOW))
    store.append_timeline("demo-woo", "4712", TimelineEntry(actor="test", action="received"))
    assert [e.action for e in store.get_timeline("demo-woo", "4711")] == ["received", "validated", "invoiced"]
    assert [e.action for e in store.get_timeline("demo-woo", "4712")] == ["received"]
    assert store.get_timeline("demo-woo", "9999") == []


# claims -------------------------------------------------------------------------------------


def test_claim_is_taken_once(store: StateStore) -> None:
    claim, created = store.claim("demo-woo", "invoice/4711")
    again, created_again = store.claim("demo-woo", "invoice/4711")
    assert (created, created_again) == (True, False)
    assert again.key == claim.key and again.status == "pending"


def test_series_numbers_are_gap_free_per_store_and_kept_by_a_retry(store: StateStore) -> None:
    numbers = [store.claim("demo-woo", f"invoice/{n}", series="INV")[0].number for n in (1, 2, 3)]
    assert numbers == ["1", "2", "3"]
    retried, created = store.claim("demo-woo", "invoice/2", series="INV")
    assert (retried.number, created) == ("2", False)
    assert store.claim("demo-woo", "invoice/4", series="INV")[0].number == "4"
    assert store.claim("demo-woo", "credit/1", series="CN")[0].number == "1"
    assert store.claim("demo-shopify", "invoice/1", series="INV")[0].number == "1"


def test_concurrent_claims_never_share_or_skip_a_number(store: StateStore) -> None:
    results: list[tuple[str, bool]] = []
    lock = threading.Lock()

    def take(n: int) -> None:
        claim, created = store.claim("demo-woo", f"invoice/{n % 6}", series="INV")
        with lock:
            results.append((claim.number, created))

    threads = [threading.Thread(target=take, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    created_numbers = sorted(int(number) for number, created in results if created)
    assert created_numbers == [1, 2, 3, 4, 5, 6]
    assert {int(number) for number, _ in results} == {1, 2, 3, 4, 5, 6}


def test_completed_claim_keeps_number_and_merges_data(store: StateStore) -> None:
    store.claim("demo-woo", "invoice/4711", series="INV")
    done = store.complete_claim("demo-woo", "invoice/4711", {"document": "INV-1"})
    assert (done.status, done.number, done.data) == ("done", "1", {"document": "INV-1"})
    found, created = store.claim("demo-woo", "invoice/4711", series="INV")
    assert (found.status, created, found.data["document"]) == ("done", False, "INV-1")


def test_completing_an_unknown_claim_raises_key_error(store: StateStore) -> None:
    with pytest.raises(KeyError):
        store.complete_claim("demo-woo", "invoice/none", {})


def test_claim_keys_with_slashes_and_hashes_stay_apart(store: StateStore) -> None:
    assert store.claim("demo-woo", "a/b#c?d")[1] is True
    assert store.claim("demo-woo", "a%2Fb#c?d")[1] is True
    assert store.claim("demo-woo", "a/b#c?d")[1] is False


# SKU map and watermarks ---------------------------------------------------------------------


def test_sku_map_replace_and_merge(store: StateStore) -> None:
    store.put_sku_map("demo-woo", {"BLUE-MUG-350ML": "MUG-B-350", "RED-MUG-350ML": "MUG-R-350"})
    store.put_sku_map("demo-woo", {"GREEN-MUG-350ML": "MUG-G-350"}, replace=False)
    assert store.get_sku_map("demo-woo") == {
        "BLUE-MUG-350ML": "MUG-B-350",
        "GREEN-MUG-350ML": "MUG-G-350",
        "RED-MUG-350ML": "MUG-R-350",
    }
    store.put_sku_map("demo-woo", {"BLUE-MUG-350ML": "MUG-B-350-V2"})
    assert store.get_sku_map("demo-woo") == {"BLUE-MUG-350ML": "MUG-B-350-V2"}
    assert store.get_sku_map("demo-shopify") == {}


def test_sku_map_keeps_product_and_variant_keys(store: StateStore) -> None:
    # Lines without SKU are mapped by "product:<id>" and "product:<id>:<variant id>" (docs/products-and-buyers.md).
    mapping = {"product:93": "WOO-SINGLE", "product:22:23": "SHIP-IDEA-BLACK", "TEE-ORG-M:815": "TEE-M"}
    store.put_sku_map("demo-woo", mapping)
    store.put_sku_map("demo-woo", {"product:22:23": "SHIP-IDEA-BLACK-2", "product:93": "WOO-SINGLE"})
    assert store.get_sku_map("demo-woo") == {"product:22:23": "SHIP-IDEA-BLACK-2", "product:93": "WOO-SINGLE"}


def test_sku_map_larger_than_one_batch(store: StateStore) -> None:
    mapping = {f"BLUE-MUG-350ML/{n:03d}": f"MUG-{n:03d}" for n in range(250)}
    store.put_sku_map("demo-woo", mapping)
    assert store.get_sku_map("demo-woo") == mapping
    store.put_sku_map("demo-woo", dict(list(mapping.items())[:3]))
    assert len(store.get_sku_map("demo-woo")) == 3


def test_watermark_is_set_and_overwritten(store: StateStore) -> None:
    assert store.get_watermark("poll/demo-woo") is None
    store.set_watermark("poll/demo-woo", (NOW - timedelta(hours=1)).isoformat())
    store.set_watermark("poll/demo-woo", NOW.isoformat())
    assert store.get_watermark("poll/demo-woo") == NOW.isoformat()


# the outbox: events recorded unsent with their message --------------------------------------


def make_unsent_event(
    order_id: str = "4711", received_at: datetime = NOW, message_body: bytes = b'{"type": "order_event"}'
) -> EventRecord:
    event_key = f"woocommerce:demo-woo:{order_id}:2025-03-14T09:30:00Z"
    message = OutgoingMessage(
        queue="order-events",
        body=message_body,
        message_id=event_key,
        session_id=f"demo-woo/{order_id}",
        properties={"type": "order_event", "store_id": "demo-woo", "order_id": order_id},
    )
    changes = {"order_id": order_id, "received_at": received_at, "message": message, "unsent": True}
    return make_event(event_key).model_copy(update=changes)


def _keys(events: list[EventRecord]) -> list[str]:
    return [event.event_key for event in events]


def test_unsent_event_is_listed_with_its_message_until_marked_sent(store: StateStore) -> None:
    event = make_unsent_event()
    assert store.record_event(event) is True
    [listed] = store.unsent_events(NOW + timedelta(seconds=1))
    assert listed.unsent and listed.message == event.message and listed.body == event.body
    store.mark_event_sent("demo-woo", event.event_key)
    assert store.unsent_events(NOW + timedelta(days=1)) == []
    found = store.get_event("demo-woo", event.event_key)
    assert found is not None and not found.unsent and found.body == event.body
    assert found.message is None  # not kept once sent: it repeats the body's personal data
    store.mark_event_sent("demo-woo", event.event_key)  # idempotent
    store.mark_event_sent("demo-woo", "never-recorded")  # unknown: nothing to do


def test_marking_several_events_sent_clears_each_mark_and_ignores_unknown_keys(store: StateStore) -> None:
    for offset, order_id in enumerate(("4711", "4712", "4713")):
        store.record_event(make_unsent_event(order_id, NOW + timedelta(seconds=offset)))
    marked = [e for e in store.unsent_events(NOW + timedelta(days=1)) if e.order_id != "4712"]
    store.mark_events_sent([("demo-woo", e.event_key) for e in marked] + [("demo-woo", "never-recorded")])
    assert [e.order_id for e in store.unsent_events(NOW + timedelta(days=1))] == ["4712"]
    store.mark_events_sent([])  # nothing to do


def test_unsent_events_are_the_older_ones_oldest_first_up_to_the_limit(store: StateStore) -> None:
    for offset, order_id in ((2, "4713"), (0, "4711"), (1, "4712"), (5, "4715")):
        store.record_event(make_unsent_event(order_id, NOW + timedelta(seconds=offset)))
    store.record_event(make_event("sent-before-the-outbox"))  # no unsent mark: never listed
    cutoff = NOW + timedelta(seconds=3)
    assert [e.order_id for e in store.unsent_events(cutoff)] == ["4711", "4712", "4713"]
    assert [e.order_id for e in store.unsent_events(cutoff, limit=2)] == ["4711", "4712"]
    assert store.unsent_events(NOW) == []


def test_repeated_record_of_an_unsent_event_keeps_one_entry_with_the_first_time(store: StateStore) -> None:
    first = make_unsent_event()
    assert store.record_event(first) is True
    assert store.record_event(make_unsent_event(received_at=NOW + timedelta(seconds=30))) is False
    listed = store.unsent_events(NOW + timedelta(minutes=1))
    assert _keys(listed) == [first.event_key] and listed[0].received_at == NOW


def test_scanning_a_store_lists_an_unsent_event_once_as_an_event(store: StateStore) -> None:
    event = make_unsent_event()
    store.record_event(event)
    assert [e.event_key for e in store.scan_events("demo-woo")] == [event.event_key]


def test_redacting_an_unsent_event_keeps_it_unsent_with_its_message(store: StateStore) -> None:
    event = make_unsent_event()
    store.record_event(event)
    [scanned] = store.scan_events("demo-woo")
    store.replace_event(scanned.model_copy(update={"body": b'{"id": 4711}'}))
    [listed] = store.unsent_events(NOW + timedelta(seconds=1))
    assert listed.body == b'{"id": 4711}' and listed.message == event.message


def test_unsent_event_near_the_webhook_limit_keeps_body_and_message(store: StateStore) -> None:
    body = b'{"line_items": [' + b",".join(b'{"sku": "BLUE-MUG-350ML-%06d"}' % n for n in range(30000)) + b"]}"
    event = make_unsent_event(message_body=body.replace(b"sku", b"item")).model_copy(update={"body": body})
    assert store.record_event(event) is True
    [listed] = store.unsent_events(NOW + timedelta(seconds=1))
    assert listed.body == body and listed.message == event.message


# Table Storage specifics --------------------------------------------------------------------


@pytest.mark.azurite
def test_tables_big_event_body_goes_to_the_claim_check_container(azurite: str) -> None:
    claim_checks = _claim_checks(azurite)
    tables = _tables_store(azurite, claim_checks=claim_checks)
    try:
        body = b"x" * 200_000
        tables.record_event(make_event(body=body))
        entity = tables._table("events").get_entity(next(iter(_event_keys(tables))), "event")
        assert "Body" not in entity
        assert entity["BodyRef"].startswith("events/demo-woo/")
        assert claim_checks.get(entity["BodyRef"]) == body
    finally:
        tables.drop_tables()


@pytest.mark.azurite
def test_tables_without_claim_check_compress_big_bodies_into_the_entity(azurite: str) -> None:
    tables = _tables_store(azurite)
    try:
        body = b'{"sku": "BLUE-MUG-350ML"}' * 8000
        tables.record_event(make_event(body=body))
        found = tables.get_event("demo-woo", make_event().event_key)
        assert found is not None and found.body == body
    finally:
        tables.drop_tables()


@pytest.mark.azurite
def test_tables_list_skips_a_stale_index_row_left_by_an_interrupted_save(azurite: str) -> None:
    tables = _tables_store(azurite)
    try:
        saved = tables.save_order(make_record("1001"))
        index = tables._table("orderindex")
        stale = {"PartitionKey": "demo-woo", "RowKey": "99999999999999999|1001", "OrderId": "1001", "State": "held"}
        index.create_entity(stale)
        assert [(r.order_id, r.state) for r in tables.list_orders(store_id="demo-woo")] == [("1001", saved.state)]
        assert stale["RowKey"] not in {e["RowKey"] for e in index.list_entities()}
    finally:
        tables.drop_tables()


def _event_keys(tables: Any) -> list[str]:
    return [str(e["PartitionKey"]) for e in tables._table("events").list_entities(select=["PartitionKey"])]


# personal data: scans, event replacement, timeline rewrite (shared.handlers.privacy) ------------------


def test_scan_orders_reads_every_order_of_one_store_and_filters_by_last_change(store: StateStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    for order_id in ("1001", "1002", "1003"):
        store.save_order(make_record(order_id))
    store.save_order(make_record("2001", store_id="demo-shopify"))
    after = datetime.now(UTC) + timedelta(seconds=1)
    assert sorted(r.order_id for r in store.scan_orders("demo-woo")) == ["1001", "1002", "1003"]
    assert sorted(r.order_id for r in store.scan_orders("demo-woo", changed_before=after)) == ["1001", "1002", "1003"]
    assert list(store.scan_orders("demo-woo", changed_before=before)) == []
    scanned = next(iter(store.scan_orders("demo-shopify")))
    # A scanned record saves like a read one: its version is current.
    scanned.state = OrderState.PAID
    assert store.save_order(scanned).state == OrderState.PAID


def test_scan_events_filters_by_store_time_and_order(store: StateStore) -> None:
    store.record_event(make_event("demo-woo/4711/a"))
    store.record_event(make_event("demo-woo/4711/b").model_copy(update={"received_at": NOW + timedelta(days=2)}))
    store.record_event(make_event("demo-woo/5000/a").model_copy(update={"order_id": "5000"}))
    store.record_event(make_event("demo-shopify/1/a").model_copy(update={"store_id": "demo-shopify"}))
    assert sorted(e.event_key for e in store.scan_events("demo-woo")) == [
        "demo-woo/4711/a",
        "demo-woo/4711/b",
        "demo-woo/5000/a",
    ]
    older = store.scan_events("demo-woo", received_before=NOW + timedelta(days=1))
    assert sorted(e.event_key for e in older) == ["demo-woo/4711/a", "demo-woo/5000/a"]
    of_order = store.scan_events("demo-woo", order_id="4711")
    assert sorted(e.event_key for e in of_order) == ["demo-woo/4711/a", "demo-woo/4711/b"]


def test_replace_event_overwrites_headers_and_body_and_refuses_an_unknown_event(store: StateStore) -> None:
    event = make_event(body=b'{"id": 4711, "billing": {"email": "ana.garcia@example.es"}}')
    store.record_event(event)
    store.replace_event(event.model_copy(update={"body": b'{"id": 4711}', "headers": {"redacted": "yes"}}))
    found = store.get_event("demo-woo", event.event_key)
    assert found is not None and found.body == b'{"id": 4711}' and found.headers == {"redacted": "yes"}
    assert found.received_at == NOW and found.order_id == "4711"
    with pytest.raises(KeyError):
        store.replace_event(make_event("demo-woo/unknown"))
    assert store.get_event("demo-woo", "demo-woo/unknown") is None


def test_replace_event_shrinks_a_big_body(store: StateStore) -> None:
    event = make_event(body=b'{"note": "' + b"Calle Mayor 1 " * 20_000 + b'"}')
    store.record_event(event)
    store.replace_event(event.model_copy(update={"body": b'{"note": "[redacted]"}'}))
    found = store.get_event("demo-woo", event.event_key)
    assert found is not None and found.body == b'{"note": "[redacted]"}'


def test_rewrite_timeline_replaces_entries_in_place_and_counts_the_changed_ones(store: StateStore) -> None:
    store.save_order(make_record())
    for detail in ("Held: tax_id_invalid ES-X1234", "Validated.", "Note from ES-X1234"):
        store.append_timeline("demo-woo", "4711", TimelineEntry(at=NOW, actor="validation", action="a", detail=detail))
    store.append_timeline("demo-woo", "4712", TimelineEntry(at=NOW, actor="validation", action="a", detail="ES-X1234"))

    def scrub(item: TimelineEntry) -> TimelineEntry:
        return item.model_copy(update={"detail": item.detail.replace("ES-X1234", "[redacted]")})

    assert store.rewrite_timeline("demo-woo", "4711", scrub) == 2
    assert [t.detail for t in store.get_timeline("demo-woo", "4711")] == [
        "Held: tax_id_invalid [redacted]",
        "Validated.",
        "Note from [redacted]",
    ]
    assert [t.detail for t in store.get_timeline("demo-woo", "4712")] == ["ES-X1234"]
    assert store.rewrite_timeline("demo-woo", "4711", scrub) == 0


@pytest.mark.azurite
def test_tables_replacing_a_claim_checked_event_deletes_the_old_blob(azurite: str) -> None:
    claim_checks = _claim_checks(azurite)
    tables = _tables_store(azurite, claim_checks=claim_checks)
    try:
        tables.record_event(make_event(body=b"x" * 200_000))
        reference = tables._table("events").get_entity(_event_keys(tables)[0], "event")["BodyRef"]
        tables.replace_event(make_event(body=b"[redacted]"))
        entity = tables._table("events").get_entity(_event_keys(tables)[0], "event")
        assert "BodyRef" not in entity and bytes(entity["Body"]) == b"[redacted]"
        with pytest.raises(KeyError):
            claim_checks.get(reference)
    finally:
        tables.drop_tables()


@pytest.fixture
def tables(azurite: str) -> Iterator[Any]:
    store = _tables_store(azurite)
    yield store
    store.drop_tables()


@pytest.mark.azurite
def test_tables_index_row_of_a_sent_event_is_dropped_by_the_next_listing(tables: Any) -> None:
    event = make_unsent_event()
    tables.record_event(event)
    # Killed between the mark and the index row's deletion: the row outlives the unsent mark.
    mark = {"PartitionKey": _pair("demo-woo", event.event_key), "RowKey": "event", "Unsent": False}
    tables._table("events").update_entity(mark)
    assert len(_unsent_rows(tables)) == 1
    assert tables.unsent_events(NOW + timedelta(minutes=1)) == []
    assert _unsent_rows(tables) == []


@pytest.mark.azurite
def test_tables_index_row_without_its_event_is_dropped_only_after_an_hour(tables: Any) -> None:
    # Killed between writing the index row and inserting the event: that intake never answered 2xx.
    for order_id, age in (("4711", timedelta(hours=2)), ("4712", timedelta(minutes=10))):
        row = {"PartitionKey": "unsent", "RowKey": _pair("demo-woo", order_id), "StoreId": "demo-woo"}
        tables._table("events").create_entity({**row, "EventKey": order_id, "ReceivedAt": NOW - age})
    assert tables.unsent_events(NOW) == []
    assert [row["EventKey"] for row in _unsent_rows(tables)] == ["4712"]


@pytest.mark.azurite
def test_tables_orphan_written_again_while_the_relay_looks_is_kept(tables: Any, monkeypatch: Any) -> None:
    row = {"PartitionKey": "unsent", "RowKey": _pair("demo-woo", "4711"), "StoreId": "demo-woo", "EventKey": "4711"}
    tables._table("events").create_entity({**row, "ReceivedAt": NOW - timedelta(hours=2)})
    read_event = tables.get_event

    def a_late_delivery_writes_it_again(store_id: str, event_key: str) -> Any:
        tables._table("events").upsert_entity({**row, "ReceivedAt": NOW})  # its event insert comes next
        return read_event(store_id, event_key)

    monkeypatch.setattr(tables, "get_event", a_late_delivery_writes_it_again)
    assert tables.unsent_events(NOW) == []
    assert [r["EventKey"] for r in _unsent_rows(tables)] == ["4711"]


@pytest.mark.azurite
def test_tables_unsent_index_holds_unsent_events_only(tables: Any) -> None:
    unsent = make_unsent_event()
    tables.record_event(unsent)
    tables.record_event(make_event("sent-before-the-outbox"))
    assert [row["EventKey"] for row in _unsent_rows(tables)] == [unsent.event_key]
    tables.mark_event_sent("demo-woo", unsent.event_key)
    assert _unsent_rows(tables) == []


@pytest.mark.azurite
def test_tables_big_unsent_message_stays_in_its_outbox_row_not_in_a_blob(azurite: str) -> None:
    tables = _tables_store(azurite, claim_checks=_claim_checks(azurite))
    try:
        body = b'{"line_items": [' + b",".join(b'{"sku": "BLUE-MUG-350ML-%06d"}' % n for n in range(5000)) + b"]}"
        event = make_unsent_event(message_body=body)
        tables.record_event(event)
        [row] = _unsent_rows(tables)
        assert "MessageRef" not in row and row["MessageGzParts"] >= 1  # gone with the row once sent
        [listed] = tables.unsent_events(NOW + timedelta(seconds=1))
        assert listed.message == event.message
    finally:
        tables.drop_tables()


def _pair(first: str, second: str) -> str:
    from shared.adapters.tables.keys import pair_key as pair

    return pair(first, second)


def _unsent_rows(tables: Any) -> list[Any]:
    return list(tables._table("events").query_entities("PartitionKey eq 'unsent'"))


# SQLite specifics ---------------------------------------------------------------------------


def test_sqlite_state_from_before_the_outbox_gains_it_and_its_events_count_as_sent(tmp_path: Path) -> None:
    import sqlite3

    from shared.adapters.sqlite_state import SqliteStateStore

    path = tmp_path / "state.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE events (store_id TEXT NOT NULL, event_key TEXT NOT NULL, channel TEXT NOT NULL,"
            " topic TEXT NOT NULL, order_id TEXT NOT NULL, received_at TEXT NOT NULL, headers TEXT NOT NULL,"
            " body BLOB NOT NULL, PRIMARY KEY (store_id, event_key))"
        )
        db.execute(
            "INSERT INTO events VALUES ('demo-woo', 'old', 'woocommerce', 'order.created', '4700', ?, '{}', x'7b7d')",
            ((NOW - timedelta(days=3)).isoformat(),),
        )
    store = SqliteStateStore(path)
    assert store.unsent_events(NOW + timedelta(days=1)) == []
    old = store.get_event("demo-woo", "old")
    assert old is not None and old.body == b"{}" and old.message is None and not old.unsent
    assert store.record_event(make_unsent_event()) is True
    assert _keys(store.unsent_events(NOW + timedelta(seconds=1))) == [make_unsent_event().event_key]
