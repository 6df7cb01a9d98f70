"""Keyed locks: one lock per key, so that work on one key waits and other keys go on."""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from contextlib import ExitStack, contextmanager


class KeyedLocks:
    """One lock per key, kept only while a thread holds or waits for it. Thread-safe.

    Written here because the standard library has no keyed lock and 20 lines do not justify a dependency.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[Hashable, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, *keys: Hashable) -> Iterator[None]:
        """Hold every key's lock; taken in sorted order, so two holders of overlapping keys cannot deadlock."""
        with ExitStack() as stack:
            for key in sorted(set(keys), key=repr):
                stack.enter_context(self._one(key))
            yield

    @contextmanager
    def _one(self, key: Hashable) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
