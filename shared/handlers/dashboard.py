"""The dashboard for business users (GET /api/dashboard): one self-contained HTML page, rendered here.

Reads state through the same handlers as the JSON API; its small script calls that API (retry, SKU map
upload) with relative URLs. Every piece of store data is escaped; no e-mail or street address is shown.
"""

from __future__ import annotations

import html
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

from shared.bootstrap import Services
from shared.domain.order import OrderState
from shared.domain.records import DocumentRef, OrderRecord, Problem, TimelineEntry
from shared.handlers.catalog import unmapped_skus
from shared.handlers.health import health_report
from shared.i18n import choose_language, translate

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
ATTENTION_STATES = (OrderState.HELD, OrderState.FAILED)
RETRYABLE = {OrderState.HELD.value, OrderState.FAILED.value}
# Strings the page script needs (retry, upload, polling); the rest is rendered here.
SCRIPT_KEYS = (
    "retry",
    "retrying",
    "retry_failed",
    "uploading",
    "uploaded",
    "upload_failed",
    "choose_file",
    "network_error",
    "no_documents",
    "invoice",
    "credit_note",
    "field",
    "expected",
    "found",
)


def e(value: object) -> str:
    return html.escape(str(value), quote=True)


def format_time(value: datetime | None, seconds: bool = False) -> str:
    """UTC with the zone written: 2026-11-28 10:00 UTC (the same for every language)."""
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def time_tag(value: datetime | None, seconds: bool = False) -> str:
    if value is None:
        return ""
    return f'<time datetime="{e(value.isoformat())}">{e(format_time(value, seconds))}</time>'


def format_money(amount: Decimal, currency: str, lang: str) -> str:
    """1,234.50 EUR in English, 1.234,50 EUR in Spanish; the ISO code, never a symbol, for accountants."""
    text = f"{amount:,.2f}"
    if lang == "es":
        text = text.translate(str.maketrans(",.", ".,"))
    return f"{text} {currency}".strip()


def state_label(state: str, lang: str) -> str:
    return translate(f"state_{state}", lang) if state in {s.value for s in OrderState} else state


def action_label(action: str, lang: str) -> str:
    """A timeline action in words ("retry.requested" → "Retry requested"); unknown actions stay as written."""
    key = "action_" + action.replace(".", "_")
    text = translate(key, lang)
    return action if text == key else text


def badge(state: str, lang: str) -> str:
    return f'<span class="badge state-{e(state)}" data-state="{e(state)}">{e(state_label(state, lang))}</span>'


@dataclass
class _Page:
    services: Services
    lang: str
    code: str
    store: str
    state: str
    limit: int
    nonce: str
    order: str = ""  # the order shown in detail ("" on the overview)

    # -- links -----------------------------------------------------------------------------------------

    def link(self, **overrides: str) -> str:
        """A link to this page keeping language, function key and filters; "" drops a parameter."""
        params = {"lang": self.lang, "store": self.store, "state": self.state, "code": self.code}
        params.update(overrides)
        return "?" + urlencode({k: v for k, v in params.items() if v})

    def api(self, path: str) -> str:
        # Relative to /api/dashboard, so it resolves to /api/<path> under any route prefix; the script
        # recomputes it from location for robustness (a trailing slash would shift relative URLs).
        return path + ("?" + urlencode({"code": self.code}) if self.code else "")

    def t(self, key: str, **values: object) -> str:
        return e(translate(key, self.lang, **values))

    def store_name(self, store_id: str) -> str:
        settings = self.services.store(store_id)
        return settings.name if settings is not None and settings.name else store_id

    # -- pieces ----------------------------------------------------------------------------------------

    def problems(self, problems: Iterable[Problem]) -> str:
        items = []
        for problem in problems:
            message = problem.message_es if self.lang == "es" else problem.message_en
            small = [f"<code>{e(problem.code)}</code>"]
            for key, value in (("field", problem.field), ("expected", problem.expected), ("found", problem.found)):
                if value:
                    small.append(f"{self.t(key)}: <code>{e(value)}</code>")
            items.append(
                f'<li><span class="message">{e(message)}</span><small class="facts">{" · ".join(small)}</small></li>'
            )
        return f'<ul class="problems">{"".join(items)}</ul>' if items else ""

    def documents(self, documents: Iterable[DocumentRef]) -> str:
        parts = [
            f'<span class="doc doc-{e(d.kind)}">{self.t(d.kind)} <strong>{e(d.number)}</strong></span>'
            for d in documents
        ]
        return "".join(parts) or f'<span class="muted">{self.t("no_documents")}</span>'

    def retry_button(self, record: OrderRecord) -> str:
        hidden = "" if record.state.value in RETRYABLE else " hidden"
        return f'<button type="button" class="retry"{hidden}>{self.t("retry")}</button>'

    def order_number(self, record: OrderRecord) -> str:
        """The number the buyer sees, with one "#": Shopify's name already has it (#1001), WooCommerce's not."""
        number = record.order.number if record.order is not None and record.order.number else record.order_id
        return number if number.startswith("#") else f"#{number}"

    def total(self, record: OrderRecord) -> str:
        order = record.order
        return format_money(order.total, order.currency, self.lang) if order is not None else ""

    # -- overview --------------------------------------------------------------------------------------

    def counts(self) -> str:
        cards = []
        counts = self.services.state.count_orders(self.store or None)
        total = sum(counts.values())
        for state in OrderState:
            count = counts.get(state.value, 0)
            shown = str(count)
            classes = ["count", f"state-{state.value}"]
            if state.value == self.state:
                classes.append("active")
            if count == 0:
                classes.append("zero")
            cards.append(
                f'<a class="{" ".join(classes)}" href="{e(self.link(state=state.value))}" data-state="{state.value}">'
                f'<span class="number">{shown}</span>'
                f'<span class="label">{e(state_label(state.value, self.lang))}</span></a>'
            )
        everything = (
            f'<a class="count all{" active" if not self.state else ""}" href="{e(self.link(state=""))}">'
            f'<span class="number">{total}</span>'
            f'<span class="label">{self.t("all_states")}</span></a>'
        )
        cards.insert(0, everything)
        return f'<nav class="counts" aria-label="{self.t("state")}">{"".join(cards)}</nav>'

    def records(self) -> list[OrderRecord]:
        """Held and failed first (they need a person), then the most recent changes."""
        store = self.store or None
        if self.state:
            return self.services.state.list_orders(store, self.state, self.limit)
        attention: list[OrderRecord] = []
        for state in ATTENTION_STATES:
            attention += self.services.state.list_orders(store, state.value, self.limit)
        attention.sort(key=lambda r: r.changed_at, reverse=True)
        seen = {(r.store_id, r.order_id) for r in attention}
        recent = [
            r for r in self.services.state.list_orders(store, None, self.limit) if (r.store_id, r.order_id) not in seen
        ]
        return (attention + recent)[: max(self.limit, len(attention))]

    def order_rows(self, record: OrderRecord) -> str:
        detail = self.link(store=record.store_id, state="", order=record.order_id)
        order = record.order
        created = order.created_at if order is not None else record.created_at
        problems = self.problems(record.problems)
        return (
            f'<tbody class="order" data-store="{e(record.store_id)}" data-order="{e(record.order_id)}" '
            f'data-state="{e(record.state.value)}">'
            '<tr class="order-row">'
            f'<td>{e(self.store_name(record.store_id))}<small class="muted">{e(record.store_id)}</small></td>'
            f'<td><a class="order-link" href="{e(detail)}">{e(self.order_number(record))}</a></td>'
            f'<td class="state">{badge(record.state.value, self.lang)}</td>'
            f'<td class="num">{e(self.total(record))}</td>'
            f"<td>{time_tag(created)}</td>"
            f'<td class="documents">{self.documents(record.documents)}</td>'
            f'<td class="actions">{self.retry_button(record)}<span class="error" role="alert"></span></td>'
            "</tr>"
            f'<tr class="problems-row"{"" if problems else " hidden"}><td colspan="7">{problems}</td></tr>'
            "</tbody>"
        )

    def orders_table(self) -> str:
        records = self.records()
        waiting = sum(1 for r in records if r.state in ATTENTION_STATES)
        head = "".join(
            f"<th{' class=num' if key == 'total' else ''}>{self.t(key)}</th>"
            for key in ("store", "order", "state", "total", "date", "documents", "actions")
        )
        rows = "".join(self.order_rows(r) for r in records)
        empty = "" if records else f'<p class="empty">{self.t("no_orders")}</p>'
        plural = "needs_attention_one" if waiting == 1 else "needs_attention_other"
        attention = f'<p class="attention">{self.t(plural, count=waiting)}</p>' if waiting else ""
        return (
            '<section class="orders">'
            f"{attention}"
            f'<div class="toolbar"><label>{self.t("search")} '
            f'<input type="search" id="search" placeholder="{self.t("search_placeholder")}"></label>'
            f'<span class="muted">{self.t("showing", count=len(records))} {self.t("all_times_utc")}</span></div>'
            f'<div class="scroll"><table id="orders"><thead><tr>{head}</tr></thead>{rows}</table></div>{empty}'
            "</section>"
        )

    def store_panel(self, store_id: str) -> str:
        settings = self.services.store(store_id)
        if settings is None:
            return ""
        waiting = unmapped_skus(self.services, store_id)
        if waiting:
            numbers: dict[str, str] = {}
            for item in waiting:
                for order_id in item["orders"]:
                    if order_id not in numbers:
                        record = self.services.state.get_order(store_id, order_id)
                        numbers[order_id] = self.order_number(record) if record is not None else order_id
            items = "".join(
                f"<li><code>{e(item['sku'])}</code> — {self.t('orders_waiting')}: "
                + ", ".join(
                    f'<a href="{e(self.link(store=store_id, state="", order=o))}">{e(numbers[o])}</a>'
                    for o in item["orders"]
                )
                + "</li>"
                for item in waiting
            )
            unmapped = f'<ul class="unmapped">{items}</ul>'
        else:
            unmapped = f'<p class="muted">{self.t("no_unmapped")}</p>'
        paused = "" if settings.outgoing_writes else f'<p class="warning">{self.t("writes_paused")}</p>'
        sku_path = f"stores/{quote(store_id, safe='')}/sku-map"
        return (
            f'<article class="store" data-store="{e(store_id)}">'
            f"<h3>{e(self.store_name(store_id))} <small class='muted'>{e(store_id)}</small></h3>"
            f"<p class='facts'>{self.t('channel')}: {e(settings.channel)} · {self.t('currency')}: "
            f"{e(settings.currency)} · {self.t('target')}: {e(settings.target)}</p>{paused}"
            f"<h4>{self.t('unmapped_skus')}</h4>{unmapped}"
            f"<h4>{self.t('sku_map')}</h4>"
            f'<form class="sku-upload" data-store="{e(store_id)}">'
            f'<input type="file" name="file" accept=".csv,text/csv" aria-label="{self.t("sku_map")}">'
            f'<button type="submit">{self.t("upload")}</button>'
            f'<output class="result" role="status"></output></form>'
            f'<p class="muted">{self.t("sku_map_help")} '
            f'<a class="download" data-api-path="{e(sku_path)}" href="{e(self.api(sku_path))}" download>'
            f"{self.t('download_csv')}</a></p>"
            "</article>"
        )

    def stores_section(self) -> str:
        store_ids = [self.store] if self.store else sorted(self.services.stores)
        panels = "".join(self.store_panel(s) for s in store_ids)
        return f'<section class="stores"><h2>{self.t("stores")}</h2><div class="panels">{panels}</div></section>'

    def queues_section(self) -> str:
        report = health_report(self.services)
        checks = report.get("checks", {})
        # Refused store files have their own banner; this line is for the state store.
        degraded = (
            f'<p class="warning">{self.t("health_degraded")}: {e(checks.get("state", ""))}</p>'
            if checks.get("state", "ok") != "ok"
            else ""
        )
        queues: Mapping[str, Any] = checks.get("queues") or {}
        if not queues:
            return f'<section class="queues">{degraded}</section>' if degraded else ""
        fields = ("active", "scheduled", "locked", "dead_lettered", "oldest_enqueued_age_seconds")
        labels = ("queue_active", "queue_scheduled", "queue_locked", "queue_dead_lettered", "queue_oldest")
        head = "".join(f"<th class=num>{self.t(k)}</th>" for k in labels)
        rows = ""
        for name, stats in queues.items():
            # The SQLite bus gives a dataclass; a JSON round trip gives a dict.
            values = [stats.get(f, 0) if isinstance(stats, Mapping) else getattr(stats, f, 0) for f in fields]
            values[-1] = round(float(values[-1]))
            cells = "".join(
                f'<td class="num{" alarm" if i == 3 and v else ""}">{e(v)}</td>' for i, v in enumerate(values)
            )
            rows += f"<tr><td><code>{e(name)}</code></td>{cells}</tr>"
        return (
            f'<section class="queues"><h2>{self.t("queues")}</h2>{degraded}'
            f'<div class="scroll"><table><thead><tr><th>{self.t("queue")}</th>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table></div></section>"
        )

    def filters(self) -> str:
        options = [f'<option value="">{self.t("all_stores")}</option>']
        for store_id in sorted(self.services.stores):
            selected = " selected" if store_id == self.store else ""
            options.append(f'<option value="{e(store_id)}"{selected}>{e(self.store_name(store_id))}</option>')
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{e(value)}">'
            for name, value in (("lang", self.lang), ("state", self.state), ("code", self.code))
            if value
        )
        return (
            f'<form class="filters" method="get">{hidden}<label>{self.t("store")} '
            f'<select name="store">{"".join(options)}</select></label>'
            f'<button type="submit">{self.t("filter")}</button></form>'
        )

    def refused_stores(self) -> str:
        """A banner naming each store file refused at load: file, setting and reason (never a secret)."""
        items = "".join(
            f'<li data-store="{e(store_id)}"><code>{e(problem.file)}</code> — {self.t("store_file_key")} '
            f'<code>{e(problem.key)}</code>: <span lang="en">{e(problem.reason)}</span></li>'
            for store_id, problems in sorted(self.services.broken.items())
            for problem in problems
        )
        if not items:
            return ""
        return (
            f'<section class="store-files warning" role="alert"><h2>{self.t("store_files_refused")}</h2>'
            f"<p>{self.t('store_files_help')}</p><ul>{items}</ul></section>"
        )

    def overview(self) -> str:
        unknown = (
            f'<p class="warning">{self.t("unknown_store")}: {e(self.store)}</p>'
            if self.store and self.services.store(self.store) is None and self.store not in self.services.broken
            else ""
        )
        return (
            unknown
            + self.filters()
            + self.counts()
            + self.orders_table()
            + self.stores_section()
            + self.queues_section()
        )

    # -- one order -------------------------------------------------------------------------------------

    def timeline(self, entries: list[TimelineEntry]) -> str:
        states = {s.value for s in OrderState}

        def action(name: str) -> str:
            if name in states:
                return badge(name, self.lang)
            return (
                f'<span class="action">{e(action_label(name, self.lang))}</span><small class="code">{e(name)}</small>'
            )

        def detail(entry: TimelineEntry) -> str:
            # Entries stored before detail_es existed have only English: shown as such, marked for screen readers.
            if self.lang == "es" and entry.detail_es:
                return f"<td>{e(entry.detail_es)}</td>"
            if self.lang != "en" and entry.detail:
                return f'<td lang="en">{e(entry.detail)}</td>'
            return f"<td>{e(entry.detail)}</td>"

        rows = "".join(
            f"<tr><td>{time_tag(t.at, seconds=True)}</td><td>{e(t.actor)}</td><td>{action(t.action)}</td>"
            f"{detail(t)}</tr>"
            for t in entries
        )
        head = "".join(f"<th>{self.t(k)}</th>" for k in ("time", "actor", "action", "detail"))
        return (
            f'<div class="scroll"><table class="timeline"><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table></div>"
        )

    def documents_table(self, record: OrderRecord) -> str:
        if not record.documents:
            return f'<p class="muted">{self.t("no_documents")}</p>'
        head = "".join(
            f"<th{' class=num' if k == 'total' else ''}>{self.t(k)}</th>"
            for k in ("kind", "number", "total", "tax", "issued", "target", "where")
        )
        rows = "".join(
            f'<tr><td>{self.t(d.kind)}</td><td class="nowrap"><strong>{e(d.number)}</strong></td>'
            f'<td class="num">{e(format_money(d.total, d.currency, self.lang))}</td>'
            f'<td class="num">{e(format_money(d.tax, d.currency, self.lang))}</td>'
            f"<td>{time_tag(d.issued_at, seconds=True)}</td><td>{e(d.target)}</td>"
            f"<td>{self.where(d)}</td></tr>"
            for d in record.documents
        )
        return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>'

    def where(self, document: DocumentRef) -> str:
        """The file name (an outbox path) or the external id; the full location on hover."""
        location = document.location or document.external_id
        name = location.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] if "://" not in location else location
        return f'<code title="{e(location)}">{e(name)}</code>'

    def lines_table(self, record: OrderRecord) -> str:
        order = record.order
        if order is None or not order.lines:
            return ""
        head = "".join(
            f"<th{' class=num' if k in ('quantity', 'line_total') else ''}>{self.t(k)}</th>"
            for k in ("sku", "product", "quantity", "line_total")
        )
        rows = "".join(
            f"<tr><td><code>{e(line.sku)}</code></td><td>{e(line.name)}</td>"
            f'<td class="num">{e(line.quantity.normalize())}</td>'
            f'<td class="num">{e(format_money(line.total, order.currency, self.lang))}</td></tr>'
            for line in order.lines
        )
        return (
            f"<h3>{self.t('lines')}</h3>"
            f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>'
        )

    def detail(self, order_id: str) -> str:
        back = f'<p><a class="back" href="{e(self.link(order=""))}">← {self.t("back")}</a></p>'
        record = self.services.state.get_order(self.store, order_id)
        if record is None:
            return back + f'<p class="warning">{self.t("not_found")}</p>'
        order = record.order
        facts: list[tuple[str, str]] = [
            ("store", e(self.store_name(record.store_id))),
            ("order_id", f"<code>{e(record.order_id)}</code>"),
            ("total", e(self.total(record))),
        ]
        if order is not None:
            facts += [
                ("tax", e(format_money(order.tax_total, order.currency, self.lang))),
                ("created", time_tag(order.created_at)),
                ("country", e(order.customer.billing.country or "—")),
            ]
        facts += [("changed", time_tag(record.changed_at, seconds=True)), ("attempt", e(record.attempt))]
        dl = "".join(f"<dt>{self.t(k)}</dt><dd>{v}</dd>" for k, v in facts)
        problems = self.problems(record.problems)
        refunds = ""
        if order is not None and order.refunds:
            items = "".join(
                f"<li><code>{e(r.refund_id)}</code> {time_tag(r.created_at)} "
                f"{e(format_money(r.amount, order.currency, self.lang))}</li>"
                for r in order.refunds
            )
            refunds = f"<h3>{self.t('refunds')}</h3><ul>{items}</ul>"
        timeline = self.services.state.get_timeline(record.store_id, record.order_id)
        return (
            back + f'<section class="detail order" data-store="{e(record.store_id)}" data-order="{e(record.order_id)}" '
            f'data-state="{e(record.state.value)}">'
            f"<h2>{self.t('order_detail', number=self.order_number(record))} "
            f'<span class="state">{badge(record.state.value, self.lang)}</span> '
            f'<span class="actions">{self.retry_button(record)}<span class="error" role="alert"></span></span></h2>'
            f'<div class="problems-row"{"" if problems else " hidden"}>{problems}</div>'
            f"<dl>{dl}</dl>"
            f"{self.lines_table(record)}{refunds}"
            f'<h3>{self.t("documents")}</h3><div class="documents-table">{self.documents_table(record)}</div>'
            f'<h3>{self.t("timeline")} <small class="muted">{self.t("all_times_utc")}</small></h3>'
            f"{self.timeline(timeline)}"
            "</section>"
        )

    # -- the document ----------------------------------------------------------------------------------

    def script_data(self) -> str:
        data = {
            "lang": self.lang,
            "code": self.code,
            "retryable": sorted(RETRYABLE),
            "states": {s.value: state_label(s.value, self.lang) for s in OrderState},
            "strings": {k: translate(k, self.lang) for k in SCRIPT_KEYS},
        }
        # Inside <script> only "<" can end the element early; \u003c keeps the JSON equal and inert.
        text = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
        return text.replace("&", "\\u0026")

    def document(self, body: str) -> str:
        other = "en" if self.lang == "es" else "es"
        switch = (
            f'<a class="language" hreflang="{other}" lang="{other}" href="{e(self.link(lang=other, order=self.order))}"'
            f' title="{self.t("switch_language_title")}">{self.t("switch_language")}</a>'
        )
        csp = (
            f"default-src 'none'; script-src 'nonce-{self.nonce}'; style-src 'nonce-{self.nonce}'; "
            "connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'"
        )
        return (
            f'<!doctype html><html lang="{self.lang}"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{e(csp)}">'
            '<meta name="referrer" content="no-referrer"><link rel="icon" href="data:,">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{self.t("title")}</title><style nonce="{self.nonce}">{STYLE}</style></head><body>'
            f'<header><div><h1><a href="{e(self.link(order="", state="", store=""))}">{self.t("title")}</a></h1>'
            f'<p class="muted">{self.t("subtitle")}</p></div>{switch}</header>'
            f"<main>{body}</main>"
            f'<script type="application/json" id="page-data">{self.script_data()}</script>'
            f'<script nonce="{self.nonce}">{SCRIPT}</script></body></html>'
        )


def render_dashboard(services: Services, params: Mapping[str, str], accept_language: str) -> str:
    """The dashboard HTML for the query parameters (lang, store, state, order, limit, code).

    Language: `lang` if en or es, else the browser's Accept-Language, else the filtered store's
    `language` setting, else English. Reads state only; never raises for odd parameters.
    """
    store = (params.get("store") or "").strip()
    settings = services.store(store) if store else None
    lang = choose_language(params.get("lang"), accept_language, settings.language if settings else "en")
    state = (params.get("state") or "").strip()
    if state not in {s.value for s in OrderState}:
        state = ""
    try:
        limit = min(max(int(params.get("limit") or DEFAULT_LIMIT), 1), MAX_LIMIT)
    except ValueError:
        limit = DEFAULT_LIMIT
    order_id = (params.get("order") or "").strip()
    page = _Page(
        services,
        lang=lang,
        code=params.get("code") or "",
        store=store,
        state=state,
        limit=limit,
        nonce=secrets.token_urlsafe(16),
        order=order_id if store else "",
    )
    return page.document(page.refused_stores() + (page.detail(order_id) if store and order_id else page.overview()))


STYLE = """
:root{--ink:#1d2430;--muted:#5f6b7a;--line:#d9dee5;--bg:#f6f7f9;--card:#fff;--accent:#1f5fbf}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--ink);background:var(--bg)}
header{display:flex;justify-content:space-between;align-items:flex-start;gap:1rem;padding:1rem 1.5rem;
background:var(--card);border-bottom:1px solid var(--line)}
header h1{margin:0;font-size:1.4rem}header h1 a{color:inherit;text-decoration:none}header p{margin:.2rem 0 0}
main{padding:1rem 1.5rem;max-width:1400px;margin:0 auto}
a{color:var(--accent)}
.muted{color:var(--muted)}small.muted{display:block;font-size:.8em}h3 small.muted,h2 small.muted{display:inline}
.language{border:1px solid var(--line);border-radius:4px;padding:.3rem .7rem;text-decoration:none;background:var(--bg)}
.filters{display:flex;gap:.5rem;align-items:center;margin:.5rem 0 1rem}
select,input,button{font:inherit}
button{cursor:pointer;border:1px solid var(--accent);background:var(--accent);color:#fff;border-radius:4px;
padding:.25rem .8rem}
button:disabled{opacity:.6;cursor:progress}
.filters button{background:var(--card);color:var(--accent)}
.counts{display:grid;grid-template-columns:repeat(auto-fill,minmax(7.2rem,1fr));gap:.5rem;margin-bottom:1rem}
.count{display:flex;flex-direction:column;padding:.45rem .7rem;border:1px solid var(--line);
border-left-width:5px;border-radius:6px;background:var(--card);color:var(--ink);text-decoration:none}
.count .number{font-size:1.5rem;font-weight:600}.count .label{font-size:.85rem;color:var(--muted)}
.count.zero{opacity:.55}.count.active{outline:2px solid var(--accent)}
.count.all{border-left-color:var(--ink)}
#search{min-width:18rem}
.nowrap{white-space:nowrap}
.action{display:block}small.code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.75rem;
color:var(--muted)}
.toolbar{display:flex;flex-wrap:wrap;justify-content:space-between;gap:.5rem;margin:.5rem 0}
.scroll{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:6px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:.8rem;text-transform:uppercase;letter-spacing:.03em;color:var(--muted);background:var(--bg)}
.num{text-align:right;white-space:nowrap}
tbody.order .order-row td{border-bottom:none}tbody.order{border-bottom:1px solid var(--line)}
tbody.order[data-state=held],tbody.order[data-state=failed]{background:#fffaf0}
.problems-row td{padding-top:0}
.problems{margin:0;padding-left:1.2rem}.problems li{margin:.15rem 0}
.problems .facts{display:block;color:var(--muted);font-size:.8rem}
.badge{display:inline-block;padding:.05rem .55rem;border-radius:999px;font-size:.8rem;font-weight:600;
white-space:nowrap;background:#e8ecf1;color:#34404f}
.state-received,.state-validated{--c:#2b6cb0}.state-invoiced,.state-paid{--c:#2f855a}
.state-stock_synced{--c:#2c7a7b}.state-held{--c:#b7791f}.state-failed{--c:#c53030}
.state-credited{--c:#6b46c1}.state-cancelled{--c:#718096}
.badge[class*=state-]{background:var(--c);color:#fff}.count[class*=state-]{border-left-color:var(--c)}
.doc{display:block;white-space:nowrap}
.error{display:block;color:#c53030;font-size:.85rem}
.attention{font-weight:600;color:#8a5a00}
.warning{background:#fff4e5;border:1px solid #f0c36d;border-radius:6px;padding:.5rem .8rem}
.empty{padding:1rem;background:var(--card)}
.stores .panels{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:1rem}
.store{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.8rem 1rem}
.store h3{margin:.1rem 0}.store h4{margin:.8rem 0 .3rem;font-size:.95rem}.store .facts{margin:.2rem 0}
.sku-upload{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}
.sku-upload output{flex-basis:100%;font-size:.9rem}
.sku-upload output.ok{color:#2f855a}.sku-upload output.bad{color:#c53030}
.alarm{color:#c53030;font-weight:600}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;background:var(--card);
border:1px solid var(--line);border-radius:6px;padding:.8rem 1rem}
dt{color:var(--muted)}dd{margin:0}
.detail h2 .actions{display:inline-block;vertical-align:middle}
.detail .problems-row{background:#fffaf0;border:1px solid #f0c36d;border-radius:6px;padding:.5rem 1rem;
margin-bottom:1rem}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
[hidden]{display:none!important}
"""

# Plain DOM, textContent only (never innerHTML): API answers carry store data and stay inert.
SCRIPT = """
(function () {
  "use strict";
  var page = JSON.parse(document.getElementById("page-data").textContent);
  var s = page.strings;
  // Same origin, relative to this page: /api/dashboard -> /api/ (any route prefix, trailing slash or not).
  var base = location.pathname.replace(/dashboard\\/?$/, "");
  function api(path) {
    return base + path + (page.code ? "?code=" + encodeURIComponent(page.code) : "");
  }
  function orderPath(store, order) {
    return "orders/" + encodeURIComponent(store) + "/" + encodeURIComponent(order);
  }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  function problemText(body, status) {
    if (body && (body.detail || body.title)) { return body.detail || body.title; }
    return s.network_error + " (" + status + ")";
  }
  function renderProblems(container, problems) {
    container.textContent = "";
    if (!problems.length) { container.hidden = true; return; }
    var list = el("ul", "problems");
    problems.forEach(function (p) {
      var item = el("li");
      item.appendChild(el("span", "message", page.lang === "es" ? p.message_es : p.message_en));
      var facts = el("small", "facts");
      facts.appendChild(el("code", "", p.code));
      [["field", p.field], ["expected", p.expected], ["found", p.found]].forEach(function (pair) {
        if (!pair[1]) { return; }
        facts.appendChild(document.createTextNode(" · " + s[pair[0]] + ": "));
        facts.appendChild(el("code", "", pair[1]));
      });
      item.appendChild(facts);
      list.appendChild(item);
    });
    container.appendChild(list);
    container.hidden = false;
  }
  function update(group, summary) {
    group.dataset.state = summary.state;
    var badge = group.querySelector(".state .badge");
    badge.className = "badge state-" + summary.state;
    badge.dataset.state = summary.state;
    badge.textContent = page.states[summary.state] || summary.state;
    var docs = group.querySelector("td.documents");
    if (docs) {
      docs.textContent = "";
      summary.documents.forEach(function (d) {
        var span = el("span", "doc doc-" + d.kind, (s[d.kind] || d.kind) + " ");
        span.appendChild(el("strong", "", d.number));
        docs.appendChild(span);
      });
      if (!summary.documents.length) { docs.appendChild(el("span", "muted", s.no_documents)); }
    }
    var row = group.querySelector(".problems-row");
    var target = row.querySelector("td") || row;
    renderProblems(target, summary.problems);
    row.hidden = !summary.problems.length;
    var button = group.querySelector("button.retry");
    button.hidden = page.retryable.indexOf(summary.state) < 0;
    button.disabled = false;
    button.textContent = s.retry;
  }
  function readJson(response) {
    return response.text().then(function (text) {
      try { return JSON.parse(text); } catch (ignored) { return null; }
    });
  }
  // After a retry the pipeline works asynchronously: follow the order until it leaves received/validated.
  function follow(group, tries) {
    var store = group.dataset.store, order = group.dataset.order;
    fetch(api(orderPath(store, order)), {headers: {"Accept": "application/json"}})
      .then(function (response) {
        return readJson(response).then(function (body) { return {ok: response.ok, body: body}; });
      })
      .then(function (result) {
        if (!result.ok || !result.body) { return; }
        update(group, result.body);
        if ((result.body.state === "received" || result.body.state === "validated") && tries > 0) {
          setTimeout(function () { follow(group, tries - 1); }, 1000);
        } else if (group.classList.contains("detail")) {
          location.reload();  // the timeline and documents of the detail view are rendered by the server
        }
      })
      .catch(function () {});
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.retry");
    if (!button) { return; }
    var group = button.closest(".order");
    var error = group.querySelector(".error");
    error.textContent = "";
    button.disabled = true;
    button.textContent = s.retrying;
    fetch(api(orderPath(group.dataset.store, group.dataset.order) + "/retry"), {method: "POST"})
      .then(function (response) {
        return readJson(response).then(function (body) {
          if (!response.ok) { throw new Error(s.retry_failed + ": " + problemText(body, response.status)); }
          update(group, body);
          button.hidden = true;
          setTimeout(function () { follow(group, 60); }, 500);
        });
      })
      .catch(function (failure) {
        button.disabled = false;
        button.textContent = s.retry;
        error.textContent = failure.message || s.network_error;
      });
  });
  document.querySelectorAll("form.sku-upload").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var output = form.querySelector("output");
      var file = form.querySelector("input[type=file]").files[0];
      output.className = "result";
      if (!file) { output.textContent = s.choose_file; output.classList.add("bad"); return; }
      output.textContent = s.uploading;
      var path = "stores/" + encodeURIComponent(form.dataset.store) + "/sku-map";
      fetch(api(path), {method: "PUT", headers: {"Content-Type": "text/csv; charset=utf-8"}, body: file})
        .then(function (response) {
          return readJson(response).then(function (body) {
            if (!response.ok) { throw new Error(s.upload_failed + ": " + problemText(body, response.status)); }
            output.textContent = s.uploaded.replace("{count}", String(body.count));
            output.classList.add("ok");
          });
        })
        .catch(function (failure) {
          output.textContent = failure.message || s.network_error;
          output.classList.add("bad");
        });
    });
  });
  document.querySelectorAll("a[data-api-path]").forEach(function (link) {
    link.href = api(link.dataset.apiPath);
  });
  var search = document.getElementById("search");
  if (search) {
    search.addEventListener("input", function () {
      var needle = search.value.trim().toLowerCase();
      document.querySelectorAll("#orders tbody.order").forEach(function (group) {
        group.hidden = needle !== "" && group.textContent.toLowerCase().indexOf(needle) < 0;
      });
    });
  }
})();
"""
