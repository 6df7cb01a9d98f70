"""Queue names agree everywhere: function_app's trigger bindings (%Setting%), local.settings.example.json,
the Bicep app settings and the Service Bus queues Bicep creates."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from local.registry import registered_functions  # get_functions() may run only once per app

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = {
    "OrderEventsQueue": "order-events",
    "InvoiceRequestsQueue": "invoice-requests",
    "StockUpdatesQueue": "stock-updates",
    "PaymentEventsQueue": "payment-events",
}


def _trigger_bindings() -> list[dict[str, Any]]:
    # Not skipped when function_app does not import: a broken import makes every function vanish on Azure.
    import function_app

    bindings = []
    for function in registered_functions(function_app.app).values():
        for binding in function.get_bindings():
            data = binding.get_dict_repr()
            if data["type"] == "serviceBusTrigger":
                bindings.append({**data, "function": function.get_function_name()})
    return bindings


def test_every_service_bus_trigger_reads_its_queue_name_from_a_known_setting() -> None:
    bindings = _trigger_bindings()
    settings = {re.fullmatch(r"%(\w+)%", b["queueName"]).group(1) for b in bindings}  # type: ignore[union-attr]
    assert settings == set(EXPECTED)
    assert all(b["connection"] == "ServiceBusConnection" for b in bindings)
    assert all(b.get("isSessionsEnabled") is True for b in bindings)


def test_local_settings_name_the_same_queues() -> None:
    values = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    assert {name: values[name] for name in EXPECTED} == EXPECTED
    assert "ServiceBusConnection" in values


def test_bicep_app_settings_and_queues_name_the_same_queues(bicep: dict[str, Any]) -> None:
    settings = {item["name"]: item["value"] for item in bicep["modules/functionapp.bicep"].variables["queueSettings"]}
    assert settings == EXPECTED
    assert sorted(bicep["main.bicep"].variables["queueNames"]) == sorted(EXPECTED.values())
    queues = bicep["modules/servicebus.bicep"].of_type("Microsoft.ServiceBus/namespaces/queues")
    assert queues and queues[0].body["name"] == "queue"  # one queue per name in queueNames
    assert bicep["main.bicep"].modules["serviceBus"]["params"]["queueNames"] == "queueNames"


def test_host_json_configures_session_triggers_and_the_api_prefix() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    assert host["extensions"]["http"]["routePrefix"] == "api"
    service_bus = host["extensions"]["serviceBus"]
    assert service_bus["maxConcurrentSessions"] >= 1
    assert service_bus["autoCompleteMessages"] is True
    assert host["telemetryMode"] == "OpenTelemetry"
    # host.json holds no queue names: triggers resolve them from app settings.
    assert not any(queue in json.dumps(host) for queue in EXPECTED.values())
