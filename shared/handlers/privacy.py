"""Personal data: the retention timer and the erasure of one customer (by e-mail or tax id).

Both redact our own copies (order snapshots, raw deliveries, timelines) by replacing values with a marker
and keeping their structure; issued documents (outbox XML, ERP records) are the legal record and stay
untouched. A redacted snapshot carries `redacted_at`, and no document is ever issued from it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.bootstrap import Services
from shared.channels import CHANNEL_NAMES, CHANNELS, PersonalData, channel_of
from shared.domain.order import Address, Order, OrderState
from shared.domain.records import EventRecord, OrderRecord, Problem, TimelineEntry
from shared.errors import PermanentError, UnknownStore, Unreadable
from shared.handlers.common import entry, log, update_order

MARKER = "[redacted]"
REDACTED_HEADER = "redacted"  # set on an event whose body was redacted, with the time
# Finished: the invoice is issued (or the order cancelled); nothing left that reads the buyer's details
# except a later refund, which a fresh snapshot from the store brings them back for. stock_synced comes
# after invoiced, so it is finished too.
FINISHED_STATES = frozenset(
    {OrderState.INVOICED, OrderState.STOCK_SYNCED, OrderState.PAID, OrderState.CREDITED, OrderState.CANCELLED}
)

# The kinds of personal data a redaction names; each has its words in the catalogs as `word.kind_<kind>`.
KIND_KEYS: frozenset[str] = frozenset(
    f"word.kind_{kind}"
    for kind in (
        "name",
        "email",
        "phone",
        "address",
        "tax_id",
        "customer_id",
        "note",
        "attributes",
        "ip_address",
        "browser",
        "payment_details",
        "raw_body",
        "other",
    )
)

_MIN_VALUE = 4  # shorter values ("ES", "1") would redact unrelated text when searched for by value


@dataclass
class Redaction:
    """What one redaction changed: kinds of fields, never the values."""

    kinds: set[str] = field(default_factory=set)

    def take(self, value: str, kind: str) -> str:
        if not value or value == MARKER:
            return value
        self.kinds.add(kind)
        return MARKER


# -- pure redaction ------------------------------------------------------------------------------------


def personal_values(order: Order) -> set[str]:
    """The buyer's own strings in a snapshot, to find them again in free text (timeline, problems, bodies)."""
    customer = order.customer
    values = {customer.name, customer.email, customer.tax_id}
    for address in (customer.billing, customer.shipping):
        values |= {address.name, address.company, address.line1, address.line2, address.email, address.phone}
    # Not every meta value: most are shop settings ("organic", "true") that would scrub ordinary words.
    return {v for v in values if len(v) >= _MIN_VALUE and v != MARKER}


def _address(address: Address, redaction: Redaction) -> Address:
    # Country and region stay: they decided the taxes and serve reports; they name no one.
    return address.model_copy(
        update={
            "name": redaction.take(address.name, "name"),
            "company": redaction.take(address.company, "name"),
            "line1": redaction.take(address.line1, "address"),
            "line2": redaction.take(address.line2, "address"),
            "city": redaction.take(address.city, "address"),
            "postal_code": redaction.take(address.postal_code, "address"),
            "email": redaction.take(address.email, "email"),
            "phone": redaction.take(address.phone, "phone"),
        }
    )


def redact_order(order: Order, at: datetime) -> tuple[Order, set[str]]:
    """A copy of the snapshot without the buyer's personal data; lines, amounts and taxes unchanged."""
    redaction = Redaction()
    customer = order.customer
    redacted_customer = customer.model_copy(
        update={
            "customer_id": redaction.take(customer.customer_id, "customer_id"),
            "name": redaction.take(customer.name, "name"),
            "email": redaction.take(customer.email, "email"),
            "tax_id": redaction.take(customer.tax_id, "tax_id"),
            "billing": _address(customer.billing, redaction),
            "shipping": _address(customer.shipping, redaction),
        }
    )
    redacted = order.model_copy(
        update={
            "customer": redacted_customer,
            "note": redaction.take(order.note, "note"),
            "meta": {key: redaction.take(value, "attributes") for key, value in order.meta.items()},
            "redacted_at": order.redacted_at or at,
        }
    )
    return redacted, redaction.kinds


def _pattern(values: Iterable[str]) -> re.Pattern[str] | None:
    wanted = sorted({v for v in values if len(v) >= _MIN_VALUE and v != MARKER}, key=len, reverse=True)
    if not wanted:
        return None
    return re.compile("|".join(re.escape(v) for v in wanted), re.IGNORECASE)


def scrub(value: Any, pattern: re.Pattern[str] | None, redaction: Redaction) -> Any:
    """Every occurrence of the values in `pattern` replaced by the marker, in strings at any depth."""
    if pattern is None:
        return value
    if isinstance(value, str):
        scrubbed = pattern.sub(MARKER, value)
        if scrubbed != value:
            redaction.kinds.add("other")
        return scrubbed
    if isinstance(value, dict):
        return {key: scrub(item, pattern, redaction) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub(item, pattern, redaction) for item in value]
    return value


def personal_data(channel: str) -> PersonalData:
    """Where the channel's raw bodies carry personal data, as its package declares it; for a body whose channel
    is not known, every registered channel's places."""
    if channel in CHANNELS:
        return channel_of(channel).PERSONAL_DATA
    return PersonalData.union(channel_of(name).PERSONAL_DATA for name in CHANNEL_NAMES)


def _redact_json(value: Any, personal: PersonalData, redaction: Redaction, inside: bool = False, kind: str = "") -> Any:
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if key in personal.keys:
                result[key] = _redact_json(item, personal, redaction, True, personal.keys[key])
            elif key in personal.objects:
                result[key] = _redact_json(item, personal, redaction, True, kind or personal.objects[key])
            elif inside and (key in personal.keep_inside or (kind == "attributes" and key in personal.labels)):
                result[key] = item
            else:
                field_kind = _field_kind(key, kind) if inside else kind
                result[key] = _redact_json(item, personal, redaction, inside, field_kind)
        return result
    if isinstance(value, list):
        return [_redact_json(item, personal, redaction, inside, kind) for item in value]
    if inside and isinstance(value, str):
        return redaction.take(value, kind or "other")
    if inside and isinstance(value, float):  # latitude / longitude of an address
        redaction.kinds.add(kind or "address")
        return MARKER
    return value


def _field_kind(key: str, kind: str) -> str:
    if kind:
        return kind
    if "mail" in key:
        return "email"
    if "phone" in key:
        return "phone"
    if "name" in key or key == "company":
        return "name"
    if "ip" in key.split("_"):
        return "ip_address"
    return "address"


def redact_body(body: bytes, values: Iterable[str] = (), channel: str = "") -> tuple[bytes, set[str]]:
    """A raw delivery without personal data: JSON keeps its shape with the marker in place of the personal fields
    its channel declares (every channel's when `channel` is not a registered one) and of any of `values` found
    elsewhere; a body that is not JSON is replaced by the marker whole."""
    redaction = Redaction()
    try:
        data = json.loads(body)
    except ValueError:
        if not body or body == MARKER.encode():
            return body, set()
        return MARKER.encode(), {"raw_body"}
    redacted = scrub(_redact_json(data, personal_data(channel), redaction), _pattern(values), redaction)
    if redacted == data:
        return body, set()
    return json.dumps(redacted, ensure_ascii=False).encode(), redaction.kinds


def _scrub_problem(problem: Problem, pattern: re.Pattern[str] | None, redaction: Redaction) -> Problem:
    return Problem.model_validate(scrub(problem.model_dump(), pattern, redaction))


def _scrub_entry(entry_: TimelineEntry, pattern: re.Pattern[str] | None) -> TimelineEntry:
    redaction = Redaction()
    data = scrub(entry_.model_dump(include={"detail", "detail_es", "data"}), pattern, redaction)
    return entry_.model_copy(update=data) if redaction.kinds else entry_


# -- the matching ---------------------------------------------------------------------------------------

_TAX_ID_NOISE = re.compile(r"[\s.\-/]")


def compact_tax_id(value: str) -> str:
    """ES B-1234567-4 and b12345674 are the same id: upper case, no separators."""
    return _TAX_ID_NOISE.sub("", value).upper()


def _same_tax_id(typed: str, wanted: str) -> bool:
    typed = compact_tax_id(typed)
    if not typed:
        return False
    # With or without the VAT country prefix (ESB12345674 / B12345674).
    return typed == wanted or typed[2:] == wanted or wanted[2:] == typed


def matches(order: Order, email: str, tax_id: str) -> bool:
    customer = order.customer
    if email:
        found = {customer.email, customer.billing.email, customer.shipping.email}
        return email.casefold() in {e.strip().casefold() for e in found if e}
    candidates = [customer.tax_id, *order.meta.values()]
    return any(_same_tax_id(value, tax_id) for value in candidates)


# -- the use cases --------------------------------------------------------------------------------------


def _kind_words(kinds: Iterable[str]) -> list[str]:
    """The catalog keys naming the kinds of data removed, in a stable order."""
    ordered = sorted(set(kinds))
    if not ordered:  # a guest order with no details: still marked, so the timer does not come back to it
        return ["word.kind_none"]
    return [f"word.kind_{k}" if f"word.kind_{k}" in KIND_KEYS else "word.kind_other" for k in ordered]


def _redact_record(
    services: Services,
    record: OrderRecord,
    values: set[str],
    actor: str,
    action: str,
    when: datetime,
    finished_only: bool,
) -> list[str]:
    """Timeline first, the order last: the order's snapshot is what finds the customer again, so a run that
    stops in between is completed by the next one. Returns the kinds of fields redacted."""
    pattern = _pattern(values)
    rewritten = services.state.rewrite_timeline(
        record.store_id, record.order_id, lambda item: _scrub_entry(item, pattern)
    )
    kinds: set[str] = {"other"} if rewritten else set()

    def mutate(current: OrderRecord) -> list[TimelineEntry]:
        if current.order is None:
            return []
        if finished_only and (current.state not in FINISHED_STATES or current.order.redacted_at is not None):
            return []  # changed since it was read: worked on again, or redacted by another run
        redaction = Redaction()
        current.order, order_kinds = redact_order(current.order, when)
        current.problems = [_scrub_problem(p, pattern, redaction) for p in current.problems]
        kinds.update(order_kinds | redaction.kinds)
        what = _kind_words(kinds)
        if action == "privacy.erased":
            return [
                entry(
                    actor,
                    action,
                    "timeline.privacy_erased",
                    kinds=sorted(kinds),
                    kinds_texts=what,
                )
            ]
        return [
            entry(
                actor,
                action,
                "timeline.privacy_redacted",
                kinds=sorted(kinds),
                kinds_texts=what,
            )
        ]

    update_order(services, record.store_id, record.order_id, mutate)
    return sorted(kinds)


def _redact_event(services: Services, event: EventRecord, values: Iterable[str], when: datetime) -> bool:
    body, kinds = redact_body(event.body, values, event.channel)
    if not kinds and REDACTED_HEADER in event.headers:
        return False
    headers = {**event.headers, REDACTED_HEADER: when.isoformat()}
    services.state.replace_event(event.model_copy(update={"body": body, "headers": headers}))
    return bool(kinds)


def erasure_request(body: bytes) -> dict[str, str]:
    """The body of POST /api/stores/{store_id}/erasure: `{"email": ...}` or `{"tax_id": ...}`. Raises Unreadable."""
    try:
        data = json.loads(body or b"null")
    except ValueError as exc:
        raise Unreadable("Bad erasure request", "The body is not JSON.") from exc
    if not isinstance(data, dict):
        raise Unreadable("Bad erasure request", 'Send a JSON object: {"email": ...} or {"tax_id": ...}.')
    unknown = sorted(set(data) - {"email", "tax_id"})
    if unknown:
        raise Unreadable("Bad erasure request", f"Unknown field(s): {', '.join(unknown)}.")
    if not all(isinstance(v, str) for v in data.values()):
        raise Unreadable("Bad erasure request", "'email' and 'tax_id' are strings.")
    return {str(k): str(v) for k, v in data.items()}


def erase_customer(
    services: Services, store_id: str, *, email: str = "", tax_id: str = "", actor: str = "operator"
) -> dict[str, Any]:
    """Redact one customer's personal data from the store's orders, raw deliveries and timelines; issued
    documents and their numbers stay. Idempotent: a second request finds nothing left to redact.

    Raises UnknownStore, or Unreadable for neither or both of e-mail and tax id). The answer names
    orders and kinds of fields, never the personal data itself.
    """
    if services.store(store_id) is None:
        raise UnknownStore("Unknown store", f"No store '{store_id}' is configured here.")
    email, tax_id = email.strip(), compact_tax_id(tax_id)
    if bool(email) == bool(tax_id):
        raise Unreadable("Bad erasure request", "Give exactly one of 'email' or 'tax_id'.")
    if email and ("@" not in email or len(email) < _MIN_VALUE):
        raise Unreadable("Bad erasure request", "'email' is not an e-mail address.")
    if tax_id and len(tax_id) < _MIN_VALUE:
        raise Unreadable("Bad erasure request", "'tax_id' is too short to be a tax id.")
    when = services.clock()
    wanted = email or tax_id
    matched = [r for r in services.state.scan_orders(store_id) if r.order and matches(r.order, email, tax_id)]
    values_by_order = {r.order_id: personal_values(r.order) | {wanted} for r in matched if r.order is not None}

    # Raw deliveries of those orders, and any other delivery that names the customer (one the parser could
    # not read, a deletion): one pass over the store's events.
    needle = wanted.lower().encode()
    events_by_order: dict[str, int] = {}
    for event in services.state.scan_events(store_id):
        if event.order_id not in values_by_order and needle not in event.body.lower():
            continue
        values = values_by_order.get(event.order_id, {wanted})
        if _redact_event(services, event, values, when):
            events_by_order[event.order_id] = events_by_order.get(event.order_id, 0) + 1

    orders = []
    for record in matched:
        kinds = _redact_record(
            services, record, values_by_order[record.order_id], actor, "privacy.erased", when, finished_only=False
        )
        orders.append(
            {
                "order_id": record.order_id,
                "state": record.state.value,
                "redacted": kinds,
                "events_redacted": events_by_order.pop(record.order_id, 0),
                "documents_kept": [d.number for d in record.documents],
            }
        )
    log.info("erasure store=%s orders=%d other_events=%d", store_id, len(orders), sum(events_by_order.values()))
    return {
        "store_id": store_id,
        "erased_at": when.isoformat(),
        "actor": actor,
        "orders": orders,
        # Deliveries that named the customer but belong to no order found by the request.
        "other_events_redacted": [{"order_id": k, "events_redacted": v} for k, v in sorted(events_by_order.items())],
    }


def apply_retention(services: Services) -> list[dict[str, Any]]:
    """The daily timer: per store, redact finished orders unchanged for `retention.personal_data_days` and raw
    deliveries older than `retention.raw_events_days`. Idempotent; a run that stops is completed by the next."""
    now = services.clock()
    summaries = []
    for settings in services.stores.values():
        retention = settings.retention
        order_cutoff = now - timedelta(days=retention.personal_data_days)
        orders = 0
        for record in services.state.scan_orders(settings.store_id, changed_before=order_cutoff):
            if record.state not in FINISHED_STATES or record.order is None or record.order.redacted_at is not None:
                continue
            kinds = _redact_record(
                services, record, personal_values(record.order), "retention", "privacy.retention", now, True
            )
            orders += bool(kinds)
        event_cutoff = now - timedelta(days=retention.raw_events_days)
        events = 0
        for event in services.state.scan_events(settings.store_id, received_before=event_cutoff):
            if REDACTED_HEADER not in event.headers:
                events += _redact_event(services, event, (), now)
        log.info("retention store=%s orders=%d events=%d", settings.store_id, orders, events)
        summaries.append({"store_id": settings.store_id, "orders_redacted": orders, "events_redacted": events})
    return summaries


def refuse_redacted(order: Order) -> None:
    """No document is issued from a redacted snapshot: it would name "[redacted]" as the buyer."""
    if order.redacted_at is not None:
        raise PermanentError("personal_data_erased")
