"""The functions an app registered. FunctionApp.get_functions() may run once per app (a second call
fails its unique-name check), so every reader in this process goes through this cache."""

from __future__ import annotations

import threading
from typing import Any

import azure.functions as func

_lock = threading.Lock()
_cache: dict[int, dict[str, Any]] = {}


def registered_functions(app: func.FunctionApp) -> dict[str, Any]:
    """Function name → the azure.functions Function object (trigger, bindings, user function)."""
    with _lock:
        if id(app) not in _cache:
            _cache[id(app)] = {f.get_function_name() or "": f for f in app.get_functions()}
        return _cache[id(app)]
