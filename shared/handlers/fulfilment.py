"""After the invoice: stock moves and payment, for targets that keep stock and collect (an ERP).

A target that is not shared.ports.Ships / RecordsPayments (the UBL outbox) leaves the order `invoiced`.
"""

from __future__ import annotations

from shared.bootstrap import Services
from shared.domain import lifecycle
from shared.domain.commands import RecordPayment, SyncStock
from shared.domain.order import OrderState
from shared.domain.records import OrderRecord, TimelineEntry
from shared.errors import NothingToDo, PermanentError
from shared.handlers import stock
from shared.handlers.common import entry, hold, problem_from_error, update_order
from shared.handlers.messages import send
from shared.ports import RecordsPayments, ReportsStock, Ships, Target

ACTOR = "fulfilment"


def _invoiced(services: Services, store_id: str, order_id: str) -> tuple[Target, OrderRecord]:
    settings = services.loaded_store(store_id)
    record = services.state.get_order(store_id, order_id)
    if settings is None or record is None or record.order is None or record.document("invoice") is None:
        raise NothingToDo(f"order {store_id}/{order_id} has no invoice yet")
    return services.target(settings), record


def _refused(services: Services, record: OrderRecord, error: PermanentError) -> None:
    update_order(services, record.store_id, record.order_id, lambda r: hold(r, [problem_from_error(error)], ACTOR))


def sync_stock(services: Services, message: SyncStock) -> OrderRecord | None:
    """Ship the order in the target so stock moves; then record the payment if the order is paid."""
    target, record = _invoiced(services, message.store_id, message.order_id)
    if not isinstance(target, Ships):
        raise NothingToDo(f"target {target.name} does not ship_order")
    assert record.order is not None
    if record.state == OrderState.INVOICED:
        try:
            target.ship_order(record.order)
        except PermanentError as error:
            _refused(services, record, error)
            return None

        def mutate(current: OrderRecord) -> list[TimelineEntry]:
            if current.state != OrderState.INVOICED:
                return []
            lifecycle.move(current, OrderState.STOCK_SYNCED)
            return [
                entry(
                    ACTOR,
                    OrderState.STOCK_SYNCED.value,
                    "timeline.stock_synced",
                )
            ]

        record = update_order(services, record.store_id, record.order_id, mutate)
        if record.order is not None and record.state == OrderState.STOCK_SYNCED and isinstance(target, ReportsStock):
            settings = services.loaded_store(record.store_id)
            if settings is not None:
                stock.after_shipment(services, settings, [line.sku for line in record.order.lines])
    if record.order is not None and record.order.paid_at is not None and isinstance(target, RecordsPayments):
        send(services, RecordPayment(store_id=record.store_id, order_id=record.order_id, attempt=record.attempt))
    return record


def record_payment(services: Services, message: RecordPayment) -> OrderRecord | None:
    """Record the store's payment against the invoice, once."""
    target, record = _invoiced(services, message.store_id, message.order_id)
    if not isinstance(target, RecordsPayments):
        raise NothingToDo(f"target {target.name} does not record_payment")
    order = record.order
    invoice = record.document("invoice")
    assert order is not None and invoice is not None
    if record.state == OrderState.PAID or order.paid_at is None:
        return record
    try:
        target.record_payment(order, invoice, order.total, order.paid_at)
    except PermanentError as error:
        _refused(services, record, error)
        return None

    def mutate(current: OrderRecord) -> list[TimelineEntry]:
        if current.state not in (OrderState.INVOICED, OrderState.STOCK_SYNCED):
            return []
        lifecycle.move(current, OrderState.PAID)
        return [
            entry(
                ACTOR,
                OrderState.PAID.value,
                "timeline.paid",
                total=str(order.total),
                currency=order.currency,
            )
        ]

    return update_order(services, record.store_id, record.order_id, mutate)
