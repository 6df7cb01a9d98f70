"""The Tryton target is put together from one class per concern; its capabilities run the real work."""

from __future__ import annotations

import inspect
from typing import Protocol

from shared.targets.tryton import TrytonTarget


def test_each_declared_capability_runs_the_tryton_implementation_not_the_protocol_stub() -> None:
    capabilities = [base for base in TrytonTarget.__mro__ if Protocol in base.__bases__]
    assert capabilities, "TrytonTarget declares its capabilities as protocols"
    for capability in capabilities:
        for name, _ in inspect.getmembers(capability, inspect.isfunction):
            if name.startswith("_"):
                continue
            owner = next(base for base in TrytonTarget.__mro__ if name in vars(base))
            assert owner.__module__.startswith("shared.targets.tryton."), f"{name} comes from {owner.__name__}"
