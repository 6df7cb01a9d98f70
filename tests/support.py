"""Test helpers: services on a temporary SQLite state, an in-memory bus that can be drained through the
real dispatch, a recording fake target, and signed webhook requests built from the fixtures."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pytest

from shared.adapters.sqlite_state import SqliteStateStore
from shared.bootstrap import Services
from shared.channels.common import sign
from shared.domain.order import Order, Refund
from shared.domain.records import DocumentRef
from shared.handlers.dispatch import handle_message
from shared.stores import StoreSettings

FIXTURES = Path(__file__).parent / "fixtures"
SECRETS = {"woocommerce": "wc-test-webhook-secret", "shopify": "shpss_test_webhook_secret"}
# What the demo merchants map: store SKU → item code in the target (UBL SellersItemIdentification).
SKU_MAP = {
    "BLUE-MUG-350ML": "MUG-BLUE-350",
    "COFFEE-COL-1KG": "COF-COL-1000",
    "MOLCAJETE-8IN": "MOLC-8",
    "OLIVE-OIL-500ML": "OIL-EVOO-500",
    "TEE-ORG-M": "TEE-ORGANIC-M",
}
STAGES = {
    "order-events": "validation",
    "invoice-requests": "invoicing",
    "stock-updates": "stock",
    "payment-events": "payments",
}


def fixture_bytes(channel: str, name: str) -> bytes:
    return (FIXTURES / channel / f"{name}.json").read_bytes()


def fixture_json(channel: str, name: str) -> dict[str, Any]:
    return dict(json.loads(fixture_bytes(channel, name)))


@dataclass
class SentMessage:
    queue: str
    body: bytes
    message_id: str
    session_id: str | None
    delivery_count: int = 0
    scheduled_at: datetime | None = None
    properties: dict[str, str] = field(default_factory=dict)


@dataclass
class InMemoryBus:
    """Bus with duplicate detection on message id; `drain` delivers through the real dispatch."""

    messages: list[SentMessage] = field(default_factory=list)
    seen: set[tuple[str, str]] = field(default_factory=set)
    dead_letters: list[SentMessage] = field(default_factory=list)

    def send(
        self,
        queue: str,
        body: bytes,
        *,
        message_id: str,
        session_id: str | None = None,
        scheduled_at: datetime | None = None,
        properties: Any = None,
    ) -> None:
        if (queue, message_id) in self.seen:
            return
        self.seen.add((queue, message_id))
        sent = SentMessage(queue, body, message_id, session_id, scheduled_at=scheduled_at)
        sent.properties = dict(properties or {})
        self.messages.append(sent)

    def drain(self, services: Services, max_delivery: int = 10, limit: int = 500, queue: str | None = None) -> int:
        """Deliver until empty; a failing message is retried up to max_delivery, then dead-lettered.

        With `queue`, only that queue's messages are delivered (queues run independently; sessions only
        order one queue). A BaseException that is not an Exception (a simulated crash) puts the message
        back at the head, as an expired peek-lock would, and propagates.
        """
        handled = 0
        while handled < limit:
            waiting = [m for m in self.messages if queue is None or m.queue == queue]
            if not waiting:
                break
            message = waiting[0]
            self.messages.remove(message)
            message.delivery_count += 1
            handled += 1
            try:
                handle_message(
                    services, STAGES[message.queue], message.body, message.message_id, message.delivery_count
                )
            except Exception:
                if message.delivery_count >= max_delivery:
                    self.dead_letters.append(message)
                else:
                    self.messages.append(message)
            except BaseException:
                self.messages.insert(0, message)
                raise
        return handled

    def queued(self, queue: str | None = None) -> list[dict[str, Any]]:
        """The waiting messages' bodies, as JSON objects, in send order."""
        return [json.loads(m.body) for m in self.messages if queue is None or m.queue == queue]


@dataclass
class FakeTarget:
    """Records documents; can be told to fail. For handler tests only: adapters are tested for real."""

    name: str = "fake"
    documents: dict[str, DocumentRef] = field(default_factory=dict)
    fail_with: Callable[[], Exception] | None = None
    calls: int = 0

    def find_document(self, order: Order, kind: str, number: str, refund_id: str = "") -> DocumentRef | None:
        return self.documents.get(f"{kind}:{order.order_id}:{refund_id}")

    def _issue(
        self,
        kind: Literal["invoice", "credit_note"],
        order: Order,
        number: str,
        total: Decimal,
        tax: Decimal,
        refund_id: str,
    ) -> DocumentRef:
        self.calls += 1
        if self.fail_with is not None:
            raise self.fail_with()
        doc = DocumentRef(
            kind=kind,
            number=number,
            target=self.name,
            external_id=number,
            total=total,
            tax=tax,
            currency=order.currency,
            refund_id=refund_id,
        )
        self.documents[f"{kind}:{order.order_id}:{refund_id}"] = doc
        return doc

    def issue_invoice(self, order: Order, number: str) -> DocumentRef:
        return self._issue("invoice", order, number, order.total, order.tax_total, "")

    def issue_credit_note(self, order: Order, refund: Refund, invoice: DocumentRef, number: str) -> DocumentRef:
        return self._issue("credit_note", order, number, refund.amount, refund.tax_total, refund.refund_id)


@dataclass
class FakeErpTarget(FakeTarget):
    """A FakeTarget that also ships orders and records payments, like an ERP (Tryton)."""

    name: str = "fake-erp"
    shipped: list[str] = field(default_factory=list)
    payments: list[tuple[str, Decimal]] = field(default_factory=list)
    fail_payment_with: Callable[[], Exception] | None = None

    def ship_order(self, order: Order) -> None:
        self.shipped.append(order.order_id)

    def record_payment(self, order: Order, invoice: DocumentRef, amount: Decimal, paid_at: datetime) -> None:
        if self.fail_payment_with is not None:
            raise self.fail_payment_with()
        self.payments.append((invoice.number, amount))


class Crash(BaseException):
    """A simulated process death (SIGKILL): no handler catches it, so nothing after it runs."""


def crash_after(owner: Any, name: str, monkeypatch: Any, when: Callable[..., bool] | None = None) -> list[int]:
    """Make `owner.name` do its work and then crash the process, once (optionally only when `when(*args)`).

    Returns a list that gets one element when the crash has happened.
    """
    original = getattr(owner, name)
    crashed: list[int] = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if not crashed and (when is None or when(*args, **kwargs)):
            crashed.append(1)
            raise Crash(f"killed after {name}")
        return result

    monkeypatch.setattr(owner, name, wrapper)
    return crashed


def store_settings(store_id: str, channel: str, **overrides: Any) -> StoreSettings:
    data: dict[str, Any] = {
        "store_id": store_id,
        "channel": channel,
        "webhook_secret": SECRETS[channel],
        "currency": "EUR",
        "target": "ubl",
        "seller": {
            "name": "Cerámica Azul S.L.",
            "vat_id": "ESB12345674",
            "street": "Calle Mayor 12",
            "city": "Valencia",
            "postal_code": "46001",
            "country": "ES",
        },
    }
    data.update(overrides)
    return StoreSettings.model_validate(data)


def make_services(tmp_path: Path, target: Any | None = None, **stores: StoreSettings) -> Services:
    stores = stores or {
        "demo-woo": store_settings("demo-woo", "woocommerce"),
        "demo-shopify": store_settings("demo-shopify", "shopify"),
    }
    services = Services(
        state=SqliteStateStore(tmp_path / "state.db"),
        bus=InMemoryBus(),
        stores={s.store_id: s for s in stores.values()},
        state_dir=tmp_path,
        clock=lambda: datetime(2026, 11, 28, 10, 0, tzinfo=UTC),
    )
    for store_id in services.stores:
        services.state.put_sku_map(store_id, SKU_MAP)
    if target is not None:
        services.target_factory = lambda settings, services: target
    return services


def webhook_headers(channel: str, topic: str, body: bytes, secret: str | None = None, **extra: str) -> dict[str, str]:
    signature = sign(body, SECRETS[channel] if secret is None else secret)
    if channel == "woocommerce":
        headers = {
            "x-wc-webhook-topic": topic,
            "x-wc-webhook-signature": signature,
            "x-wc-webhook-delivery-id": uuid.uuid4().hex,
            "x-wc-webhook-id": "7",
            "x-wc-webhook-source": "https://ceramica-azul.example/",
        }
    else:
        headers = {
            "x-shopify-topic": topic,
            "x-shopify-hmac-sha256": signature,
            "x-shopify-webhook-id": str(uuid.uuid4()),
            "x-shopify-event-id": str(uuid.uuid4()),
            "x-shopify-shop-domain": "teytetera.myshopify.com",
        }
    headers.update({k.lower().replace("_", "-"): v for k, v in extra.items()})
    return headers


DEFAULT_SELLER = {
    "name": "Cerámica Azul S.L.",
    "vat_id": "ESB12345674",
    "street": "Calle Mayor 12",
    "city": "Valencia",
    "postal_code": "46001",
    "country": "ES",
}


def write_store_file(folder: Path, store_id: str, channel: str, **settings: Any) -> None:
    """A store settings file with the test secrets; JSON is valid YAML (no quoting surprises)."""
    data = {
        "store_id": store_id,
        "channel": channel,
        "webhook_secret": SECRETS[channel],
        "currency": "EUR",
        "target": "ubl",
        "seller": DEFAULT_SELLER,
        **settings,
    }
    (folder / f"{store_id}.yaml").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


@contextmanager
def in_process_host(base: Path, stores: Path, **env: str) -> Iterator[Any]:
    """The real local host in this process on a free loopback port, with state under `base`.

    The app settings the triggers name (%OrderEventsQueue%, %CatchUpSchedule%, …) come from
    local.settings.example.json, as with `make run`; root=base keeps the repository's own
    local.settings.json and host.json out.
    """
    from local.host import start_host
    from shared.bootstrap import override_services

    root = Path(__file__).resolve().parents[1]
    with pytest.MonkeyPatch.context() as patch:
        example = json.loads((root / "local.settings.example.json").read_text(encoding="utf-8"))
        for name, value in example["Values"].items():
            if name not in os.environ:
                patch.setenv(name, str(value))
        settings = {
            "LOCAL_STATE_DIR": str(base / "state"),
            "STORES_DIR": str(stores),
            "LOCAL_TIMERS": "off",
            "LOCAL_BUS_POLL_SECONDS": "0.05",
            **env,
        }
        for name, value in settings.items():
            patch.setenv(name, value)
        override_services(None)  # the functions build their services from the variables above
        running = start_host(0, root=base)
        try:
            yield running
        finally:
            running.stop(timeout=10)
            override_services(None)


@contextmanager
def demo_store_host(base: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """in_process_host with the shipped demo store file config/stores/demo-woo.yaml (VERI*FACTU on) and its secret."""
    stores = base / "stores"
    stores.mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / "config" / "stores" / "demo-woo.yaml", stores / "demo-woo.yaml")
    monkeypatch.setenv("DEMO_WOO_SECRET", SECRETS["woocommerce"])
    with in_process_host(base, stores) as running:
        yield running


def wait_until(condition: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """local.harness.wait_for that fails the test when time runs out: the condition's first true answer."""
    from local.harness import wait_for

    found = wait_for(condition, timeout, interval)
    if not found:
        raise AssertionError(f"condition not met within {timeout}s")
    return found


def http_status(outcome: object) -> int:
    """The HTTP status the edge answers for a service's outcome: an intake result or a refusal (functions/)."""
    from functions.http import status_of
    from functions.webhooks import intake_status
    from shared.errors import BadRequest

    return status_of(outcome) if isinstance(outcome, BadRequest) else intake_status(outcome)  # type: ignore[arg-type]
