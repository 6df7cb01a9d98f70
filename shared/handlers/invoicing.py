"""Invoicing: issue the invoice exactly once, and a credit note exactly once per refund or cancellation.

Exactly once rests on three locks (ARCHITECTURE "No duplicates, nothing lost"): the bus drops a
repeated command; the state claim on (store, order, document) is taken with insert-if-absent and
carries the document number from a gap-free series; after an uncertain outcome the target is asked
for the document by our number before it is created again.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from shared.bootstrap import Services
from shared.channels.store_api import can_fetch_refunds, fetch_refund
from shared.domain import lifecycle
from shared.domain.commands import CancelOrder, IssueCreditNote, IssueInvoice
from shared.domain.lifecycle import CANCEL_REFUND_ID
from shared.domain.order import ZERO, Order, OrderState, Refund, RefundLine
from shared.domain.records import DocumentRef, OrderRecord, Problem, TimelineEntry
from shared.domain.rules import validate_refund, with_default_buyer
from shared.errors import NothingToDo, PermanentError, RetryableError
from shared.fiscal.verifactu import record_document
from shared.handlers.common import entry, format_number, hold, log, problem_from_error, update_order
from shared.handlers.orders import changed_after_invoicing, follow_up, invoiced_content
from shared.handlers.privacy import refuse_redacted
from shared.ports import AssignsNumbers, CancelsOrders, Preflights, Target
from shared.stores import StoreSettings
from shared.telemetry import count_order, record_target_call

ACTOR = "invoicing"


def _load(services: Services, store_id: str, order_id: str) -> tuple[StoreSettings, OrderRecord, Order]:
    settings = services.loaded_store(store_id)
    record = services.state.get_order(store_id, order_id)
    if settings is None or record is None or record.order is None:
        raise NothingToDo(f"order {store_id}/{order_id} or its store is unknown")
    # The buyer as the document names it: the store's default buyer for a consumer without data (validated).
    return settings, record, with_default_buyer(record.order, settings)


def _writes_paused(services: Services, settings: StoreSettings, order_id: str) -> bool:
    if settings.outgoing_writes:
        return False
    problem = PermanentError("outgoing_writes_paused")
    update_order(services, settings.store_id, order_id, lambda r: hold(r, [problem_from_error(problem)], ACTOR))
    return True


def _numbered(target: Target) -> bool:
    """Targets that number documents themselves (an ERP) get no number from our series."""
    return not isinstance(target, AssignsNumbers)


def _issue(
    services: Services,
    settings: StoreSettings,
    record: OrderRecord,
    claim_key: str,
    series: str,
    prefix: str,
    create: Callable[[Target, str], DocumentRef],
    preflight: Callable[[Any], None] | None = None,
) -> DocumentRef | None:
    """Check, claim, look up, create, complete. Returns None when the target refused (order held).

    A target that can tell in advance whether it will refuse (`preflight_*`, e.g. the UBL mapper) is asked
    before the claim takes a number, so a refused document leaves no gap in the series.
    """
    target = services.target(settings)
    numbered = _numbered(target)
    try:
        if record.order is not None:
            refuse_redacted(record.order)  # before a number is taken: a redacted snapshot names no buyer
        if preflight is not None:
            preflight(target)
        claim, _ = services.state.claim(settings.store_id, claim_key, series if numbered else None)
        if claim.status == "done":
            return DocumentRef.model_validate(claim.data["document"])
        number = format_number(prefix, claim.number, settings.invoice.number_digits) if numbered else ""
        document = create(target, number)
    except RetryableError:
        record_target_call(target.name, "retryable", settings.store_id)
        raise
    except PermanentError as error:
        record_target_call(target.name, "permanent", settings.store_id)
        count_order("held", settings.store_id)
        log.warning("target refused store=%s order=%s code=%s", record.store_id, record.order_id, error.code)
        problems = [problem_from_error(error)]
        update_order(services, record.store_id, record.order_id, lambda r: hold(r, problems, ACTOR))
        return None
    record_target_call(target.name, "ok", settings.store_id)
    services.state.complete_claim(settings.store_id, claim_key, {"document": document.model_dump(mode="json")})
    return document


def _fiscal_record(
    services: Services, settings: StoreSettings, record: OrderRecord, document: DocumentRef
) -> list[TimelineEntry]:
    """Spain: the VERI*FACTU record of the document, created once (a retry finds it); the timeline entry that
    says so goes with the document onto the order, so it appears exactly when the document does."""
    kept = record_document(services.state, services.document_store, settings, record, document, services.clock)
    if kept is None:
        return []
    fiscal = kept[0]
    data = {
        "seq": fiscal.seq,
        "invoice_type": fiscal.invoice_type,
        "number": fiscal.invoice_number,
        "hash_start": fiscal.hash[:12],
    }
    return [TimelineEntry(actor=ACTOR, action="verifactu.recorded", text="timeline.verifactu_recorded", data=data)]


def _add_document(record: OrderRecord, document: DocumentRef) -> bool:
    if record.document(document.kind, document.refund_id) is not None:
        return False
    record.documents.append(document)
    return True


def issue_invoice(services: Services, message: IssueInvoice) -> OrderRecord | None:
    """Issue the order's invoice once. Raises RetryableError for passing target faults."""
    settings, record, order = _load(services, message.store_id, message.order_id)
    if record.document("invoice") is None:
        if record.state != OrderState.VALIDATED:
            raise NothingToDo(f"order {record.store_id}/{record.order_id} is {record.state}, not validated")
        if _writes_paused(services, settings, record.order_id):
            return None

        def create(target: Target, number: str) -> DocumentRef:
            return target.find_document(order, "invoice", number) or target.issue_invoice(order, number)

        def preflight(target: Target) -> None:
            if isinstance(target, Preflights):
                target.preflight_invoice(order)

        document = _issue(
            services,
            settings,
            record,
            f"invoice:{order.order_id}",
            "invoice",
            settings.invoice.invoice_prefix,
            create,
            preflight,
        )
        if document is None:
            return None
        fiscal = _fiscal_record(services, settings, record, document)

        def mutate(current: OrderRecord) -> list[TimelineEntry]:
            if not _add_document(current, document):
                return []
            count_order("invoiced", current.store_id)
            entries = [
                entry(
                    ACTOR,
                    OrderState.INVOICED.value,
                    "timeline.invoiced",
                    number=document.number,
                    target=document.target,
                    total=str(document.total),
                    currency=document.currency,
                )
            ]
            # order-events runs beside this stage (sessions order one queue only): the store may have cancelled,
            # deleted or changed the order while the target was writing the invoice.
            if current.state == OrderState.CANCELLED and current.order is not None:
                lifecycle.move(current, OrderState.INVOICED)
                current.order.cancelled = True  # follow_up credits the invoice just issued
            elif current.order is not None and invoiced_content(current.order) != invoiced_content(order):
                entries += hold(current, [changed_after_invoicing(order, current.order)], ACTOR)
            elif current.state != OrderState.HELD:  # held by a later update: its problems stand
                lifecycle.move(current, OrderState.INVOICED)
            return entries + fiscal

        record = update_order(services, record.store_id, record.order_id, mutate)
    follow_up(services, record)
    return record


def cancellation_refund(order: Order, already: list[Refund]) -> Refund:
    """What a cancellation after invoicing credits: everything not refunded yet."""
    refunded_qty: dict[str, Decimal] = {}
    refunded_amount: dict[str, Decimal] = {}
    refunded_tax: dict[str, Decimal] = {}
    shipping_refunded = ZERO
    shipping_tax_refunded = ZERO
    for refund in already:
        shipping_refunded += refund.shipping
        shipping_tax_refunded += refund.shipping_tax
        for line in refund.lines:
            refunded_qty[line.line_id] = refunded_qty.get(line.line_id, ZERO) + line.quantity
            refunded_amount[line.line_id] = refunded_amount.get(line.line_id, ZERO) + line.amount
            refunded_tax[line.line_id] = refunded_tax.get(line.line_id, ZERO) + line.tax
    lines = []
    for sold in order.lines:
        amount = sold.total - refunded_amount.get(sold.line_id, ZERO)
        if amount <= ZERO:
            continue
        lines.append(
            RefundLine(
                line_id=sold.line_id,
                sku=sold.sku,
                quantity=max(sold.quantity - refunded_qty.get(sold.line_id, ZERO), ZERO),
                amount=amount,
                tax=sold.tax - refunded_tax.get(sold.line_id, ZERO),
            )
        )
    shipping = sum((c.amount for c in order.shipping), ZERO) - shipping_refunded
    shipping_tax = sum((c.tax for c in order.shipping), ZERO) - shipping_tax_refunded
    amount = sum((line.amount + line.tax for line in lines), ZERO) + shipping + shipping_tax
    # Refunds carry no fee lines, so fees are credited in full here; a refund that gave fee money back shows
    # as unallocated, and issue_credit_note caps the cancellation at what is left of the invoice.
    amount += sum((f.amount + f.tax for f in order.fees), ZERO)
    return Refund(
        refund_id=CANCEL_REFUND_ID,
        created_at=order.updated_at,
        reason="Order cancelled after invoicing",
        lines=lines,
        shipping=shipping,
        shipping_tax=shipping_tax,
        amount=amount,
    )


def _refund_detail(services: Services, settings: StoreSettings, record: OrderRecord, refund: Refund) -> Refund:
    """Fetch the refunded lines from the store API and keep them on the order snapshot."""
    detailed = fetch_refund(settings, record.order_id, refund.refund_id)

    def mutate(current: OrderRecord) -> list[TimelineEntry]:
        if current.order is None:
            return []
        current.order.refunds = [detailed if r.refund_id == detailed.refund_id else r for r in current.order.refunds]
        return [
            entry(
                ACTOR,
                "refund.detailed",
                "timeline.refund_detailed",
                refund=detailed.refund_id,
            )
        ]

    update_order(services, record.store_id, record.order_id, mutate)
    return detailed


CREDIT_TOLERANCE = Decimal("0.01")


def _credit_exceeds_invoice(refund: Refund, left: Decimal, invoice: DocumentRef) -> Problem:
    """Credit notes never add up to more than the invoice (e.g. Shopify's refunds/create for a cancellation
    that was credited in full already)."""
    return Problem(
        code="credit_exceeds_invoice",
        field=f"refunds[{refund.refund_id}].amount",
        expected=str(left),
        found=str(refund.amount),
        data={"refund": refund.refund_id, "currency": invoice.currency, "number": invoice.number},
    )


def _cancelled_with_nothing_left(current: OrderRecord) -> list[TimelineEntry]:
    if current.state == OrderState.CANCELLED:
        return []
    lifecycle.move(current, OrderState.CANCELLED)
    return [entry(ACTOR, OrderState.CANCELLED.value, "timeline.cancelled_already_credited")]


def _covered_by_cancellation(
    services: Services, record: OrderRecord, refund: Refund, cancelled: DocumentRef
) -> OrderRecord:
    timeline = services.state.get_timeline(record.store_id, record.order_id)
    if any(t.action == "refund.covered" and t.data.get("refund") == refund.refund_id for t in timeline):
        return record
    covered = entry(
        ACTOR,
        "refund.covered",
        "timeline.refund_covered",
        refund=refund.refund_id,
        amount=str(refund.amount),
        number=cancelled.number,
    )
    return update_order(services, record.store_id, record.order_id, lambda r: [covered])


def issue_credit_note(services: Services, message: IssueCreditNote | CancelOrder) -> OrderRecord | None:
    """Credit one refund (or, for CancelOrder, whatever is left of the invoice) exactly once."""
    settings, record, order = _load(services, message.store_id, message.order_id)
    invoice = record.document("invoice")
    if invoice is None:
        raise NothingToDo("no invoice yet: the credit note follows the invoice")
    left = invoice.total - sum((d.total for d in record.documents if d.kind == "credit_note"), ZERO)
    if isinstance(message, CancelOrder):
        if record.document("credit_note", CANCEL_REFUND_ID) is not None:
            return record
        if left <= CREDIT_TOLERANCE:
            return update_order(services, record.store_id, record.order_id, _cancelled_with_nothing_left)
        refund = cancellation_refund(order, order.refunds)
        if refund.amount > left:
            # Earlier refunds without line detail (amount only) credited part of the lines already.
            refund = Refund(refund_id=CANCEL_REFUND_ID, created_at=refund.created_at, reason=refund.reason, amount=left)
    else:
        found = [r for r in order.refunds if r.refund_id == message.refund_id]
        if not found:
            raise NothingToDo(f"refund {message.refund_id} is not on the order")
        refund = found[0]
    if record.document("credit_note", refund.refund_id) is not None:
        return record
    if not refund.lines and can_fetch_refunds(settings):
        try:
            refund = _refund_detail(services, settings, record, refund)
        except PermanentError as error:
            problems = [problem_from_error(error)]
            update_order(services, record.store_id, record.order_id, lambda r: hold(r, problems, ACTOR))
            return None
    cancelled = record.document("credit_note", CANCEL_REFUND_ID)
    if refund.refund_id != CANCEL_REFUND_ID and refund.amount > left + CREDIT_TOLERANCE and cancelled is not None:
        # Shopify sends a cancellation's refund as refunds/create too, and it may come after orders/cancelled:
        # the cancellation's credit note already credited everything that was left.
        return _covered_by_cancellation(services, record, refund, cancelled)
    problems = validate_refund(order, refund) if refund.refund_id != CANCEL_REFUND_ID else []
    if not problems and refund.amount > left + CREDIT_TOLERANCE:
        problems = [_credit_exceeds_invoice(refund, left, invoice)]
    if problems:
        update_order(services, record.store_id, record.order_id, lambda r: hold(r, problems, ACTOR))
        return None
    if _writes_paused(services, settings, record.order_id):
        return None

    def create(target: Target, number: str) -> DocumentRef:
        if isinstance(message, CancelOrder) and isinstance(target, CancelsOrders):
            # An ERP cancels in its own way (a credit note of the whole invoice, or a cancelled sale).
            cancelled = target.cancel_order(order)
            if cancelled is None:
                raise NothingToDo("the target had nothing left to cancel")
            return cancelled
        existing = target.find_document(order, "credit_note", number, refund.refund_id)
        return existing or target.issue_credit_note(order, refund, invoice, number)

    def preflight(target: Target) -> None:
        if isinstance(target, Preflights) and not (
            isinstance(message, CancelOrder) and isinstance(target, CancelsOrders)
        ):
            target.preflight_credit_note(order, refund, invoice)

    document = _issue(
        services,
        settings,
        record,
        f"credit_note:{order.order_id}:{refund.refund_id}",
        "credit_note",
        settings.invoice.credit_note_prefix,
        create,
        preflight,
    )
    if document is None:
        return None
    fiscal = _fiscal_record(services, settings, record, document)

    def mutate(current: OrderRecord) -> list[TimelineEntry]:
        if not _add_document(current, document):
            return []
        credited = lifecycle.credited_total(current)
        if isinstance(message, CancelOrder) or current.document("credit_note", CANCEL_REFUND_ID) is not None:
            lifecycle.move(current, OrderState.CANCELLED)
        elif credited >= invoice.total:
            lifecycle.move(current, OrderState.CREDITED)
        return [
            entry(
                ACTOR,
                "credit_note.issued",
                "timeline.credit_note_issued",
                number=document.number,
                refund=refund.refund_id,
                total=str(document.total),
                currency=document.currency,
            ),
            *fiscal,
        ]

    return update_order(services, record.store_id, record.order_id, mutate)
