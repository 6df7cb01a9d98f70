"""`GET /api/documents/{store_id}/{number}.pdf`: the printable invoice of a kept document, beside the XML route
(`{number}` still serves the XML), with the VERI*FACTU QR code; the dashboard links it."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from local.registry import registered_functions
from shared.bootstrap import Services, override_services
from shared.targets.ubl.mapper import invoice_xml
from tests.fixtures.ubl.orders import invoice_settings, seller, two_mugs_with_coupon
from tests.support import make_services

NUMBER = "INV-000041"
XML = invoice_xml(two_mugs_with_coupon(), seller(), invoice_settings(), NUMBER, date(2025, 3, 15), {}, "test")


@pytest.fixture
def functions() -> dict[str, Any]:
    import function_app

    return registered_functions(function_app.app)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    built = make_services(tmp_path)
    built.document_store.put("demo-woo", NUMBER, XML, order_id="4711")
    override_services(built)
    yield built
    override_services(None)


def _get(functions: dict[str, Any], number: str, query: str = "", **headers: str) -> func.HttpResponse:
    request = func.HttpRequest(
        "GET",
        f"http://127.0.0.1/api/documents/demo-woo/{number}{query}",
        route_params={"store_id": "demo-woo", "number": number},
        params=dict(p.split("=") for p in query.lstrip("?").split("&") if p),
        headers=headers,
        body=b"",
    )
    return functions["get_document"].get_user_function()(request)


def _text(pdf: bytes, tmp_path: Path) -> str:
    (tmp_path / "served.pdf").write_bytes(pdf)
    return subprocess.run(["pdftotext", "served.pdf", "-"], cwd=tmp_path, capture_output=True, text=True).stdout


needs_poppler = pytest.mark.skipif(not shutil.which("pdftotext"), reason="apt-get install poppler-utils")


@needs_poppler
def test_the_pdf_route_serves_the_printable_invoice_in_spanish_by_default(functions, services, tmp_path):
    response = _get(functions, f"{NUMBER}.pdf")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == f'inline; filename="{NUMBER}.pdf"'
    text = _text(response.get_body(), tmp_path)
    assert f"Factura {NUMBER}" in text and "VERI*FACTU" in text


@needs_poppler
def test_the_pdf_route_speaks_english_when_asked(functions, services, tmp_path):
    by_query = _get(functions, f"{NUMBER}.pdf", "?lang=en")
    by_header = _get(functions, f"{NUMBER}.pdf", **{"Accept-Language": "en-GB,en;q=0.9"})

    for response in (by_query, by_header):
        assert response.status_code == 200 and response.headers["Content-Language"] == "en"
        assert f"Invoice {NUMBER}" in _text(response.get_body(), tmp_path)


def test_the_xml_route_still_serves_the_kept_document(functions, services):
    response = _get(functions, NUMBER)

    assert (response.status_code, response.get_body()) == (200, XML)


@pytest.mark.parametrize("number", ["INV-404.pdf", ".pdf", "..%2F.pdf"])
def test_a_pdf_of_no_kept_document_is_a_problem_not_a_5xx(functions, services, number):
    response = _get(functions, number)

    assert response.status_code in (400, 404)
    assert response.headers["Content-Type"] == "application/problem+json"


def test_a_kept_document_that_is_no_invoice_has_no_printable_form(functions, services):
    services.document_store.put("demo-woo", "REC-1", b"<RegistroAlta/>", order_id="4711")

    response = _get(functions, "REC-1.pdf")

    assert response.status_code == 404
    assert json.loads(response.get_body())["title"] == "No printable invoice"


def test_the_dashboard_links_the_printable_invoice_next_to_the_xml(services):
    from shared.dashboard.page import render_dashboard
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
    assert shown.pdf_href == f"documents/demo-woo/{invoice.number}.pdf?code=k3y"
    html = render_dashboard(services, {"store": "demo-woo", "order": order_id, "code": "k3y"}, "es")
    assert f'<a href="documents/demo-woo/{invoice.number}.pdf?code=k3y">PDF</a>' in html


@needs_poppler
def test_characters_outside_the_fonts_latin_1_are_spelled_not_printed_as_question_marks(tmp_path):
    from shared.fiscal.verifactu.pdf import invoice_pdf

    xml = XML.replace(b"Blue mug 350 ml", "Taza azul — cerámica de Kőszeg “Ø”".encode())
    text = _text(invoice_pdf(xml), tmp_path)
    assert 'Taza azul - cerámica de Koszeg "Ø"' in text
    assert "?" not in text.replace("¿", "")
