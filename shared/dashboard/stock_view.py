"""The store panel's webhook health and stock sync, for the dashboard (shared.dashboard.view): what the last
webhook check found and what the last stock sync skipped, in the reader's language."""

from __future__ import annotations

from dataclasses import dataclass

from shared.bootstrap import Services
from shared.dashboard.formats import translate
from shared.handlers import stock, webhook_health


@dataclass(frozen=True)
class WebhookFinding:
    topic: str
    finding: str  # missing | disabled | paused | wrong_url
    label: str


@dataclass(frozen=True)
class WebhookPanel:
    checked_at: str  # ISO UTC; "" when never checked
    healthy: bool
    summary: str
    problems: tuple[WebhookFinding, ...]
    repair_hint: str  # the command that re-creates them


@dataclass(frozen=True)
class StockPanel:
    synced_at: str  # the reading's time, ISO UTC
    written: int
    not_managed: tuple[str, ...]  # SKUs the store keeps no stock for: skipped
    not_in_store: tuple[str, ...]
    error: str


def webhook_panel(services: Services, store_id: str, lang: str) -> WebhookPanel:
    result = webhook_health.last_checks(services).get(store_id)
    hint = translate("webhooks_repair_hint", lang, command=f"python -m local.cli webhooks repair {store_id}")
    if result is None:
        return WebhookPanel("", True, translate("webhooks_not_checked", lang), (), "")
    problems = tuple(
        WebhookFinding(check["topic"], check["finding"], translate(f"webhook_{check['finding']}", lang))
        for check in result.get("checks", [])
        if check["finding"] != "ok"
    )
    if result.get("error"):
        summary = translate("webhooks_unreadable", lang)
    elif problems:
        summary = translate("webhooks_unhealthy", lang, count=len(problems))
    else:
        summary = translate("webhooks_ok", lang)
    healthy = not problems and not result.get("error")
    return WebhookPanel(result["checked_at"], healthy, summary, problems, "" if healthy else hint)


def stock_panel(services: Services, store_id: str) -> StockPanel | None:
    report = stock.last_report(services, store_id)
    if report is None:
        return None
    return StockPanel(
        report.get("read_at", ""),
        len(report.get("written", [])),
        tuple(report.get("not_managed", [])),
        tuple(report.get("not_in_store", [])),
        report.get("error", ""),
    )
