"""The ways in to personal-data handling: POST /api/stores/{store_id}/erasure through the registered function
(real func.HttpRequest), `python -m local.cli erase`, and the retention timer's schedule setting everywhere."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from local.cli import main
from local.registry import registered_functions
from shared.bootstrap import Services, override_services, services
from shared.domain.order import Customer, Order
from shared.domain.records import OrderRecord
from shared.handlers.intake import receive_webhook
from shared.handlers.privacy import MARKER
from tests.support import fixture_bytes, http_status, make_services, webhook_headers

ROOT = Path(__file__).resolve().parents[2]
WOO, WOO_ORDER = "demo-woo", "5123"
EMAIL = "lucia.fernandez@example.com"


@pytest.fixture
def functions() -> dict[str, Any]:
    import function_app

    return registered_functions(function_app.app)


@pytest.fixture
def invoiced(tmp_path: Path):
    built = make_services(tmp_path)
    body = fixture_bytes("woocommerce", "order_created")
    assert (
        http_status(
            receive_webhook(built, "woocommerce", WOO, body, webhook_headers("woocommerce", "order.created", body))
        )
        == 202
    )
    built.bus.drain(built)  # type: ignore[attr-defined]
    override_services(built)
    yield built
    override_services(None)


def erasure(store_id: str, body: bytes, **headers: str) -> func.HttpRequest:
    return func.HttpRequest(
        "POST",
        f"http://127.0.0.1:7071/api/stores/{store_id}/erasure",
        headers={"content-type": "application/json", **headers},
        route_params={"store_id": store_id},
        body=body,
    )


def test_erasure_route_redacts_and_records_the_signed_in_operator(
    functions, invoiced: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBSITE_SITE_NAME", "o2c-func")  # on Azure, where the platform sets the principal header
    request = erasure(
        WOO, json.dumps({"email": EMAIL}).encode(), **{"X-MS-CLIENT-PRINCIPAL-NAME": "marta@shop.example"}
    )
    response = functions["erase_customer"].get_user_function()(request)
    assert response.status_code == 200 and response.mimetype == "application/json"
    answer = json.loads(response.get_body())
    assert [(o["order_id"], o["documents_kept"]) for o in answer["orders"]] == [(WOO_ORDER, ["INV-000001"])]
    assert EMAIL not in response.get_body().decode()
    record = invoiced.state.get_order(WOO, WOO_ORDER)
    assert record is not None and record.order is not None and record.order.customer.email == MARKER
    last = invoiced.state.get_timeline(WOO, WOO_ORDER)[-1]
    assert (last.action, last.actor) == ("privacy.erased", "operator:marta@shop.example")


def test_erasure_route_without_a_signed_in_operator_records_the_function_key(
    functions, invoiced: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBSITE_SITE_NAME", "o2c-func")
    response = functions["erase_customer"].get_user_function()(erasure(WOO, b'{"tax_id": "B58378431"}'))
    assert response.status_code == 200
    assert invoiced.state.get_timeline(WOO, WOO_ORDER)[-1].actor == "operator:function-key"


def test_erasure_route_run_locally_records_the_operating_system_user(functions, invoiced: Services) -> None:
    from shared.actor import local_actor

    request = erasure(WOO, b'{"tax_id": "B58378431"}', **{"X-MS-CLIENT-PRINCIPAL-NAME": "someone-else"})
    response = functions["erase_customer"].get_user_function()(request)
    assert response.status_code == 200
    assert invoiced.state.get_timeline(WOO, WOO_ORDER)[-1].actor == local_actor()


def test_erasure_route_is_an_operator_route(functions) -> None:
    trigger = functions["erase_customer"].get_trigger().get_dict_repr()
    assert trigger["authLevel"] == func.AuthLevel.FUNCTION


@pytest.mark.parametrize(
    ("store_id", "body", "status"),
    [
        ("nowhere", b'{"email": "lucia.fernandez@example.com"}', 404),
        (WOO, b"", 400),
        (WOO, b"{not json", 400),
        (WOO, b'["lucia.fernandez@example.com"]', 400),
        (WOO, b'{"mail": "lucia.fernandez@example.com"}', 400),
        (WOO, b'{"email": 42}', 400),
        (WOO, b'{"email": "lucia.fernandez@example.com", "tax_id": "B58378431"}', 400),
    ],
)
def test_erasure_route_refuses_bad_requests_with_problem_json_and_changes_nothing(
    functions, invoiced: Services, store_id: str, body: bytes, status: int
) -> None:
    before = invoiced.state.dump()  # type: ignore[attr-defined]
    response = functions["erase_customer"].get_user_function()(erasure(store_id, body))
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    assert json.loads(response.get_body())["status"] == status
    assert invoiced.state.dump() == before  # type: ignore[attr-defined]


# -- the CLI ---------------------------------------------------------------------------------------------


@pytest.fixture
def cli_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LOCAL_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("STORES_DIR", str(ROOT / "config" / "stores"))
    # The app settings the CLI loads, set before the test seeds the state through the same services.
    for name, value in json.loads((ROOT / "local.settings.example.json").read_text())["Values"].items():
        monkeypatch.setenv(name, str(value))
    override_services(None)
    yield tmp_path
    override_services(None)


def test_cli_erase_redacts_the_customer_and_records_the_operating_system_user(cli_state: Path, capsys) -> None:
    order = Order(
        channel="woocommerce",
        store_id=WOO,
        order_id="77",
        number="77",
        currency="EUR",
        created_at="2026-01-05T10:00:00Z",
        updated_at="2026-01-05T10:00:00Z",
        total="12.10",
        customer=Customer(name="Lucía Fernández Ruiz", email=EMAIL, tax_id="B58378431"),
    )
    services().state.save_order(OrderRecord(store_id=WOO, order_id="77", order=order))
    assert main(["erase", WOO, "--email", EMAIL]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert [o["order_id"] for o in answer["orders"]] == ["77"] and answer["actor"] == f"operator:{getpass.getuser()}"
    record = services().state.get_order(WOO, "77")
    assert record is not None and record.order is not None
    assert (record.order.customer.name, record.order.customer.tax_id) == (MARKER, MARKER)
    assert services().state.get_timeline(WOO, "77")[-1].actor == f"operator:{getpass.getuser()}"


def test_cli_erase_refuses_an_unknown_store_and_a_request_naming_both(cli_state: Path, capsys) -> None:
    assert main(["erase", "nowhere", "--email", EMAIL]) == 2
    assert "Unknown store" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        main(["erase", WOO, "--email", EMAIL, "--tax-id", "B58378431"])
    assert refused.value.code == 2


# -- the timer's schedule --------------------------------------------------------------------------------


def test_the_retention_timer_reads_its_schedule_from_a_setting_every_environment_defines(functions, bicep) -> None:
    trigger = functions["apply_retention"].get_trigger().get_dict_repr()
    assert trigger["type"] == "timerTrigger" and trigger["schedule"] == "%RetentionSchedule%"
    local = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]["RetentionSchedule"]
    azure = {s["name"]: s["value"] for s in bicep["modules/functionapp.bicep"].variables["timerSettings"]}
    assert azure["RetentionSchedule"] == local == "0 30 3 * * *"  # once a day, at night (UTC)
