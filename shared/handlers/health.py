"""Health: is the state store reachable, the bus reachable, the document store writable; which stores are
loaded and which store files were refused; how full the queues are (where the bus can tell). Any failing check
makes the report fail and is named (the edge answers 503)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from shared.bootstrap import QUEUE_SETTINGS, Services, queue_name
from shared.errors import IntegrationError
from shared.handlers.common import log
from shared.ports import CountsQueues, Pingable


def health_report(services: Services) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    failing: list[str] = []
    probes: dict[str, Callable[[Services], Any]] = {
        "state": state_check,
        "bus": bus_check,
        "documents": document_store_check,
    }
    for name, probe in probes.items():
        try:
            detail = probe(services)
        except Exception as error:  # health must answer whatever broke
            log.warning("health: %s check failed: %s", name, type(error).__name__)
            checks[name] = f"error: {_reason(error)}"
            failing.append(name)
            continue
        checks[name] = "ok"
        if detail:
            checks["queues"] = detail
    checks["stores"] = sorted(services.stores)
    refused = refused_store_files(services)
    if refused:
        checks["store_files"] = refused
        failing.append("store_files")
    report: dict[str, Any] = {"status": "degraded" if failing else "ok", "failing": failing, "checks": checks}
    try:
        webhooks = webhook_checks(services)
    except Exception:  # health must answer whatever broke; a broken state store is named by its own check
        webhooks = {}
    if webhooks:
        checks["webhooks"] = webhooks
        # A store-side problem, not this instance's: named as a warning so a platform health probe does not take
        # a healthy instance out of rotation for it (the catch-up poll still brings the orders).
        if any(store["unhealthy"] for store in webhooks.values()):
            report["warnings"] = ["webhooks"]
    return report


def webhook_checks(services: Services) -> dict[str, Any]:
    """The last webhook health finding per store (shared.handlers.webhook_health): only what is not ok."""
    from shared.handlers.webhook_health import last_checks

    found = {}
    for store_id, result in last_checks(services).items():
        bad = [check for check in result.get("checks", []) if check["finding"] != "ok"]
        found[store_id] = {
            "checked_at": result["checked_at"],
            "unhealthy": result["unhealthy"],
            "problems": [{"topic": c["topic"], "finding": c["finding"]} for c in bad],
        } | ({"error": result["error"]} if "error" in result else {})
    return found


def state_check(services: Services) -> None:
    services.state.list_orders(limit=1)


def bus_check(services: Services) -> dict[str, Any] | None:
    """Service Bus: each queue's link opens. The local bus: each queue's counts (returned for the report)."""
    queues = [queue_name(name) for name in QUEUE_SETTINGS]
    if isinstance(services.bus, Pingable):
        services.bus.ping(queues)
    if isinstance(services.bus, CountsQueues):
        return {name: _plain(services.bus.stats(queue_name(name))) for name in QUEUE_SETTINGS}
    return None


def document_store_check(services: Services) -> None:
    """A document could be written now (the probe writes no document)."""
    services.document_store.check_writable()


def _reason(error: Exception) -> str:
    """Our own errors say what is wrong in words safe to show; others show only their type (an SDK message
    can carry an endpoint or a request id, never needed here)."""
    if isinstance(error, IntegrationError):
        return f"{type(error).__name__}: {str(error)[:200]}"
    return type(error).__name__


def refused_store_files(services: Services) -> list[dict[str, str]]:
    """Each reason a store file was refused at load (file, key, reason, store id); its store is not served."""
    return [
        {"store_id": store_id, **problem.as_dict()}
        for store_id, problems in sorted(services.broken.items())
        for problem in problems
    ]


def _plain(value: Any) -> Any:
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) and not isinstance(value, type) else value
