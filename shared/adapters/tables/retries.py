"""What a Table Storage fault means for a retry: passing faults become RetryableError, so the bus
redelivers; refusals (404, 409, 412) reach the method that knows what they mean."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from shared.adapters.claimcheck import passing_faults as passing_storage_faults

P = ParamSpec("P")
R = TypeVar("R")


def passing_faults(method: Callable[P, R]) -> Callable[P, R]:
    """Map network faults, throttling (429) and server errors (5xx) to RetryableError."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with passing_storage_faults("Table Storage"):
            return method(*args, **kwargs)

    return wrapper
