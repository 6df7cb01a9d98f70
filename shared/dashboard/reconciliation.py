"""The reconciliation page of the dashboard: a view model built from a reconciliation report (pure) and its
template, reconciliation.html, in English or Spanish through the texts catalogs."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

from shared.bootstrap import Services
from shared.dashboard.formats import translate
from shared.dashboard.page import content_security_policy, environment
from shared.handlers.reconciliation import KINDS, Report, parse_range, reconcile
from shared.texts import choose_language


@dataclass(frozen=True)
class DifferenceRow:
    kind: str
    label: str
    subject: str  # the order number or the SKU
    store: str
    service: str
    target: str
    explanation: str
    remedy: str


@dataclass(frozen=True)
class ReconciliationPage:
    lang: str
    other_lang: str
    switch_href: str
    store_id: str
    start: str
    end: str
    rows: tuple[DifferenceRow, ...]
    counts: tuple[tuple[str, int], ...]  # (label, how many) per kind, every kind
    compared: str
    stock_compared: bool


def reconciliation_view(report: Report, lang: str, code: str = "") -> ReconciliationPage:
    """What the page shows of a report, in lang. Reads nothing."""
    other = "es" if lang == "en" else "en"
    query = {"store": report.store_id, "from": report.start.isoformat(), "to": report.end.isoformat(), "code": code}
    rows = []
    for difference in report.differences:
        data = difference.as_dict(lang)
        rows.append(
            DifferenceRow(
                kind=difference.kind,
                label=translate(f"recon_label_{difference.kind}", lang),
                subject=difference.number or difference.order_id or difference.sku,
                store=difference.store or "",
                service=difference.service or "",
                target=difference.target or "",
                explanation=data["explanation"],
                remedy=translate(f"recon_remedy_{difference.remedy}", lang),
            )
        )
    return ReconciliationPage(
        lang=lang,
        other_lang=other,
        switch_href="?" + urlencode({k: v for k, v in (query | {"lang": other}).items() if v}),
        store_id=report.store_id,
        start=report.start.isoformat(),
        end=report.end.isoformat(),
        rows=tuple(rows),
        counts=tuple((translate(f"recon_label_{kind}", lang), report.counts[kind]) for kind in KINDS),
        compared=translate("recon_compared", lang, **report.compared),
        stock_compared=report.stock_compared,
    )


def render_reconciliation(
    services: Services, params: Mapping[str, str], accept_language: str, *, nonce: str | None = None, static_base: str
) -> str:
    """The page for ?store=&from=&to= (a bad range is refused by parse_range, an unknown store by reconcile).
    Without dates it shows the last seven days up to the service's today."""
    store_id = (params.get("store") or "").strip()
    settings = services.store(store_id)
    lang = choose_language(params.get("lang"), accept_language, settings.language if settings else "en")
    today = services.clock().date()
    first, last = parse_range(
        params.get("from") or date.fromordinal(today.toordinal() - 6).isoformat(), params.get("to") or today.isoformat()
    )
    page = reconciliation_view(reconcile(services, store_id, first, last), lang, params.get("code") or "")
    nonce = nonce or secrets.token_urlsafe(16)

    def t(key: str, **values: object) -> str:
        return translate(key, lang, **values)

    template = environment().get_template("reconciliation.html")
    return template.render(page=page, t=t, nonce=nonce, csp=content_security_policy(nonce), static=static_base)
