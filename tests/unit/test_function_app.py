"""Indexing and trigger tests: function_app imports without side effects, registers every function with
the right bindings, and the registered functions answer real azure.functions objects with no host."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions.servicebus import ServiceBusMessage

from local.registry import registered_functions
from shared.bootstrap import override_services
from shared.domain.order import OrderState
from tests.support import fixture_bytes, make_services, webhook_headers

EXPECTED_HTTP = {
    "webhook": ("webhooks/{channel}/{store_id}", ["POST"]),
    "health": ("health", ["GET"]),
    "get_order": ("orders/{store_id}/{order_id}", ["GET"]),
    "list_orders": ("orders", ["GET"]),
    "retry_order": ("orders/{store_id}/{order_id}/retry", ["POST"]),
    "sku_map": ("stores/{store_id}/sku-map", ["GET", "PUT"]),
    "unmapped_skus": ("stores/{store_id}/unmapped-skus", ["GET"]),
    "simulate": ("simulate/{store_id}", ["POST"]),
    "dashboard": ("dashboard", ["GET"]),
    "dashboard_static": ("dashboard/static/{name}", ["GET"]),
    "erase_customer": ("stores/{store_id}/erasure", ["POST"]),
    "get_document": ("documents/{store_id}/{number}", ["GET"]),
    "verifactu_records": ("stores/{store_id}/verifactu", ["GET"]),
    "reconciliation": ("stores/{store_id}/reconciliation", ["GET", "POST"]),
    "backfill": ("stores/{store_id}/backfill", ["POST"]),
    "dashboard_reconciliation": ("dashboard/reconciliation", ["GET"]),
    "stock_table": ("stores/{store_id}/stock", ["GET", "PUT"]),
}
EXPECTED_TIMERS = {
    "catch_up_poll": "%CatchUpSchedule%",
    "sweep_stuck_orders": "%SweepSchedule%",
    "apply_retention": "%RetentionSchedule%",
    "relay_unsent_events": "%OutboxRelaySchedule%",
    "send_verifactu_records": "%VerifactuSendSchedule%",
    "stock_sync": "%StockSyncSchedule%",
    "webhook_health": "%WebhookHealthSchedule%",
}
EXPECTED_QUEUES = {
    "order_events": "%OrderEventsQueue%",
    "invoice_requests": "%InvoiceRequestsQueue%",
    "stock_updates": "%StockUpdatesQueue%",
    "payment_events": "%PaymentEventsQueue%",
}


@pytest.fixture
def functions() -> dict[str, Any]:
    import function_app

    return registered_functions(function_app.app)


def test_every_function_is_registered_with_its_bindings(functions):
    for name, (route, methods) in EXPECTED_HTTP.items():
        trigger = functions[name].get_trigger().get_dict_repr()
        assert trigger["type"] == "httpTrigger"
        assert trigger["route"] == route
        assert [str(m.value) for m in trigger["methods"]] == methods
    for name, queue in EXPECTED_QUEUES.items():
        trigger = functions[name].get_trigger().get_dict_repr()
        assert trigger["type"] == "serviceBusTrigger"
        assert trigger["queueName"] == queue
        assert trigger["connection"] == "ServiceBusConnection"
        assert trigger["isSessionsEnabled"] is True
    for name, schedule in EXPECTED_TIMERS.items():
        trigger = functions[name].get_trigger().get_dict_repr()
        assert trigger["type"] == "timerTrigger"
        assert trigger["schedule"] == schedule
    assert set(EXPECTED_HTTP) | set(EXPECTED_QUEUES) | set(EXPECTED_TIMERS) == set(functions)


def test_webhooks_are_anonymous_and_the_order_api_needs_a_function_key(functions):
    assert functions["webhook"].get_trigger().get_dict_repr()["authLevel"] == func.AuthLevel.ANONYMOUS
    assert functions["get_order"].get_trigger().get_dict_repr()["authLevel"] == func.AuthLevel.FUNCTION


def test_importing_function_app_builds_no_clients():
    import shared.bootstrap

    override_services(None)
    import function_app  # noqa: F401

    assert shared.bootstrap._services is None


@pytest.fixture
def services(tmp_path: Path):
    built = make_services(tmp_path)
    override_services(built)
    yield built
    override_services(None)


def test_webhook_function_accepts_a_signed_order_and_the_queue_function_invoices_it(functions, services, tmp_path):
    body = fixture_bytes("woocommerce", "order_created")
    request = func.HttpRequest(
        "POST",
        "http://127.0.0.1:7071/api/webhooks/woocommerce/demo-woo",
        headers=webhook_headers("woocommerce", "order.created", body),
        route_params={"channel": "woocommerce", "store_id": "demo-woo"},
        body=body,
    )
    response = functions["webhook"].get_user_function()(request)
    assert response.status_code == 202
    # Deliver what intake queued through the real queue-trigger functions, as the host would.
    stage_function = {"order-events": "order_events", "invoice-requests": "invoice_requests"}
    while services.bus.messages:
        sent = services.bus.messages.pop(0)
        message = ServiceBusMessage(
            body=sent.body,
            message_id=sent.message_id,
            session_id=sent.session_id,
            delivery_count=1,
            application_properties={},
            user_properties={},
        )
        functions[stage_function[sent.queue]].get_user_function()(message)
    order_id = str(json.loads(body)["id"])
    get = func.HttpRequest(
        "GET",
        f"http://127.0.0.1:7071/api/orders/demo-woo/{order_id}",
        route_params={"store_id": "demo-woo", "order_id": order_id},
        body=b"",
    )
    detail = json.loads(functions["get_order"].get_user_function()(get).get_body())
    assert detail["state"] == OrderState.INVOICED, detail["problems"]
    assert Path(detail["documents"][0]["location"]).is_file()

    # The same order read in the reader's language: ?lang= first, else Accept-Language, else English.
    def read(params: dict[str, str], headers: dict[str, str]) -> dict[str, Any]:
        request = func.HttpRequest(
            "GET",
            f"http://127.0.0.1:7071/api/orders/demo-woo/{order_id}",
            route_params={"store_id": "demo-woo", "order_id": order_id},
            params=params,
            headers=headers,
            body=b"",
        )
        return json.loads(functions["get_order"].get_user_function()(request).get_body())

    def invoiced(answer: dict[str, Any]) -> str:
        return next(t["description"] for t in answer["timeline"] if t["action"] == OrderState.INVOICED)

    assert invoiced(detail).startswith("Invoice ") and detail["lang"] == "en"
    assert invoiced(read({}, {"Accept-Language": "es-MX,es;q=0.9"})).startswith("Factura ")
    assert invoiced(read({"lang": "en"}, {"Accept-Language": "es"})).startswith("Invoice ")
    spanish = read({"lang": "es"}, {})
    entry = next(t for t in spanish["timeline"] if t["action"] == OrderState.INVOICED)
    assert entry["detail"].startswith("Invoice ") and entry["detail_es"] == entry["description"]


def test_webhook_function_answers_accepted_duplicate_and_ping_with_the_order_link(functions, services):
    body = fixture_bytes("woocommerce", "order_created")
    order_id = str(json.loads(body)["id"])

    def post(payload: bytes, headers: dict[str, str]) -> func.HttpResponse:
        request = func.HttpRequest(
            "POST",
            "http://127.0.0.1:7071/api/webhooks/woocommerce/demo-woo",
            headers=headers,
            route_params={"channel": "woocommerce", "store_id": "demo-woo"},
            body=payload,
        )
        return functions["webhook"].get_user_function()(request)

    signed = webhook_headers("woocommerce", "order.created", body)
    first, again = post(body, signed), post(body, signed)
    ping = post(b"webhook_id=12", {})
    answers = [(r.status_code, json.loads(r.get_body())) for r in (first, again, ping)]
    assert [(status, answer["status"]) for status, answer in answers] == [
        (202, "accepted"),
        (200, "duplicate"),
        (200, "ping"),
    ]
    assert answers[0][1]["order"] == answers[1][1]["order"] == f"/api/orders/demo-woo/{order_id}"
    assert answers[0][1]["event_key"] == answers[1][1]["event_key"] != ""


@pytest.mark.parametrize(
    ("route_params", "body", "status"),
    [
        ({"channel": "magento", "store_id": "demo-woo"}, b"{}", 404),
        ({"channel": "woocommerce", "store_id": "demo-woo"}, b"{}", 401),
    ],
)
def test_webhook_function_refuses_with_problem_json(functions, services, route_params, body, status):
    request = func.HttpRequest("POST", "http://127.0.0.1/api/webhooks/x/y", route_params=route_params, body=body)
    response = functions["webhook"].get_user_function()(request)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = json.loads(response.get_body())
    assert problem["status"] == status and problem["title"]


def test_order_api_answers_404_and_400_as_problems(functions, services):
    get = func.HttpRequest(
        "GET",
        "http://127.0.0.1/api/orders/demo-woo/1",
        route_params={"store_id": "demo-woo", "order_id": "1"},
        body=b"",
    )
    assert functions["get_order"].get_user_function()(get).status_code == 404
    listing = func.HttpRequest("GET", "http://127.0.0.1/api/orders", params={"state": "lost"}, body=b"")
    assert functions["list_orders"].get_user_function()(listing).status_code == 400
    health = func.HttpRequest("GET", "http://127.0.0.1/api/health", body=b"")
    assert json.loads(functions["health"].get_user_function()(health).get_body())["status"] == "ok"
