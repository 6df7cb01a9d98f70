"""The topic cannot lie: the HMAC covers the body, not the X-WC-Webhook-Topic / X-Shopify-Topic header, so every
signed fixture body, once accepted under its own topic, is replayed under every other topic of its channel through
the real intake, dispatch and UBL target; orders, timelines, claims, numbers and issued documents stay as they were.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from local.registry import registered_functions
from shared.bootstrap import Services, override_services
from shared.channels import shopify, woocommerce
from shared.channels.common import TOPIC_MISMATCH
from shared.domain.order import OrderState
from shared.errors import BadRequest
from shared.handlers.intake import IntakeResult, receive_webhook
from tests.support import fixture_bytes, http_status, make_services, webhook_headers

STORE = {"woocommerce": "demo-woo", "shopify": "demo-shopify"}
TOPICS = {"woocommerce": sorted(woocommerce.TOPICS), "shopify": sorted(shopify.TOPICS)}
FIRST_TOPIC = {"woocommerce": "order.created", "shopify": "orders/create"}
# (channel, fixture, the topic the store sends it under, fixtures delivered before it)
ACCEPTED = [
    ("woocommerce", "order_created", "order.created", ()),
    ("woocommerce", "order_created_tax_inclusive", "order.updated", ()),
    ("woocommerce", "order_updated_refunded", "order.updated", ("order_created",)),
    ("woocommerce", "order_deleted", "order.deleted", ("order_created",)),
    ("shopify", "orders_create", "orders/create", ()),
    ("shopify", "orders_create_taxes_included", "orders/updated", ()),
    ("shopify", "orders_paid", "orders/paid", ()),
    ("shopify", "orders_cancelled", "orders/cancelled", ("orders_create",)),
    ("shopify", "refunds_create", "refunds/create", ("orders_create",)),
]
REPLAYS = [
    (channel, fixture, own, first, other)
    for channel, fixture, own, first in ACCEPTED
    for other in TOPICS[channel]
    if other != own
]


def deliver(services: Services, channel: str, topic: str, body: bytes) -> IntakeResult | BadRequest:
    """One signed delivery (fresh delivery and event ids, as a forger would send) and everything it sets off."""
    try:
        result = receive_webhook(services, channel, STORE[channel], body, webhook_headers(channel, topic, body))
    except BadRequest as refused:
        return refused
    services.bus.drain(services)  # type: ignore[attr-defined]
    return result


def lasting_state(services: Services, folder: Path) -> dict[str, Any]:
    """Orders, timelines, claims, number sequences and SKU maps, plus every file the target wrote. The events
    table is left out: a replay handled as the update it is may be recorded as received."""
    tables = services.state.dump()  # type: ignore[attr-defined]
    tables.pop("events")
    files = {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.name.startswith("state.db")
    }
    bus = services.bus
    return {"tables": tables, "files": files, "waiting": bus.queued(), "dead": len(bus.dead_letters)}  # type: ignore[attr-defined]


def accept(services: Services, channel: str, fixture: str, topic: str, first: tuple[str, ...]) -> None:
    for name in first:
        assert http_status(deliver(services, channel, FIRST_TOPIC[channel], fixture_bytes(channel, name))) == 202
    accepted = deliver(services, channel, topic, fixture_bytes(channel, fixture))
    assert isinstance(accepted, IntakeResult) and http_status(accepted) == 202, accepted


@pytest.mark.parametrize(
    ("channel", "fixture", "own", "first", "other"),
    REPLAYS,
    ids=[f"{fixture}-as-{other}" for _, fixture, _, _, other in REPLAYS],
)
def test_signed_body_replayed_under_another_topic_changes_nothing(
    tmp_path: Path, channel: str, fixture: str, own: str, first: tuple[str, ...], other: str
) -> None:
    services = make_services(tmp_path)
    accept(services, channel, fixture, own, first)
    before = lasting_state(services, tmp_path)
    outcome = deliver(services, channel, other, fixture_bytes(channel, fixture))
    if isinstance(outcome, BadRequest):
        assert http_status(outcome) == 400
        assert outcome.title in {TOPIC_MISMATCH, "Not a refund"}, (outcome.title, outcome.detail)
    else:
        assert http_status(outcome) in (200, 202), outcome  # the same snapshot under a topic that fits it
    assert lasting_state(services, tmp_path) == before


def test_order_created_body_under_order_deleted_is_refused_and_the_invoice_stands(tmp_path: Path) -> None:
    """The issue's case: the signed body of an invoiced order.created, resent as order.deleted."""
    services = make_services(tmp_path)
    accept(services, "woocommerce", "order_created", "order.created", ())
    forged = deliver(services, "woocommerce", "order.deleted", fixture_bytes("woocommerce", "order_created"))
    assert isinstance(forged, BadRequest)
    assert (http_status(forged), forged.title) == (400, TOPIC_MISMATCH)
    assert "only the order id" in forged.detail
    record = services.state.get_order("demo-woo", "5123")
    assert record is not None and record.state == OrderState.INVOICED
    assert [d.kind for d in record.documents] == ["invoice"]


def test_shopify_order_body_under_orders_cancelled_is_refused_without_cancelled_at(tmp_path: Path) -> None:
    services = make_services(tmp_path)
    accept(services, "shopify", "orders_create", "orders/create", ())
    forged = deliver(services, "shopify", "orders/cancelled", fixture_bytes("shopify", "orders_create"))
    assert isinstance(forged, BadRequest) and (http_status(forged), forged.title) == (400, TOPIC_MISMATCH)
    assert "cancelled_at" in forged.detail
    record = services.state.get_order("demo-shopify", "9007199254740993")
    assert record is not None and [d.kind for d in record.documents] == ["invoice"]


def test_created_body_replayed_as_order_restored_does_not_reopen_a_deleted_order(tmp_path: Path) -> None:
    """A genuine restore modifies the order in the store; the snapshot we already hold restores nothing."""
    services = make_services(tmp_path)
    accept(services, "woocommerce", "order_deleted", "order.deleted", ("order_created",))
    record = services.state.get_order("demo-woo", "5123")
    assert record is not None and record.document("credit_note", "cancel") is not None
    before = lasting_state(services, tmp_path)
    replay = deliver(services, "woocommerce", "order.restored", fixture_bytes("woocommerce", "order_created"))
    assert isinstance(replay, IntakeResult) and http_status(replay) == 202
    assert lasting_state(services, tmp_path) == before


def test_refused_replay_is_answered_problem_json_by_the_webhook_function(tmp_path: Path) -> None:
    import function_app

    services = make_services(tmp_path)
    accept(services, "woocommerce", "order_created", "order.created", ())
    before = lasting_state(services, tmp_path)
    body = fixture_bytes("woocommerce", "order_created")
    request = func.HttpRequest(
        "POST",
        "http://127.0.0.1:7071/api/webhooks/woocommerce/demo-woo",
        headers=webhook_headers("woocommerce", "order.deleted", body),
        route_params={"channel": "woocommerce", "store_id": "demo-woo"},
        body=body,
    )
    override_services(services)
    try:
        response: Any = registered_functions(function_app.app)["webhook"].get_user_function()(request)
    finally:
        override_services(None)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = json.loads(response.get_body())
    assert (problem["status"], problem["title"]) == (400, TOPIC_MISMATCH)
    assert lasting_state(services, tmp_path) == before
