"""VERI*FACTU item 4: the sender against a local fake AEAT over HTTPS with a client certificate (tests/fake_aeat.py):
it accepts, rejects one record (the order is held with AEAT's code and Spanish text), the TiempoEsperaEnvio is
honoured (the clock is set, nobody waits) and records go 1,000 per message.

The records here are minimal RegistroAlta elements (what the fake reads: IDFactura); the record builder's own
tests validate full records against the XSD. The state's record methods are an in-memory stand-in of the state
port's VERI*FACTU methods over the real SQLite state (orders, timelines, watermarks).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.bootstrap import Services
from shared.domain.order import OrderState
from shared.errors import RetryableError
from shared.fiscal.verifactu.client import ClientCertificate, SoapAeatClient, client_certificate
from shared.fiscal.verifactu.sender import Issuer, next_submission, send_pending
from shared.fiscal.verifactu.soap import NS_SUMINISTRO_INFORMACION, Answer, Fault, parse_answer, request_envelope
from shared.handlers.intake import receive_webhook
from tests.fake_aeat import REJECTION, FakeAeat, Pki, make_pki, running
from tests.support import fixture_bytes, make_services, webhook_headers

ISSUER = Issuer("B12345674", "Cerámica del Sur S.L.")
T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


@dataclass
class Record:
    seq: int
    store_id: str
    order_id: str
    invoice_number: str
    issue_date: date
    kind: str
    xml: str
    state: str = "pending"
    csv: str = ""
    error_code: str = ""
    error_text: str = ""


def alta(number: str, issued: date = date(2027, 1, 4)) -> str:
    return (
        f'<sf:RegistroAlta xmlns:sf="{NS_SUMINISTRO_INFORMACION}"><sf:IDVersion>1.0</sf:IDVersion><sf:IDFactura>'
        f"<sf:IDEmisorFactura>{ISSUER.nif}</sf:IDEmisorFactura><sf:NumSerieFactura>{number}</sf:NumSerieFactura>"
        f"<sf:FechaExpedicionFactura>{issued:%d-%m-%Y}</sf:FechaExpedicionFactura></sf:IDFactura></sf:RegistroAlta>"
    )


class StateWithRecords:
    """The SQLite state plus the record methods of the state port (pending in chain order, set one's state)."""

    def __init__(self, state: Any) -> None:
        self._state = state
        self.records: list[Record] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._state, name)

    def add(self, store_id: str, order_id: str, number: str) -> Record:
        record = Record(len(self.records) + 1, store_id, order_id, number, date(2027, 1, 4), "alta", alta(number))
        self.records.append(record)
        return record

    def pending_verifactu_records(self, issuer_nif: str, limit: int = 1000) -> list[Record]:
        return [r for r in self.records if r.state == "pending"][:limit]

    def set_verifactu_state(
        self, issuer_nif: str, seq: int, state: str, csv: str = "", error_code: str = "", error_text: str = ""
    ) -> Record:
        record = self.records[seq - 1]
        record.state, record.csv, record.error_code, record.error_text = state, csv, error_code, error_text
        return record


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> FakeAeat:
    return FakeAeat(clock=clock)


@pytest.fixture
def aeat(fake: FakeAeat, pki: Pki) -> Iterator[SoapAeatClient]:
    with running(fake, pki) as url:
        yield SoapAeatClient(url, ClientCertificate(pem_path=str(pki.client)), verify=str(pki.ca), timeout=10)


@pytest.fixture
def services(tmp_path: Path) -> Services:
    built = make_services(tmp_path)
    built.state = StateWithRecords(built.state)  # type: ignore[assignment]
    return built


def invoiced_order(services: Services) -> str:
    body = fixture_bytes("woocommerce", "order_created")
    receive_webhook(services, "woocommerce", "demo-woo", body, webhook_headers("woocommerce", "order.created", body))
    services.bus.drain(services)  # type: ignore[attr-defined]
    return str(json.loads(body)["id"])


def records(services: Services) -> StateWithRecords:
    assert isinstance(services.state, StateWithRecords)
    return services.state


def test_the_fake_aeat_accepts_the_records_and_each_keeps_the_csv_and_shows_on_the_timeline(services, aeat, fake):
    order_id = invoiced_order(services)
    sent = [records(services).add("demo-woo", order_id, number) for number in ("INV-1", "INV-2")]

    outcome = send_pending(services, ISSUER, aeat, T0)

    assert (outcome.sent, outcome.accepted, outcome.rejected) == (2, 2, 0)
    assert fake.submissions == [["INV-1", "INV-2"]] and fake.client_subjects == ["B12345674 CERAMICA DEL SUR SL"]
    assert {(r.state, r.csv) for r in sent} == {("accepted", outcome.csv)} and outcome.csv.startswith("A-FAKE")
    order = services.state.get_order("demo-woo", order_id)
    assert order is not None and order.state != OrderState.HELD
    told = [e for e in services.state.get_timeline("demo-woo", order_id) if e.action == "verifactu.accepted"]
    assert [e.describe("es") for e in told] == [
        f"La AEAT aceptó el registro VERI*FACTU de INV-{n} (CSV {outcome.csv})." for n in (1, 2)
    ]


def test_a_rejected_record_holds_the_order_with_the_aeat_code_and_its_spanish_text(services, aeat, fake):
    order_id = invoiced_order(services)
    good, bad = (records(services).add("demo-woo", order_id, number) for number in ("INV-1", "CN-1"))
    fake.reject = {"CN-1"}

    outcome = send_pending(services, ISSUER, aeat, T0)

    assert (outcome.accepted, outcome.rejected) == (1, 1)
    assert (good.state, bad.state, bad.csv) == ("accepted", "rejected", "")
    assert (bad.error_code, bad.error_text) == REJECTION
    order = services.state.get_order("demo-woo", order_id)
    assert order is not None and order.state == OrderState.HELD
    [problem] = [p for p in order.problems if p.code == "verifactu_rejected"]
    assert problem.message("es") == (
        f"La AEAT rechazó el registro VERI*FACTU de CN-1: error 1142, «{REJECTION[1]}». Corrija la causa y "
        "reintente el pedido: el registro se enviará de nuevo como subsanación."
    )
    assert "1142" in problem.message("en") and REJECTION[1] in problem.message("en")
    assert [e.action for e in services.state.get_timeline("demo-woo", order_id)][-1] == "verifactu.rejected"


def test_the_sender_waits_the_aeats_tiempo_espera_envio_before_the_next_submission(services, aeat, fake, clock):
    store = records(services)
    store.add("demo-woo", "1", "INV-1")
    first = send_pending(services, ISSUER, aeat, T0)
    kept = next_submission(store, ISSUER.nif)
    store.add("demo-woo", "1", "INV-2")

    clock.now = T0 + timedelta(seconds=59)
    early = send_pending(services, ISSUER, aeat, clock.now)
    clock.now = T0 + timedelta(seconds=60)
    on_time = send_pending(services, ISSUER, aeat, clock.now)

    assert first.next_submission == T0 + timedelta(seconds=60) == kept
    assert (early.sent, early.next_submission) == (0, T0 + timedelta(seconds=60))
    assert on_time.sent == 1 and fake.submissions == [["INV-1"], ["INV-2"]] and fake.refused == 0


def test_the_fake_aeat_refuses_a_submission_before_its_wait_and_the_records_stay_pending(services, aeat, fake, clock):
    store = records(services)
    store.add("demo-woo", "1", "INV-1")
    send_pending(services, ISSUER, aeat, T0)
    late = store.add("demo-woo", "1", "INV-2")
    store.set_watermark(f"verifactu-next-submission:{ISSUER.nif}", T0.isoformat())  # a wait the sender forgot

    clock.now = T0 + timedelta(seconds=10)
    refused = send_pending(services, ISSUER, aeat, clock.now)

    assert fake.refused == 1 and refused.sent == 0 and "TiempoEsperaEnvio" in refused.fault
    assert late.state == "pending" and refused.next_submission == clock.now + timedelta(seconds=60)


def test_records_go_at_most_1000_per_message_in_chain_order(services, aeat, fake, clock):
    store = records(services)
    for n in range(1, 2501):
        store.add("demo-woo", "batch", f"INV-{n:05d}")

    sizes = []
    for step in range(4):
        clock.now = T0 + timedelta(seconds=60 * step)
        sizes.append(send_pending(services, ISSUER, aeat, clock.now).sent)

    assert sizes == [1000, 1000, 500, 0]
    assert [len(s) for s in fake.submissions] == [1000, 1000, 500]
    assert [number for batch in fake.submissions for number in batch] == [f"INV-{n:05d}" for n in range(1, 2501)]
    assert {r.state for r in store.records} == {"accepted"}


def test_a_key_vault_certificate_as_base64_pkcs12_opens_the_tls_connection(pki, fake, monkeypatch):
    monkeypatch.setenv("VERIFACTU_CERTIFICATE_DEMO_WOO", base64.b64encode(pki.client_p12).decode())
    monkeypatch.setenv("VERIFACTU_CERTIFICATE_DEMO_WOO_PASSWORD", "secreto")

    certificate = client_certificate("demo-woo")
    with running(fake, pki) as url:
        answer = SoapAeatClient(url, certificate, verify=str(pki.ca)).submit(ISSUER.nif, ISSUER.name, [alta("INV-9")])

    assert isinstance(answer, Answer) and answer.submission_state == "Correcto"
    assert fake.client_subjects == ["B12345674 CERAMICA DEL SUR SL"]


def test_without_the_client_certificate_nothing_is_sent_and_the_records_stay_pending(services, pki, fake):
    store = records(services)
    record = store.add("demo-woo", "1", "INV-1")
    with running(fake, pki) as url, pytest.raises(RetryableError):
        send_pending(services, ISSUER, SoapAeatClient(url, None, verify=str(pki.ca)), T0)

    assert record.state == "pending" and fake.submissions == []


def test_a_duplicate_answer_for_a_record_the_aeat_already_holds_counts_as_accepted(services):
    store = records(services)
    record = store.add("demo-woo", "1", "INV-1")

    class Duplicate:
        def submit(self, issuer_nif: str, issuer_name: str, sent: list[str]) -> Answer | Fault:
            return parse_answer(DUPLICATE_ANSWER)

    send_pending(services, ISSUER, Duplicate(), T0)

    assert (record.state, record.csv) == ("accepted", "A-0000000001")


def test_a_submission_holds_one_to_1000_records() -> None:
    with pytest.raises(ValueError):
        request_envelope(ISSUER.nif, ISSUER.name, [])
    with pytest.raises(ValueError):
        request_envelope(ISSUER.nif, ISSUER.name, [alta(f"INV-{n}") for n in range(1001)])


DUPLICATE_ANSWER = f"""<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:tikR="https://www2.agenciatributaria.gob.es/static_files/common/internet/dep/aplicaciones/es/aeat/tike/cont/ws/RespuestaSuministro.xsd"
 xmlns:tik="{NS_SUMINISTRO_INFORMACION}"><env:Body><tikR:RespuestaRegFactuSistemaFacturacion>
 <tikR:CSV>A-0000000001</tikR:CSV><tikR:TiempoEsperaEnvio>60</tikR:TiempoEsperaEnvio>
 <tikR:EstadoEnvio>Incorrecto</tikR:EstadoEnvio><tikR:RespuestaLinea><tikR:IDFactura>
 <tik:IDEmisorFactura>B12345674</tik:IDEmisorFactura><tik:NumSerieFactura>INV-1</tik:NumSerieFactura>
 <tik:FechaExpedicionFactura>04-01-2027</tik:FechaExpedicionFactura></tikR:IDFactura>
 <tikR:Operacion><tik:TipoOperacion>Alta</tik:TipoOperacion></tikR:Operacion>
 <tikR:EstadoRegistro>Incorrecto</tikR:EstadoRegistro><tikR:CodigoErrorRegistro>3000</tikR:CodigoErrorRegistro>
 <tikR:DescripcionErrorRegistro>Registro de facturación duplicado.</tikR:DescripcionErrorRegistro>
 <tikR:RegistroDuplicado><tik:IdPeticionRegistroDuplicado>1</tik:IdPeticionRegistroDuplicado>
 <tik:EstadoRegistroDuplicado>Correcta</tik:EstadoRegistroDuplicado></tikR:RegistroDuplicado>
 </tikR:RespuestaLinea></tikR:RespuestaRegFactuSistemaFacturacion></env:Body></env:Envelope>""".encode()
