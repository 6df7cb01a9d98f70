"""The actor of a retry or an SKU map upload: on Azure the person App Service Authentication signed in
(X-MS-CLIENT-PRINCIPAL-NAME), a function-key call is a machine, and locally the operating-system user."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from local.registry import registered_functions
from shared.actor import actor_from_headers, local_actor
from shared.bootstrap import Services, override_services
from shared.domain.order import OrderState
from shared.handlers.catalog import last_sku_map_upload
from shared.handlers.intake import receive_webhook
from tests.support import FakeTarget, fixture_bytes, make_services, store_settings, webhook_headers

SIGNED_IN = "ana.garcia@ceramica-azul.example"


@pytest.fixture
def functions() -> dict[str, Any]:
    import function_app

    return registered_functions(function_app.app)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    built = make_services(tmp_path, FakeTarget())
    override_services(built)
    yield built
    override_services(None)


@pytest.fixture
def os_user(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(getpass, "getuser", lambda: "maria")
    return "operator:maria"


@pytest.fixture
def azure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBSITE_SITE_NAME", "func-o2c-test")


def _held_order(services: Services) -> str:
    """A WooCommerce order held for its currency, then the store fixed: ready to be retried."""
    services.stores["demo-woo"] = store_settings("demo-woo", "woocommerce", currency="USD")
    body = fixture_bytes("woocommerce", "order_created")
    receive_webhook(services, "woocommerce", "demo-woo", body, webhook_headers("woocommerce", "order.created", body))
    services.bus.drain(services)  # type: ignore[attr-defined]
    order_id = str(json.loads(body)["id"])
    assert services.state.get_order("demo-woo", order_id).state == OrderState.HELD  # type: ignore[union-attr]
    services.stores["demo-woo"] = store_settings("demo-woo", "woocommerce")
    return order_id


def _retry(functions: dict[str, Any], order_id: str, headers: dict[str, str]) -> func.HttpResponse:
    request = func.HttpRequest(
        "POST",
        f"http://127.0.0.1/api/orders/demo-woo/{order_id}/retry",
        headers=headers,
        route_params={"store_id": "demo-woo", "order_id": order_id},
        body=b"",
    )
    return functions["retry_order"].get_user_function()(request)


def _retry_actor(services: Services, order_id: str) -> str:
    (entry,) = [t for t in services.state.get_timeline("demo-woo", order_id) if t.action == "retry.requested"]
    return entry.actor


def _upload(functions: dict[str, Any], headers: dict[str, str]) -> func.HttpResponse:
    request = func.HttpRequest(
        "PUT",
        "http://127.0.0.1/api/stores/demo-woo/sku-map",
        headers={"content-type": "text/csv", **headers},
        route_params={"store_id": "demo-woo"},
        body=b"sku,variant_id,item_code\nBLUE-MUG-350ML,,MUG-BLUE-350\n",
    )
    return functions["sku_map"].get_user_function()(request)


def test_on_azure_a_retry_records_the_signed_in_person(functions, services, azure):
    order_id = _held_order(services)

    response = _retry(functions, order_id, {"X-MS-CLIENT-PRINCIPAL-NAME": SIGNED_IN})

    assert response.status_code == 202
    assert _retry_actor(services, order_id) == f"operator:{SIGNED_IN}"


def test_on_azure_a_retry_with_a_function_key_only_is_recorded_as_a_machine(functions, services, azure):
    order_id = _held_order(services)

    _retry(functions, order_id, {"x-functions-key": "key"})

    assert _retry_actor(services, order_id) == "operator:function-key"


def test_locally_the_actor_is_the_operating_system_user_whatever_the_headers_say(functions, services, os_user):
    order_id = _held_order(services)

    _retry(functions, order_id, {"X-MS-CLIENT-PRINCIPAL-NAME": "someone.else@example.org"})

    assert _retry_actor(services, order_id) == os_user


def test_an_sku_map_upload_records_who_uploaded_it(functions, services, azure):
    response = _upload(functions, {"X-MS-CLIENT-PRINCIPAL-NAME": SIGNED_IN})

    assert response.status_code == 200
    assert json.loads(response.get_body())["uploaded_by"] == f"operator:{SIGNED_IN}"
    upload = last_sku_map_upload(services, "demo-woo")
    assert upload is not None
    assert (upload["actor"], upload["count"]) == (f"operator:{SIGNED_IN}", 1)
    assert upload["at"].startswith("2026-11-28T10:00:00")  # the services' clock, UTC
    assert last_sku_map_upload(services, "demo-shopify") is None


def test_a_local_upload_records_the_operating_system_user(functions, services, os_user):
    _upload(functions, {})

    assert last_sku_map_upload(services, "demo-woo")["actor"] == os_user  # type: ignore[index]


def test_control_characters_cannot_forge_a_timeline_line():
    on_azure = {"WEBSITE_SITE_NAME": "func-o2c-test"}
    assert actor_from_headers({"x-ms-client-principal-name": "ana\r\nretry.requested"}, on_azure) == (
        "operator:anaretry.requested"
    )
    assert actor_from_headers({"x-ms-client-principal-name": "  "}, on_azure) == "operator:function-key"


def test_an_unknown_operating_system_user_is_just_operator(monkeypatch):
    def no_user() -> str:
        raise OSError("no passwd entry for uid 1000")

    monkeypatch.setattr(getpass, "getuser", no_user)
    assert local_actor() == "operator"
