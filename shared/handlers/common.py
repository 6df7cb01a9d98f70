"""Small pieces every handler uses: change an order record safely and say so on its timeline."""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal

from shared.bootstrap import Services
from shared.domain import lifecycle
from shared.domain.order import OrderState
from shared.domain.records import OrderRecord, Problem, TimelineEntry
from shared.errors import PermanentError, RetryableError
from shared.ports import ConcurrencyError

log = logging.getLogger("o2c")

Mutation = Callable[[OrderRecord], list[TimelineEntry]]


def update_order(
    services: Services, store_id: str, order_id: str, mutate: Mutation, *, create: bool = False, attempts: int = 8
) -> OrderRecord:
    """Load, mutate and save the order with optimistic concurrency, its timeline entries in the same step.

    `mutate` may run more than once (after a lost race) and must only change the record it is given.
    Raises RetryableError if the race is lost `attempts` times in a row, KeyError if the order is
    unknown and `create` is false.
    """
    for _ in range(attempts):
        record = services.state.get_order(store_id, order_id)
        if record is None:
            if not create:
                raise KeyError(f"unknown order {store_id}/{order_id}")
            record = OrderRecord(store_id=store_id, order_id=order_id)
        entries = mutate(record)
        if not entries and record.version:
            return record  # nothing changed
        try:
            return services.state.save_order(record, entries)
        except ConcurrencyError:
            continue
    raise RetryableError(f"order {store_id}/{order_id} kept changing; will retry")


def entry(actor: str, action: str, detail: str = "", *, detail_es: str = "", **data: object) -> TimelineEntry:
    """A timeline entry; `detail` and `detail_es` say the same for people, with the same figures."""
    return TimelineEntry(actor=actor, action=action, detail=detail, detail_es=detail_es, data=dict(data))


def hold(record: OrderRecord, problems: list[Problem], actor: str) -> list[TimelineEntry]:
    """Put the order in `held` with its problems; returns the timeline entry to append."""
    lifecycle.move(record, OrderState.HELD)
    record.problems = problems
    codes = ", ".join(p.code for p in problems)
    return [
        entry(
            actor,
            OrderState.HELD.value,
            f"Held: {codes}",
            detail_es=f"Retenido: {codes}",
            problems=[p.model_dump() for p in problems],
        )
    ]


def problem_from_error(error: PermanentError) -> Problem:
    """A permanent refusal (from a target or a mapper) as a problem a person can act on."""
    return Problem(
        code=error.code,
        field="",
        found=error.detail,
        message_en=error.message,
        message_es=error.message_es,
    )


def format_number(prefix: str, number: str, digits: int) -> str:
    return f"{prefix}{int(number):0{digits}d}"


CENT = Decimal("0.01")


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)
