"""VERI*FACTU end to end on the real SQLite state: a Spanish store's order and refund get their records (the
record builder), their documents carry the QR of the record's own figures, the timer sends both to the fake AEAT
over HTTPS with the seller's certificate (request valid against SuministroLR.xsd, answer against
RespuestaSuministro.xsd); the invoice is accepted with its CSV, the rejected credit note holds the order."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.functions.timer import TimerRequest
from lxml import etree

from local.registry import registered_functions
from shared.adapters.sqlite_state import SqliteStateStore
from shared.bootstrap import Services, override_services
from shared.domain.order import OrderState
from shared.fiscal.verifactu.pdf import invoice_pdf
from shared.fiscal.verifactu.qr import validation_url
from shared.fiscal.verifactu.records import XSD_DIR, _LocalSchemas
from shared.fiscal.verifactu.sender import send_all
from shared.fiscal.verifactu.soap import NS_RESPUESTA, NS_SOAP, NS_SUMINISTRO_LR
from shared.handlers.intake import receive_webhook
from tests.fake_aeat import REJECTION, FakeAeat, Pki, make_pki, running
from tests.support import fixture_bytes, http_status, make_services, store_settings, webhook_headers
from tests.ubl_rules import NS as UBL

SHOP, SHOP_ORDER, ISSUER = "demo-shopify", "9007199254740993", "B12345674"
ON = {
    "enabled": True,
    "system": {"producer_name": "Integraciones Demo S.L.", "producer_nif": ISSUER, "installation_number": "1"},
}
T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


def deliver(services: Services, topic: str, name: str) -> None:
    raw = fixture_bytes("shopify", name)
    assert http_status(receive_webhook(services, "shopify", SHOP, raw, webhook_headers("shopify", topic, raw))) == 202
    services.bus.drain(services)  # type: ignore[attr-defined]


def schema(name: str) -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_LocalSchemas())
    return etree.XMLSchema(etree.parse(str(XSD_DIR / name), parser))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    built = make_services(tmp_path, **{SHOP: store_settings(SHOP, "shopify", verifactu=ON)})
    deliver(built, "orders/create", "orders_create")
    deliver(built, "refunds/create", "refunds_create")
    override_services(built)
    yield built
    override_services(None)


def kept(services: Services) -> list[Any]:
    assert isinstance(services.state, SqliteStateStore)
    return services.state.list_verifactu_records(ISSUER, limit=1000)


def test_each_document_carries_the_qr_of_its_own_record(services: Services, tmp_path: Path) -> None:
    for record in kept(services):
        stored = services.document_store.get(SHOP, record.invoice_number)
        assert stored is not None
        [url] = etree.fromstring(stored.content).xpath(
            "cac:AdditionalDocumentReference/cac:Attachment/cac:ExternalReference/cbc:URI/text()", namespaces=UBL
        )
        assert url == validation_url(ISSUER, record.invoice_number, record.issue_date, record.total, "test")
        if shutil.which("zbarimg"):
            (tmp_path / "doc.pdf").write_bytes(invoice_pdf(stored.content))
            subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", "doc.pdf", "doc"], cwd=tmp_path, check=True)
            decoded = subprocess.run(
                ["zbarimg", "-q", "--raw", "doc.png"], cwd=tmp_path, capture_output=True, text=True
            )
            assert decoded.stdout.split() == [url]


def test_the_timer_sends_the_records_and_the_rejected_credit_note_holds_the_order(services, pki, monkeypatch):
    invoice, credit_note = kept(services)
    fake = FakeAeat(clock=lambda: T0, reject={credit_note.invoice_number})
    services.clock = lambda: T0
    timer = registered_functions(__import__("function_app").app)["send_verifactu_records"].get_user_function()
    with running(fake, pki) as url:
        monkeypatch.setenv("VERIFACTU_ENDPOINT", url)
        monkeypatch.setenv("VERIFACTU_CA_BUNDLE", str(pki.ca))
        monkeypatch.setenv("VERIFACTU_CERTIFICATE", str(pki.client))
        timer(TimerRequest(past_due=False))

    [(request, answer)] = fake.exchanges
    body = etree.fromstring(request).find(f"{{{NS_SOAP}}}Body/{{{NS_SUMINISTRO_LR}}}RegFactuSistemaFacturacion")
    assert schema("SuministroLR.xsd").validate(body), schema("SuministroLR.xsd").error_log
    reply = etree.fromstring(answer).find(f"{{{NS_SOAP}}}Body/{{{NS_RESPUESTA}}}RespuestaRegFactuSistemaFacturacion")
    assert schema("RespuestaSuministro.xsd").validate(reply)
    invoice, credit_note = kept(services)
    assert (invoice.state, credit_note.state) == ("accepted", "rejected")
    assert invoice.csv.startswith("A-FAKE") and (credit_note.error_code, credit_note.error_text) == REJECTION
    order = services.state.get_order(SHOP, SHOP_ORDER)
    assert order is not None and order.state == OrderState.HELD
    [problem] = order.problems
    assert problem.code == "verifactu_rejected" and "error 1142" in problem.message("es")
    actions = [e.action for e in services.state.get_timeline(SHOP, SHOP_ORDER)]
    assert actions[-2:] == ["verifactu.accepted", "verifactu.rejected"]


def test_without_a_certificate_the_timer_sends_nothing_and_says_which_setting(services, monkeypatch, caplog):
    monkeypatch.delenv("VERIFACTU_CERTIFICATE", raising=False)

    [outcome] = send_all(services, T0)

    assert outcome.sent == 0 and "VERIFACTU_CERTIFICATE" in outcome.fault
    assert {r.state for r in kept(services)} == {"pending"}


def test_the_cli_sends_like_the_timer_and_prints_the_outcome(services, pki, monkeypatch, capsys):
    import json

    from local.cli import main

    fake = FakeAeat(clock=lambda: datetime.now(UTC))
    with running(fake, pki) as url:
        monkeypatch.setenv("VERIFACTU_ENDPOINT", url)
        monkeypatch.setenv("VERIFACTU_CA_BUNDLE", str(pki.ca))
        monkeypatch.setenv("VERIFACTU_CERTIFICATE", str(pki.client))
        monkeypatch.setattr("local.cli.services", lambda: services)
        assert main(["verifactu-send"]) == 0
        again = send_all(services, datetime.now(UTC) + timedelta(seconds=5))

    [printed] = json.loads(capsys.readouterr().out)
    assert printed["issuer_nif"] == ISSUER and printed["sent"] == 2 and printed["accepted"] == 2
    assert again[0].sent == 0 and len(fake.exchanges) == 1  # the AEAT's wait holds the next run back


def test_retrying_the_held_order_resends_the_rejected_record_as_a_subsanacion(services, pki, monkeypatch):
    from shared.fiscal.verifactu import chain_breaks
    from shared.fiscal.verifactu.records import validation_errors
    from shared.handlers.operations import retry_order

    _, credit_note = kept(services)
    fake = FakeAeat(clock=lambda: clock[0], reject={credit_note.invoice_number})
    clock = [T0]
    with running(fake, pki) as url:
        monkeypatch.setenv("VERIFACTU_ENDPOINT", url)
        monkeypatch.setenv("VERIFACTU_CA_BUNDLE", str(pki.ca))
        monkeypatch.setenv("VERIFACTU_CERTIFICATE", str(pki.client))
        send_all(services, T0)
        fake.reject = set()  # the cause is put right (e.g. the store's settings)

        retry_order(services, SHOP, SHOP_ORDER, actor="operator:ana")
        after_retry = kept(services)
        clock[0] = T0 + timedelta(seconds=60)
        [outcome] = send_all(services, clock[0])

    _, rejected, correction = kept(services)
    assert len(after_retry) == 3 and outcome.sent == 1 and outcome.accepted == 1
    assert (rejected.state, correction.state) == ("rejected", "accepted")
    assert correction.invoice_number == rejected.invoice_number and correction.previous_hash == rejected.hash
    assert chain_breaks(kept(services)) == [] and validation_errors(correction.xml) == []
    assert fake.corrections == [(rejected.invoice_number, "S")]
    order = services.state.get_order(SHOP, SHOP_ORDER)
    assert order is not None and order.state != OrderState.HELD and order.problems == []
    assert [e.action for e in services.state.get_timeline(SHOP, SHOP_ORDER)][-1] == "verifactu.accepted"
