"""Small pieces every handler uses: change an order record safely and say so on its timeline."""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from shared import texts
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


def entry(actor: str, action: str, text: str = "", **data: object) -> TimelineEntry:
    """A timeline entry; `text` is its sentence's catalog key ("timeline.<name>"), filled from data when read."""
    return TimelineEntry(actor=actor, action=action, text=text, data=dict(data))


def hold(record: OrderRecord, problems: list[Problem], actor: str) -> list[TimelineEntry]:
    """Put the order in `held` with its problems; returns the timeline entry to append."""
    lifecycle.move(record, OrderState.HELD)
    record.problems = problems
    codes = ", ".join(p.code for p in problems)
    return [
        entry(
            actor,
            OrderState.HELD.value,
            "timeline.held",
            codes=codes,
            problems=[p.model_dump() for p in problems],
        )
    ]


def problem_from_error(error: PermanentError) -> Problem:
    """A permanent refusal (from a target or a mapper) as a problem a person can act on."""
    if error.keyed:
        return Problem(code=error.code, found=error.detail, data=error.data, text=error.key)
    return Problem(code=error.code, found=error.detail, message_en=error.message, message_es=error.message_es)


def problem_json(problem: Problem, lang: str = texts.DEFAULT_LANGUAGE) -> dict[str, Any]:
    """A problem for the API: its stored fields, `message` in lang, and the English and Spanish sentences."""
    return {
        **problem.model_dump(mode="json"),
        "message": problem.message(lang),
        "message_en": problem.message("en"),
        "message_es": problem.message("es"),
    }


def entry_json(entry_: TimelineEntry, lang: str = texts.DEFAULT_LANGUAGE) -> dict[str, Any]:
    """A timeline entry for the API: its stored fields, `description` in lang, `detail`/`detail_es` as before."""
    return {
        **entry_.model_dump(mode="json"),
        "description": entry_.describe(lang),
        "detail": entry_.describe("en"),
        "detail_es": entry_.describe("es"),
    }


def format_number(prefix: str, number: str, digits: int) -> str:
    return f"{prefix}{int(number):0{digits}d}"


CENT = Decimal("0.01")


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)
