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


class _BusyErp:
    """A Tryton whose answer to the party create is lost (a timeout) after it committed."""

    def __init__(self) -> None:
        self.parties: list[dict[str, object]] = []

    def search_read(self, model: str, domain: list[object], fields: list[str], **_: object) -> list[dict[str, object]]:
        if model == "party.contact_mechanism":
            email = domain[1][2]  # type: ignore[index]
            return [{"party": i + 1} for i, p in enumerate(self.parties) if p.get("email") == email]
        return []

    def create(self, model: str, values: list[dict[str, object]]) -> list[int]:
        from shared.targets.tryton.rpc import UncertainOutcome

        contact = values[0]["contact_mechanisms"][0][1][0]  # type: ignore[index]
        self.parties.append({"email": contact["value"]})
        raise UncertainOutcome("timed out after sending")


def test_a_party_create_whose_answer_is_lost_is_found_not_created_again() -> None:
    from shared.domain.order import Address, Customer, Order
    from shared.stores import TrytonSettings
    from shared.targets.tryton.customers import Customers

    erp = _BusyErp()
    customers = Customers.__new__(Customers)
    customers.settings = TrytonSettings(customer_match="email")
    customers.rpc = erp  # type: ignore[assignment]
    order = Order.model_construct(
        order_id="4711",
        number="4711",
        store_id="erp-woo",
        customer=Customer.model_construct(
            name="Lucía Fernández", email="lucia@example.com", tax_id="", billing=Address.model_construct()
        ),
    )
    party = customers._create_party(order, "lucia@example.com", "")
    assert party == 1
    assert len(erp.parties) == 1
