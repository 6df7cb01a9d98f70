"""Length limits that keep keys within what Azure takes (docs/input-limits.md): store ids at load, ids in bus
message and session ids, and every Table key built from the longest values the limits let through (Azurite)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from shared.channels.common import event_key, json_depth, stamp, to_id
from shared.domain.commands import IssueCreditNote, SyncStock, message_id
from shared.domain.limits import MAX_ID_BYTES, MAX_ITEM_CODE_BYTES, MAX_SKU_BYTES, MAX_STORE_ID_BYTES
from shared.domain.order import Order, OrderLine
from shared.domain.records import EventRecord, OrderRecord
from shared.domain.rules.mapping import sku_key
from shared.errors import BadRequest
from tests.support import store_settings

NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
SESSION_ID_CHARACTERS = 128  # Service Bus session and message ids
TABLE_KEY_CHARACTERS = 512  # 1 KiB of UTF-16
# The longest values the limits allow, made of the characters that grow most once percent-encoded.
LONGEST_STORE_ID = "é" * (MAX_STORE_ID_BYTES // 2)  # letters only, as store ids are: 2 bytes each
LONGEST_ID = "#?/\\" * (MAX_ID_BYTES // 4)  # characters Table keys forbid, each one byte
LONGEST_SKU = "/" * MAX_SKU_BYTES


def test_store_id_over_the_limit_is_refused_at_load_and_one_at_it_is_kept() -> None:
    assert store_settings("s" * MAX_STORE_ID_BYTES, "woocommerce").store_id == "s" * MAX_STORE_ID_BYTES
    assert store_settings(LONGEST_STORE_ID, "woocommerce").store_id == LONGEST_STORE_ID
    with pytest.raises(ValidationError, match=f"the limit is {MAX_STORE_ID_BYTES}"):
        store_settings("s" * (MAX_STORE_ID_BYTES + 1), "woocommerce")
    with pytest.raises(ValidationError, match=f"the limit is {MAX_STORE_ID_BYTES}"):
        store_settings("é" * (MAX_STORE_ID_BYTES // 2 + 1), "woocommerce")  # 21 letters, 42 bytes


@pytest.mark.parametrize("value", [int("9" * (MAX_ID_BYTES + 1)), "X" * (MAX_ID_BYTES + 1), "é" * 33, Decimal("1e70")])
def test_id_over_the_limit_is_refused_naming_the_field_and_limit(value: Any) -> None:
    with pytest.raises(BadRequest) as refused:
        to_id(value, "refund id")
    assert refused.value.status == 400
    assert refused.value.detail.startswith("refund id: ") and refused.value.detail.endswith(
        f"the limit is {MAX_ID_BYTES} bytes."
    )


def test_ids_at_the_limit_make_session_and_message_ids_azure_takes() -> None:
    store_id, order_id = "s" * MAX_STORE_ID_BYTES, to_id(int("9" * MAX_ID_BYTES))
    credit = IssueCreditNote(store_id=store_id, order_id=order_id, refund_id="8" * MAX_ID_BYTES, attempt=12)
    for message in (credit, SyncStock(store_id=store_id, order_id=order_id)):
        assert len(message.session_id) <= SESSION_ID_CHARACTERS
        assert len(message_id(message)) <= SESSION_ID_CHARACTERS
    other = credit.model_copy(update={"refund_id": "8" * (MAX_ID_BYTES - 1) + "7"})
    assert message_id(other) != message_id(credit)  # shortened ids stay distinct
    assert message_id(IssueCreditNote(store_id="demo-woo", order_id="4711", refund_id="81")) == (
        "demo-woo:4711:0:credit_note:81"  # ids that fit are left as they were: duplicate detection still matches
    )


def test_json_depth_counts_levels_of_objects_and_arrays() -> None:
    assert [json_depth(v) for v in ("x", {}, [], {"a": []}, [[{"b": [1]}]], {"a": 1, "b": {"c": {}}})] == [
        0,
        1,
        1,
        2,
        4,
        3,
    ]


def longest_order() -> Order:
    return Order(
        channel="woocommerce",
        store_id=LONGEST_STORE_ID,
        order_id=LONGEST_ID,
        number=LONGEST_ID,
        currency="EUR",
        created_at=NOW,
        updated_at=NOW,
        lines=[
            OrderLine(
                line_id=LONGEST_ID,
                sku=LONGEST_SKU,
                variant_id=LONGEST_ID,
                quantity=Decimal("1"),
                unit_price=Decimal("8.26"),
                subtotal=Decimal("8.26"),
                total=Decimal("8.26"),
            )
        ],
        total=Decimal("10.00"),
    )


@pytest.mark.azurite
def test_every_table_key_from_the_longest_allowed_values_fits_in_azure_tables(azurite: str) -> None:
    from azure.data.tables import TableServiceClient

    from shared.adapters.tables import TABLES, TableStateStore

    service = TableServiceClient.from_connection_string(azurite)
    prefix = "t" + uuid.uuid4().hex[:10]
    tables = TableStateStore(service, table_prefix=prefix)
    try:
        order = longest_order()
        key = event_key("woocommerce", LONGEST_STORE_ID, ":" * MAX_ID_BYTES, "order.upserted", stamp(NOW))
        event = EventRecord(
            store_id=LONGEST_STORE_ID,
            event_key=key,
            channel="woocommerce",
            topic="order.created",
            order_id=LONGEST_ID,
            received_at=NOW,
            headers={},
            body=b"{}",
        )
        assert tables.record_event(event)
        tables.save_order(OrderRecord(store_id=LONGEST_STORE_ID, order_id=LONGEST_ID, order=order))
        tables.claim(LONGEST_STORE_ID, f"credit_note:{LONGEST_ID}:{LONGEST_ID}", "invoices")
        sku_map = {sku_key(LONGEST_SKU, LONGEST_ID): "C" * MAX_ITEM_CODE_BYTES}
        tables.put_sku_map(LONGEST_STORE_ID, sku_map)
        tables.set_watermark(f"catch-up:{LONGEST_STORE_ID}", NOW.isoformat())

        saved = tables.get_order(LONGEST_STORE_ID, LONGEST_ID)
        assert saved is not None and saved.order == order
        assert tables.get_sku_map(LONGEST_STORE_ID) == sku_map
        assert tables.get_event(LONGEST_STORE_ID, key) is not None
        keys = [
            (entity["PartitionKey"], entity["RowKey"])
            for name in TABLES
            for entity in service.get_table_client(f"{prefix}{name}").list_entities(select=["PartitionKey", "RowKey"])
        ]
        assert len(keys) >= 6
        assert max(len(part) for pair in keys for part in pair) <= TABLE_KEY_CHARACTERS, keys
    finally:
        tables.drop_tables()
