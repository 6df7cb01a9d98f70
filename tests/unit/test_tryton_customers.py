"""New Tryton customers are created one at a time per customer key, in this process (KeyedLocks)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from shared.targets.tryton.locks import KeyedLocks


def _run_together(*targets: Callable[[], object]) -> None:
    threads = [threading.Thread(target=t) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads), "deadlock"


def test_holders_of_one_key_take_turns_and_the_lock_is_forgotten_afterwards() -> None:
    locks = KeyedLocks()
    inside: list[int] = []
    most = [0]

    def create_customer() -> None:
        with locks.hold(("erp", "email", "lucia@example.com")):
            inside.append(1)
            most[0] = max(most[0], len(inside))
            time.sleep(0.02)
            inside.pop()

    _run_together(*[create_customer] * 6)
    assert most[0] == 1
    assert len(locks) == 0


def test_different_keys_do_not_wait_for_each_other() -> None:
    locks = KeyedLocks()
    both_inside = threading.Barrier(2, timeout=5)

    def create(key: str) -> None:
        with locks.hold(("erp", "email", key)):
            both_inside.wait()  # raises BrokenBarrierError if the other one could not get in

    _run_together(lambda: create("a@example.com"), lambda: create("b@example.com"))
    assert both_inside.broken is False


def test_overlapping_keys_taken_in_any_order_do_not_deadlock() -> None:
    locks = KeyedLocks()
    tax_id, email = ("erp", "tax_id", "ESB58378431"), ("erp", "email", "lucia@example.com")
    done: list[str] = []

    def first() -> None:
        for _ in range(50):
            with locks.hold(tax_id, email):
                done.append("first")

    def second() -> None:
        for _ in range(50):
            with locks.hold(email, tax_id):
                done.append("second")

    _run_together(first, second)
    assert len(done) == 100 and len(locks) == 0
