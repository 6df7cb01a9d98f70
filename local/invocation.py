"""Invocation: load the function app and call one of its functions the way the Functions host does,
with its trigger value and a `context` (invocation id, trace and retry context)."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
import threading
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import azure.functions as func
from azure.functions import _abc as azf_abc
from azure.functions.decorators.function_app import Function

from local.config import ROOT
from local.registry import registered_functions
from shared.errors import ConfigError


def load_function_app(module_name: str) -> tuple[ModuleType, list[Function]]:
    """Import the app module and return its functions. An import error stops the host loudly: on Azure
    it would make every function silently vanish."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    module = importlib.import_module(module_name)
    apps = [value for value in vars(module).values() if isinstance(value, func.FunctionApp)]
    if not apps:
        raise ConfigError(f"{module_name}: no FunctionApp instance found")
    functions: list[Function] = []
    for app in apps:
        # Through the shared cache: a second app.get_functions() in one process fails its name check.
        functions.extend(registered_functions(app).values())
    return module, functions


def trigger_type(function: Function) -> str:
    trigger = function.get_trigger()
    return trigger.get_binding_name() if trigger is not None else ""


@dataclass
class InvocationContext(func.Context):
    """What a function gets for a `context` parameter; only the fields a local run can fill."""

    _invocation_id: str
    _function_name: str
    _trace_parent: str = ""
    _trace_state: str = ""
    _retry_count: int = 0
    _max_retry_count: int = 0
    _attributes: dict[str, str] = field(default_factory=dict)
    _thread_local: threading.local = field(default_factory=threading.local)

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._thread_local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return str(ROOT)

    @property
    def trace_context(self) -> Any:
        return TraceContext(self._trace_parent, self._trace_state, self._attributes)

    @property
    def retry_context(self) -> Any:
        return RetryContext(self._retry_count, self._max_retry_count)


@dataclass
class TraceContext(azf_abc.TraceContext):
    _trace_parent: str
    _trace_state: str
    _attributes: dict[str, str]

    @property
    def trace_parent(self) -> str:
        return self._trace_parent

    @property
    def trace_state(self) -> str:
        return self._trace_state

    @property
    def attributes(self) -> dict[str, str]:
        return self._attributes


@dataclass
class RetryContext(azf_abc.RetryContext):
    _retry_count: int
    _max_retry_count: int

    @property
    def retry_count(self) -> int:
        return self._retry_count

    @property
    def max_retry_count(self) -> int:
        return self._max_retry_count

    @property
    def exception(self) -> Any:
        return None


def invoke(function: Function, trigger_value: Any, context: InvocationContext) -> Any:
    """Call the user function with its trigger argument (and `context` if it asks for one)."""
    trigger = function.get_trigger()
    assert trigger is not None
    user_function = function.get_user_function()
    parameters = inspect.signature(user_function).parameters
    kwargs: dict[str, Any] = {trigger.name: trigger_value}
    if "context" in parameters and trigger.name != "context":
        kwargs["context"] = context
    result = user_function(**kwargs)
    if inspect.isawaitable(result):
        result = asyncio.run(_await(result))
    return result


async def _await(awaitable: Any) -> Any:
    return await awaitable


def unsupported_parameters(function: Function) -> list[str]:
    trigger = function.get_trigger()
    parameters = inspect.signature(function.get_user_function()).parameters
    known = {trigger.name if trigger else "", "context"}
    return [name for name in parameters if name not in known]
