"""Health tells the truth (state, bus and document store, each named when it fails: 503) and
`GET /api/documents/{store_id}/{number}` serves a document through the document store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from local.registry import registered_functions
from shared.adapters.documents_fs import FolderDocumentStore
from shared.adapters.servicebus import ServiceBusBus
from shared.bootstrap import Services, override_services
from shared.errors import RetryableError
from tests.support import make_services

INVOICE = b'<?xml version="1.0" encoding="UTF-8"?>\n<Invoice><ID>INV-000041</ID></Invoice>\n'


@pytest.fixture
def functions() -> dict[str, Any]:
    import function_app

    return registered_functions(function_app.app)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    built = make_services(tmp_path)
    override_services(built)
    yield built
    override_services(None)


def _health(functions: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = functions["health"].get_user_function()(func.HttpRequest("GET", "http://127.0.0.1/api/health", body=b""))
    return response.status_code, json.loads(response.get_body())


def _document(functions: dict[str, Any], store_id: str, number: str) -> func.HttpResponse:
    request = func.HttpRequest(
        "GET",
        f"http://127.0.0.1/api/documents/{store_id}/{number}",
        route_params={"store_id": store_id, "number": number},
        body=b"",
    )
    return functions["get_document"].get_user_function()(request)


class BrokenState:
    def list_orders(self, *args: object, **kwargs: object) -> list[object]:
        raise RetryableError("Table Storage answered 503")


class PingableBus:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.pinged: list[str] = []

    def send(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("health never sends")

    def ping(self, queues: list[str]) -> None:
        self.pinged.extend(queues)
        if self.error:
            raise self.error


def test_health_is_ok_when_state_bus_and_documents_answer(functions, services):
    services.bus = PingableBus()  # type: ignore[assignment]

    status, report = _health(functions)

    assert status == 200
    assert report["status"] == "ok" and report["failing"] == []
    assert {report["checks"][k] for k in ("state", "bus", "documents")} == {"ok"}
    assert services.bus.pinged == ["order-events", "invoice-requests", "stock-updates", "payment-events"]  # type: ignore[attr-defined]
    assert services.document_store.get("demo-woo", "INV-000041") is None  # the probe is no document


def test_health_answers_503_naming_a_document_store_that_cannot_be_written(functions, services, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the outbox folder should be")
    services.documents = FolderDocumentStore(blocked / "outbox")

    status, report = _health(functions)

    assert status == 503
    assert report["failing"] == ["documents"]
    assert report["checks"]["documents"].startswith("error: ")
    assert report["checks"]["state"] == "ok"


def test_health_answers_503_naming_an_unreachable_state_store(functions, services):
    services.state = BrokenState()  # type: ignore[assignment]

    status, report = _health(functions)

    assert (status, report["failing"]) == (503, ["state"])
    assert report["checks"]["state"] == "error: RetryableError: Table Storage answered 503"


def test_health_answers_503_naming_an_unreachable_bus(functions, services):
    services.bus = PingableBus(ConnectionError("amqp link refused"))  # type: ignore[assignment]

    status, report = _health(functions)

    assert (status, report["failing"]) == (503, ["bus"])
    assert report["checks"]["bus"] == "error: ConnectionError"  # an SDK's message is not shown


class BatchingSender:
    def __init__(self, queue: str, refuse: set[str]) -> None:
        self.queue = queue
        self.refuse = refuse
        self.batches = 0
        self.closed = False

    def send_messages(self, message: object) -> None:
        raise AssertionError("ping never sends")

    def create_message_batch(self) -> object:
        if self.queue in self.refuse:
            raise PermissionError(f"no Send right on {self.queue}")
        self.batches += 1
        return object()

    def close(self) -> None:
        self.closed = True


def test_service_bus_ping_opens_a_new_link_to_every_queue_each_time_and_closes_it():
    senders: list[BatchingSender] = []
    refuse: set[str] = set()

    def factory(queue: str) -> BatchingSender:
        senders.append(BatchingSender(queue, refuse))
        return senders[-1]

    bus = ServiceBusBus(factory)
    bus.ping(["order-events", "invoice-requests"])
    refuse.add("invoice-requests")  # the Send right is withdrawn, or the queue deleted
    with pytest.raises(PermissionError):
        bus.ping(["order-events", "invoice-requests"])

    assert [(s.queue, s.batches, s.closed) for s in senders] == [
        ("order-events", 1, True),
        ("invoice-requests", 1, True),
        ("order-events", 1, True),
        ("invoice-requests", 0, True),
    ]


def test_a_document_is_served_as_xml(functions, services):
    services.document_store.put("demo-woo", "INV-000041", INVOICE, order_id="4711")

    response = _document(functions, "demo-woo", "INV-000041")

    assert response.status_code == 200
    assert response.get_body() == INVOICE
    assert response.headers["Content-Type"] == "application/xml"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]


def test_an_unknown_document_is_a_404_problem(functions, services):
    services.document_store.put("demo-woo", "INV-000041", INVOICE, order_id="4711")

    for store_id, number in (("demo-woo", "INV-000042"), ("demo-shopify", "INV-000041")):
        response = _document(functions, store_id, number)
        assert response.status_code == 404
        assert response.headers["Content-Type"] == "application/problem+json"
        assert json.loads(response.get_body())["title"] == "Unknown document"


@pytest.mark.parametrize(
    ("store_id", "number"),
    [("demo-woo", ".."), ("demo-woo", "../../state"), ("..", "INV-000041"), ("demo-woo", ".health"), ("a/b", "1")],
)
def test_a_document_name_that_could_leave_the_store_is_a_400_problem(functions, services, store_id, number):
    (services.state_dir / "outbox" / "secret.xml").parent.mkdir(parents=True, exist_ok=True)
    (services.state_dir / "outbox" / "secret.xml").write_bytes(b"<secret/>")

    response = _document(functions, store_id, number)

    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert b"secret" not in response.get_body()


@pytest.mark.azurite
def test_documents_and_health_go_through_blob_storage_when_configured(functions, services, azurite, monkeypatch):
    from shared.bootstrap import _build_documents

    monkeypatch.setenv("DOCUMENT_STORE", "blob")
    monkeypatch.setenv("DOCUMENTS_CONNECTION", azurite)
    monkeypatch.setenv("DOCUMENTS_CONTAINER", "documents-route-test")
    services.documents = _build_documents()
    services.documents.put("demo-woo", "INV-000041", INVOICE, order_id="4711")

    response = _document(functions, "demo-woo", "INV-000041")
    status, report = _health(functions)

    assert (response.status_code, response.get_body()) == (200, INVOICE)
    assert status == 200 and report["checks"]["documents"] == "ok"
    assert not (services.state_dir / "outbox").exists()  # nothing went to the folder


def test_the_dashboard_links_each_issued_document_to_the_documents_route(functions, services):
    from shared.dashboard.view import dashboard_view
    from shared.handlers.intake import receive_webhook
    from tests.support import fixture_bytes, webhook_headers

    body = fixture_bytes("woocommerce", "order_created")
    receive_webhook(services, "woocommerce", "demo-woo", body, webhook_headers("woocommerce", "order.created", body))
    services.bus.drain(services)  # type: ignore[attr-defined]
    order_id = str(json.loads(body)["id"])
    (invoice,) = services.state.get_order("demo-woo", order_id).documents  # type: ignore[union-attr]

    page = dashboard_view(services, {"store": "demo-woo", "order": order_id, "code": "k3y"}, "")

    assert page.detail is not None and page.detail.order is not None
    [shown] = page.detail.order.documents
    assert shown.href == f"documents/demo-woo/{invoice.number}?code=k3y"
    response = _document(functions, "demo-woo", invoice.number)
    assert response.status_code == 200
    assert response.get_body() == services.document_store.get("demo-woo", invoice.number).content  # type: ignore[union-attr]


def test_any_store_id_and_number_get_a_problem_or_the_document_never_a_5xx(functions, tmp_path):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    built = make_services(tmp_path)
    built.document_store.put("demo-woo", "INV-000041", INVOICE, order_id="4711")
    override_services(built)
    names = st.one_of(st.sampled_from(["demo-woo", "INV-000041", "..", ".", "%2e%2e", "a\x00b", "outbox"]), st.text())

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(store_id=names, number=names)
    def answers_cleanly(store_id: str, number: str) -> None:
        response = _document(functions, store_id, number)
        assert response.status_code in (200, 400, 404)
        if response.status_code == 200:
            assert (store_id, number) == ("demo-woo", "INV-000041") and response.get_body() == INVOICE
        else:
            assert response.headers["Content-Type"] == "application/problem+json"

    try:
        answers_cleanly()
    finally:
        override_services(None)
