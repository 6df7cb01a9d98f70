"""Operations: what a person sees of an order and what they can do about it (retry)."""

from __future__ import annotations

from typing import Any

from shared import texts
from shared.bootstrap import Services
from shared.domain import lifecycle
from shared.domain.commands import RevalidateOrder
from shared.domain.order import OrderState
from shared.domain.records import OrderRecord, Problem, TimelineEntry
from shared.errors import NothingToRetry, UnknownOrder, UnknownStore, Unreadable
from shared.fiscal.verifactu.correction import correct_records, to_correct
from shared.handlers.common import entry, entry_json, problem_json, update_order
from shared.handlers.messages import send
from shared.handlers.orders import follow_up


def retry_order(services: Services, store_id: str, order_id: str, actor: str = "operator") -> OrderRecord:
    """Release a held or failed order: check it again, or resume after its invoice.

    Raises UnknownStore, UnknownOrder, or NothingToRetry for an order that is neither held nor failed."""
    if services.store(store_id) is None:
        raise UnknownStore("Unknown store", f"No store '{store_id}' is configured here.")
    existing = services.state.get_order(store_id, order_id)
    if existing is None:
        raise UnknownOrder("Unknown order", f"Order '{order_id}' of store '{store_id}' is not known.")

    done = {t.action for t in services.state.get_timeline(store_id, order_id)}
    corrections = to_correct(services, existing)

    def mutate(record: OrderRecord) -> list[TimelineEntry]:
        if record.state not in lifecycle.RETRYABLE_STATES:
            raise NothingToRetry(
                "Nothing to retry", f"The order is '{record.state}'; only held or failed orders are retried."
            )
        record.attempt += 1
        record.problems = []
        lifecycle.move(record, lifecycle.resumed_state(record, done))
        return [
            entry(
                actor,
                "retry.requested",
                "timeline.retry_requested",
                attempt=record.attempt,
            )
        ]

    record = update_order(services, store_id, order_id, mutate)
    correct_records(services, record, corrections)  # VERI*FACTU: re-send what the AEAT refused, as a subsanación
    if record.state == OrderState.RECEIVED and record.order is not None:
        send(
            services, RevalidateOrder(store_id=store_id, order_id=order_id, attempt=record.attempt, requested_by=actor)
        )
    else:
        follow_up(services, record)
    return record


def mark_failed(services: Services, store_id: str, order_id: str, stage: str, reason: str) -> None:
    """The last delivery of a message failed: the order is `failed` (dead-lettered, replayable)."""
    problem = Problem(
        code="processing_failed",
        field=stage,
        found=reason[:300],
    )

    def mutate(record: OrderRecord) -> list[TimelineEntry]:
        lifecycle.move(record, OrderState.FAILED)
        record.problems = [problem]
        return [
            entry(
                stage,
                OrderState.FAILED.value,
                "timeline.failed",
                reason=reason[:200],
            )
        ]

    update_order(services, store_id, order_id, mutate, create=True)


def order_summary(record: OrderRecord, lang: str = texts.DEFAULT_LANGUAGE) -> dict[str, Any]:
    """The order as shown to people and over the API: amounts and items, no e-mail or street address.

    Sentences are rendered in lang (`?lang=` or Accept-Language at the edge; English by default).
    """
    order = record.order
    summary: dict[str, Any] = {
        "lang": lang,
        "store_id": record.store_id,
        "order_id": record.order_id,
        "state": record.state.value,
        "attempt": record.attempt,
        "changed_at": record.changed_at.isoformat(),
        "problems": [problem_json(p, lang) for p in record.problems],
        "documents": [d.model_dump(mode="json") for d in record.documents],
    }
    if order is not None:
        summary["order"] = {
            "number": order.number,
            "channel": order.channel,
            "status": order.status,
            "currency": order.currency,
            "total": str(order.total),
            "tax_total": str(order.tax_total),
            "created_at": order.created_at.isoformat(),
            "updated_at": order.updated_at.isoformat(),
            "country": order.customer.billing.country,
            "lines": [
                {"sku": line.sku, "name": line.name, "quantity": str(line.quantity), "total": str(line.total)}
                for line in order.lines
            ],
            "refunds": [{"refund_id": r.refund_id, "amount": str(r.amount)} for r in order.refunds],
        }
    return summary


def order_detail(
    services: Services, store_id: str, order_id: str, lang: str = texts.DEFAULT_LANGUAGE
) -> dict[str, Any]:
    record = services.state.get_order(store_id, order_id)
    if record is None:
        raise UnknownOrder("Unknown order", f"Order '{order_id}' of store '{store_id}' is not known.")
    detail = order_summary(record, lang)
    detail["timeline"] = [entry_json(t, lang) for t in services.state.get_timeline(store_id, order_id)]
    return detail


def list_orders(
    services: Services, store_id: str | None, state: str | None, limit: str | None, lang: str = texts.DEFAULT_LANGUAGE
) -> dict[str, Any]:
    if state and state not in {s.value for s in OrderState}:
        raise Unreadable("Unknown state", f"'{state}' is not an order state.")
    try:
        count = int(limit) if limit else 50
    except ValueError as exc:
        raise Unreadable("Bad limit", "limit must be a whole number.") from exc
    if not 1 <= count <= 1000:
        raise Unreadable("Bad limit", "limit must be between 1 and 1000.")
    records = services.state.list_orders(store_id or None, state or None, count)
    return {"orders": [order_summary(r, lang) for r in records], "count": len(records)}
