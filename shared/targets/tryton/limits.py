"""Rate limiting of the calls to Tryton: a token bucket (requests per second with bursts), a concurrency gate
per store and process, and the backoff between retries."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from shared.stores import TrytonSettings


class TokenBucket:
    """Requests per second with bursts: `acquire` blocks until a token is free. Thread-safe."""

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return waited
                delay = (1 - self._tokens) / self.rate
            self._sleep(delay)
            waited += delay


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_seconds: float = 0.5
    cap_seconds: float = 8.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2^attempt)]; Retry-After wins."""
        if retry_after is not None:
            return min(retry_after, self.cap_seconds * 4)
        return random.uniform(0, min(self.cap_seconds, self.base_seconds * 2**attempt))


@dataclass
class _StoreLimits:
    bucket: TokenBucket
    slots: threading.BoundedSemaphore


_limits: dict[str, _StoreLimits] = {}
_limits_lock = threading.Lock()


def store_limits(store_id: str, settings: TrytonSettings) -> _StoreLimits:
    """One bucket and one concurrency gate per store and process, shared by every client of that store."""
    with _limits_lock:
        limits = _limits.get(store_id)
        if limits is None:
            limits = _StoreLimits(
                TokenBucket(settings.requests_per_second, settings.burst),
                threading.BoundedSemaphore(settings.max_concurrency),
            )
            _limits[store_id] = limits
        return limits
