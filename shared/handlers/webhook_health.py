"""Webhook health: compare the store's webhook subscriptions with the ones this service needs, and re-create them.

WooCommerce disables a webhook after five failed deliveries in a row and Shopify removes failing ones; the
catch-up poll still brings the orders, late. A timer reads each store's subscriptions; every topic of the channel
needs one active subscription delivering to this service's webhook route. The findings are kept (health,
dashboard) and counted in the metric webhooks_unhealthy, which an Azure alert watches.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from shared import telemetry
from shared.bootstrap import Services
from shared.channels import channel_of
from shared.channels.store_api import store_api
from shared.errors import PermanentError, RetryableError
from shared.handlers.common import log
from shared.ports import StoreApi, WebhookSubscription
from shared.stores import StoreSettings

Finding = Literal["ok", "missing", "disabled", "paused", "wrong_url"]
BASE_URL_SETTING = "PUBLIC_BASE_URL"  # https://<app>.azurewebsites.net; else WEBSITE_HOSTNAME, set by Azure


@dataclass(frozen=True)
class WebhookCheck:
    topic: str
    finding: Finding
    subscription_id: str = ""
    delivery_url: str = ""


def public_base_url(env: Mapping[str, str] | None = None) -> str:
    """Where stores reach this service: PUBLIC_BASE_URL, else https://WEBSITE_HOSTNAME (Azure sets it), else ""."""
    env = os.environ if env is None else env
    explicit = env.get(BASE_URL_SETTING, "").strip().rstrip("/")
    if explicit:
        return explicit
    host = env.get("WEBSITE_HOSTNAME", "").strip()
    return f"https://{host}" if host else ""


def delivery_url(settings: StoreSettings, base_url: str) -> str:
    """The webhook route of this store (functions/webhooks.py)."""
    return f"{base_url.rstrip('/')}/api/webhooks/{settings.channel}/{settings.store_id}"


def compare(topics: list[str], found: list[WebhookSubscription], url: str) -> list[WebhookCheck]:
    """One finding per needed topic: ok when an active subscription delivers to `url`; otherwise the closest one
    (disabled/paused at our URL before another URL), or missing."""
    checks = []
    for topic in topics:
        ours = [s for s in found if s.topic == topic]
        at_url = [s for s in ours if s.delivery_url.rstrip("/") == url.rstrip("/")] if url else ours
        active = [s for s in at_url if s.status == "active"]
        if active:
            checks.append(WebhookCheck(topic, "ok", active[0].subscription_id, active[0].delivery_url))
        elif at_url:
            finding: Finding = "paused" if at_url[0].status == "paused" else "disabled"
            checks.append(WebhookCheck(topic, finding, at_url[0].subscription_id, at_url[0].delivery_url))
        elif ours:
            checks.append(WebhookCheck(topic, "wrong_url", ours[0].subscription_id, ours[0].delivery_url))
        else:
            checks.append(WebhookCheck(topic, "missing"))
    return checks


def health_mark(store_id: str) -> str:
    return f"webhook-health:{store_id}"


def check_store(
    services: Services, settings: StoreSettings, base_url: str | None = None, api: StoreApi | None = None
) -> dict[str, Any]:
    """Read and compare one store's subscriptions; the result is kept for /api/health and the dashboard."""
    api = api or store_api(settings)
    url = delivery_url(settings, public_base_url() if base_url is None else base_url)
    result: dict[str, Any] = {"store_id": settings.store_id, "checked_at": services.clock().isoformat()}
    try:
        checks = compare(sorted(channel_of(settings.channel).TOPICS), api.list_webhooks(), url)
    except (RetryableError, PermanentError) as error:
        result["error"] = error.code if isinstance(error, PermanentError) else "store_api_unavailable"
        result["checks"] = []
        unhealthy = -1
    else:
        result["checks"] = [asdict(check) for check in checks]
        unhealthy = sum(check.finding != "ok" for check in checks)
    result["unhealthy"] = unhealthy
    services.state.set_watermark(health_mark(settings.store_id), json.dumps(result))
    telemetry.record_unhealthy_webhooks(max(unhealthy, 0), settings.store_id)
    log.info("webhook-health store=%s unhealthy=%d", settings.store_id, unhealthy)
    return result


def check_all(services: Services, base_url: str | None = None) -> list[dict[str, Any]]:
    """The timer: every store with API credentials."""
    return [
        check_store(services, settings, base_url)
        for settings in services.stores.values()
        if store_api(settings).can_read_orders()
    ]


def last_checks(services: Services) -> dict[str, dict[str, Any]]:
    """The latest finding of every store checked so far, by store id."""
    found = {}
    for store_id in services.stores:
        raw = services.state.get_watermark(health_mark(store_id))
        if raw:
            found[store_id] = json.loads(raw)
    return found


def repair(services: Services, settings: StoreSettings, base_url: str, api: StoreApi | None = None) -> dict[str, Any]:
    """Re-create every subscription that is not ok, pointing at this service with the store's secret: a disabled,
    paused or misdirected one is deleted first, so each topic ends with exactly one active subscription."""
    api = api or store_api(settings)
    url = delivery_url(settings, base_url)
    created = []
    for check in compare(sorted(channel_of(settings.channel).TOPICS), api.list_webhooks(), url):
        if check.finding == "ok":
            continue
        if check.subscription_id and check.finding != "wrong_url":
            api.delete_webhook(check.subscription_id)  # a misdirected one may serve another system: left alone
        api.create_webhook(check.topic, url, settings.webhook_secret)
        created.append(check.topic)
    after = check_store(services, settings, base_url, api)
    return {"store_id": settings.store_id, "created": created, "unhealthy": after["unhealthy"]}
