"""The dashboard's view model: plain data read from Services for one request, in the reader's language.

Templates only lay it out; tests assert on it. Reads state only and never raises for odd parameters.
No e-mail or street address is taken into it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from shared.bootstrap import Services
from shared.dashboard.formats import (
    STATES,
    Time,
    action_label,
    file_name,
    format_money,
    state_label,
    time_of,
    translate,
)
from shared.dashboard.stock_view import StockPanel, WebhookPanel, stock_panel, webhook_panel
from shared.domain.order import OrderState
from shared.domain.records import DocumentRef, OrderRecord, Problem, TimelineEntry
from shared.handlers.catalog import unmapped_skus
from shared.handlers.health import health_report
from shared.texts import choose_language

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
ATTENTION_STATES = (OrderState.HELD, OrderState.FAILED)
RETRYABLE = frozenset({OrderState.HELD.value, OrderState.FAILED.value})
QUEUE_FIELDS = ("active", "scheduled", "locked", "dead_lettered", "oldest_enqueued_age_seconds")
# Strings the page script needs (retry, upload, polling); the rest is in the templates.
SCRIPT_KEYS = (
    "retry",
    "retrying",
    "retry_failed",
    "uploading",
    "uploaded",
    "upload_failed",
    "choose_file",
    "network_error",
)


@dataclass(frozen=True)
class State:
    value: str
    label: str


@dataclass(frozen=True)
class ProblemView:
    """One reason an order waits: the sentence in the reader's language and the facts behind it."""

    code: str
    message: str
    facts: tuple[tuple[str, str], ...]  # ("field", "currency"), ("expected", "USD"), ("found", "EUR")


@dataclass(frozen=True)
class DocumentView:
    kind: str  # invoice | credit_note
    number: str
    total: str
    tax: str
    issued: Time | None
    target: str
    name: str  # the file name or external id
    location: str  # the full location, shown on hover
    href: str  # /api/documents/... for documents the document store keeps (UBL), else ""
    pdf_href: str = ""  # /api/documents/....pdf, the printable invoice of a document the store keeps


@dataclass(frozen=True)
class OrderRow:
    store_id: str
    store_name: str
    order_id: str
    number: str  # as the buyer sees it, with one "#"
    state: State
    total: str
    created: Time | None
    documents: tuple[DocumentView, ...]
    problems: tuple[ProblemView, ...]
    retryable: bool
    href: str  # the order's detail view


@dataclass(frozen=True)
class Count:
    state: str  # "" for every state
    label: str
    number: int
    href: str
    active: bool


@dataclass(frozen=True)
class StoreOption:
    store_id: str
    name: str
    selected: bool


@dataclass(frozen=True)
class UnmappedSku:
    sku: str  # "" for a line without SKU: then product_id and name say which product
    orders: tuple[tuple[str, str], ...]  # (order number, detail link)
    key: str = ""  # the SKU map key to add: the SKU, or "product:<id>"
    product_id: str = ""
    name: str = ""


@dataclass(frozen=True)
class StorePanel:
    store_id: str
    name: str
    channel: str
    currency: str
    target: str
    writes_paused: bool
    unmapped: tuple[UnmappedSku, ...]
    sku_map_path: str  # relative to /api/, for the script
    sku_map_href: str  # the same with the function key
    webhooks: WebhookPanel | None = None  # the last webhook health check (shared.dashboard.stock_view)
    stock: StockPanel | None = None  # the last stock sync


@dataclass(frozen=True)
class QueueRow:
    name: str
    active: int
    scheduled: int
    locked: int
    dead_lettered: int
    oldest_seconds: int


@dataclass(frozen=True)
class Queues:
    state_problem: str  # the state store's health check when it is not "ok"
    rows: tuple[QueueRow, ...]


@dataclass(frozen=True)
class RefusedFile:
    store_id: str
    file: str
    key: str
    reason: str  # English only, as the loader wrote it


@dataclass(frozen=True)
class Overview:
    unknown_store: str
    stores: tuple[StoreOption, ...]
    hidden: tuple[tuple[str, str], ...]  # the filter form keeps language, state and function key
    counts: tuple[Count, ...]  # "every state" first, then one per state
    orders: tuple[OrderRow, ...]
    waiting: int  # orders on the page that need a person
    panels: tuple[StorePanel, ...]
    queues: Queues | None


@dataclass(frozen=True)
class Line:
    sku: str
    name: str
    quantity: str
    total: str


@dataclass(frozen=True)
class Refund:
    refund_id: str
    created: Time | None
    amount: str


@dataclass(frozen=True)
class TimelineRow:
    at: Time | None
    actor: str
    action: str
    state: State | None  # a state the order entered, shown as a badge
    label: str  # the action in words
    detail: str
    detail_lang: str  # "" when in the page's language; "en" for old rows with only English


@dataclass(frozen=True)
class Detail:
    back_href: str
    order: OrderRow | None  # None: not known here
    facts: tuple[tuple[str, str | Time | None], ...] = ()  # (label key, text or Time)
    lines: tuple[Line, ...] = ()
    refunds: tuple[Refund, ...] = ()
    timeline: tuple[TimelineRow, ...] = ()


@dataclass(frozen=True)
class Page:
    lang: str
    other_lang: str
    switch_href: str
    home_href: str
    refused: tuple[RefusedFile, ...]
    overview: Overview | None
    detail: Detail | None
    script: Mapping[str, Any] = field(default_factory=dict)  # the JSON the page script reads


@dataclass
class _Request:
    """The parameters of one request, cleaned, and the links that keep them."""

    services: Services
    lang: str
    code: str
    store: str
    state: str
    limit: int
    order: str

    def link(self, **overrides: str) -> str:
        """A link to this page keeping language, function key and filters; "" drops a parameter."""
        params = {"lang": self.lang, "store": self.store, "state": self.state, "code": self.code}
        params.update(overrides)
        return "?" + urlencode({k: v for k, v in params.items() if v})

    def api(self, path: str) -> str:
        # Relative to /api/dashboard, so it resolves to /api/<path> under any route prefix.
        return path + ("?" + urlencode({"code": self.code}) if self.code else "")

    def store_name(self, store_id: str) -> str:
        settings = self.services.store(store_id)
        return settings.name if settings is not None and settings.name else store_id

    def state_of(self, value: str) -> State:
        return State(value, state_label(value, self.lang))

    def problems(self, problems: Iterable[Problem]) -> tuple[ProblemView, ...]:
        return tuple(
            ProblemView(
                p.code,
                p.message(self.lang),
                tuple((k, v) for k, v in (("field", p.field), ("expected", p.expected), ("found", p.found)) if v),
            )
            for p in problems
        )

    def document(self, document: DocumentRef, store_id: str) -> DocumentView:
        location = document.location or document.external_id
        href = pdf_href = ""
        if document.target == "ubl":
            # Kept in the document store: /api/documents reads it through that store.
            href = self.api(f"documents/{quote(store_id, safe='')}/{quote(document.number, safe='')}")
            pdf_href = self.api(f"documents/{quote(store_id, safe='')}/{quote(document.number, safe='')}.pdf")
        name = file_name(location) if document.target == "ubl" or "://" not in location else location
        return DocumentView(
            document.kind,
            document.number,
            format_money(document.total, document.currency, self.lang),
            format_money(document.tax, document.currency, self.lang),
            time_of(document.issued_at, seconds=True),
            document.target,
            name,
            location,
            href,
            pdf_href,
        )

    def row(self, record: OrderRecord) -> OrderRow:
        order = record.order
        return OrderRow(
            store_id=record.store_id,
            store_name=self.store_name(record.store_id),
            order_id=record.order_id,
            number=order_number(record),
            state=self.state_of(record.state.value),
            total=format_money(order.total, order.currency, self.lang) if order is not None else "",
            created=time_of(order.created_at if order is not None else record.created_at),
            documents=tuple(self.document(d, record.store_id) for d in record.documents),
            problems=self.problems(record.problems),
            retryable=record.state.value in RETRYABLE,
            href=self.link(store=record.store_id, state="", order=record.order_id),
        )


def order_number(record: OrderRecord) -> str:
    """The number the buyer sees, with one "#": Shopify's name already has it (#1001), WooCommerce's not."""
    number = record.order.number if record.order is not None and record.order.number else record.order_id
    return number if number.startswith("#") else f"#{number}"


def _records(request: _Request) -> list[OrderRecord]:
    """Held and failed first (they need a person), then the most recent changes."""
    state_store, store, limit = request.services.state, request.store or None, request.limit
    if request.state:
        return state_store.list_orders(store, request.state, limit)
    attention: list[OrderRecord] = []
    for state in ATTENTION_STATES:
        attention += state_store.list_orders(store, state.value, limit)
    attention.sort(key=lambda r: r.changed_at, reverse=True)
    seen = {(r.store_id, r.order_id) for r in attention}
    recent = [r for r in state_store.list_orders(store, None, limit) if (r.store_id, r.order_id) not in seen]
    return (attention + recent)[: max(limit, len(attention))]


def _counts(request: _Request) -> tuple[Count, ...]:
    counts = request.services.state.count_orders(request.store or None)
    every = Count(
        "", translate("all_states", request.lang), sum(counts.values()), request.link(state=""), not request.state
    )
    return (
        every,
        *(
            Count(
                s.value,
                state_label(s.value, request.lang),
                counts.get(s.value, 0),
                request.link(state=s.value),
                s.value == request.state,
            )
            for s in OrderState
        ),
    )


def _panel(request: _Request, store_id: str) -> StorePanel | None:
    settings = request.services.store(store_id)
    if settings is None:
        return None
    numbers: dict[str, str] = {}
    unmapped = []
    for item in unmapped_skus(request.services, store_id):
        for order_id in item["orders"]:
            if order_id not in numbers:
                record = request.services.state.get_order(store_id, order_id)
                numbers[order_id] = order_number(record) if record is not None else order_id
        orders = tuple((numbers[o], request.link(store=store_id, state="", order=o)) for o in item["orders"])
        unmapped.append(UnmappedSku(item["sku"], orders, item["key"], item["product_id"], item["name"]))
    sku_path = f"stores/{quote(store_id, safe='')}/sku-map"
    return StorePanel(
        store_id,
        request.store_name(store_id),
        settings.channel,
        settings.currency,
        settings.target,
        not settings.outgoing_writes,
        tuple(unmapped),
        sku_path,
        request.api(sku_path),
        webhook_panel(request.services, store_id, request.lang),
        stock_panel(request.services, store_id),
    )


def _queues(services: Services) -> Queues | None:
    checks = health_report(services).get("checks", {})
    # Refused store files have their own banner; this line is for the state store.
    state_problem = str(checks.get("state", "")) if checks.get("state", "ok") != "ok" else ""
    rows = []
    for name, stats in (checks.get("queues") or {}).items():
        # The SQLite bus gives a dataclass; a JSON round trip gives a dict.
        values = [stats.get(f, 0) if isinstance(stats, Mapping) else getattr(stats, f, 0) for f in QUEUE_FIELDS]
        active, scheduled, locked, dead_lettered = (int(v) for v in values[:4])
        rows.append(QueueRow(str(name), active, scheduled, locked, dead_lettered, round(float(values[4]))))
    return Queues(state_problem, tuple(rows)) if state_problem or rows else None


def _overview(request: _Request) -> Overview:
    services = request.services
    unknown = request.store and services.store(request.store) is None and request.store not in services.broken
    rows = tuple(request.row(r) for r in _records(request))
    panel_ids = [request.store] if request.store else sorted(services.stores)
    return Overview(
        unknown_store=request.store if unknown else "",
        stores=tuple(StoreOption(s, request.store_name(s), s == request.store) for s in sorted(services.stores)),
        hidden=tuple(
            (k, v) for k, v in (("lang", request.lang), ("state", request.state), ("code", request.code)) if v
        ),
        counts=_counts(request),
        orders=rows,
        waiting=sum(1 for r in rows if r.state.value in RETRYABLE),
        panels=tuple(p for p in (_panel(request, s) for s in panel_ids) if p is not None),
        queues=_queues(services),
    )


def _timeline_row(entry: TimelineEntry, lang: str) -> TimelineRow:
    detail = entry.describe(lang)
    # An old entry with no sentence in lang shows its English one, marked for screen readers.
    old_english = not entry.text and lang != "en" and entry.detail and detail == entry.detail
    detail_lang = "en" if old_english else ""
    state = State(entry.action, state_label(entry.action, lang)) if entry.action in STATES else None
    return TimelineRow(
        time_of(entry.at, seconds=True),
        entry.actor,
        entry.action,
        state,
        action_label(entry.action, lang),
        detail,
        detail_lang,
    )


def _detail(request: _Request) -> Detail:
    back = request.link(order="")
    record = request.services.state.get_order(request.store, request.order)
    if record is None:
        return Detail(back, None)
    row = request.row(record)
    order, lang = record.order, request.lang
    facts: list[tuple[str, str | Time | None]] = [
        ("store", row.store_name),
        ("order_id", record.order_id),
        ("total", row.total),
    ]
    lines: tuple[Line, ...] = ()
    refunds: tuple[Refund, ...] = ()
    if order is not None:
        facts += [
            ("tax", format_money(order.tax_total, order.currency, lang)),
            ("created", time_of(order.created_at)),
            ("country", order.customer.billing.country or "—"),
        ]
        lines = tuple(
            Line(line.sku, line.name, str(line.quantity.normalize()), format_money(line.total, order.currency, lang))
            for line in order.lines
        )
        refunds = tuple(
            Refund(r.refund_id, time_of(r.created_at), format_money(r.amount, order.currency, lang))
            for r in order.refunds
        )
    facts += [("changed", time_of(record.changed_at, seconds=True)), ("attempt", str(record.attempt))]
    timeline = request.services.state.get_timeline(record.store_id, record.order_id)
    return Detail(back, row, tuple(facts), lines, refunds, tuple(_timeline_row(t, lang) for t in timeline))


def dashboard_view(services: Services, params: Mapping[str, str], accept_language: str) -> Page:
    """The page for the query parameters (lang, store, state, order, limit, code).

    Language: `lang` if en or es, else the browser's Accept-Language, else the filtered store's
    `language` setting, else English. `order` with `store` is the detail view.
    """
    store = (params.get("store") or "").strip()
    settings = services.store(store) if store else None
    lang = choose_language(params.get("lang"), accept_language, settings.language if settings else "en")
    state = (params.get("state") or "").strip()
    try:
        limit = min(max(int(params.get("limit") or DEFAULT_LIMIT), 1), MAX_LIMIT)
    except ValueError:
        limit = DEFAULT_LIMIT
    order = (params.get("order") or "").strip() if store else ""
    request = _Request(services, lang, params.get("code") or "", store, state if state in STATES else "", limit, order)
    other = "en" if lang == "es" else "es"
    refused = tuple(
        RefusedFile(store_id, p.file, p.key, p.reason)
        for store_id, problems in sorted(services.broken.items())
        for p in problems
    )
    script = {
        "lang": lang,
        "code": request.code,
        "retryable": sorted(RETRYABLE),
        "states": {s: state_label(s, lang) for s in sorted(STATES)},
        "strings": {k: translate(k, lang) for k in SCRIPT_KEYS},
    }
    return Page(
        lang=lang,
        other_lang=other,
        switch_href=request.link(lang=other, order=order),
        home_href=request.link(order="", state="", store=""),
        refused=refused,
        overview=None if order else _overview(request),
        detail=_detail(request) if order else None,
        script=script,
    )
