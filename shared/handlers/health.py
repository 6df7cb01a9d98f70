"""Health: can we read state, which stores are loaded and which store files were refused, how full the queues
are (where the bus can tell)."""

from __future__ import annotations

import dataclasses
from typing import Any

from shared.bootstrap import QUEUE_SETTINGS, Services, queue_name
from shared.handlers.common import log


def health_report(services: Services) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    status = "ok"
    try:
        services.state.list_orders(limit=1)
        checks["state"] = "ok"
    except Exception as error:  # health must answer whatever broke
        log.warning("health: state unreachable: %s", type(error).__name__)
        checks["state"] = f"error: {type(error).__name__}"
        status = "degraded"
    checks["stores"] = sorted(services.stores)
    refused = refused_store_files(services)
    if refused:
        checks["store_files"] = refused
        status = "degraded"
    stats = getattr(services.bus, "stats", None)
    if callable(stats):
        checks["queues"] = {name: _plain(stats(queue_name(name))) for name in QUEUE_SETTINGS}
    return {"status": status, "checks": checks}


def refused_store_files(services: Services) -> list[dict[str, str]]:
    """Each reason a store file was refused at load (file, key, reason, store id); its store is not served."""
    return [
        {"store_id": store_id, **problem.as_dict()}
        for store_id, problems in sorted(services.broken.items())
        for problem in problems
    ]


def _plain(value: Any) -> Any:
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) and not isinstance(value, type) else value
