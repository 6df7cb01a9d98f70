"""End to end through the local host: the demo Spanish store (demo-woo, VERI*FACTU on) issues an invoice whose
printable PDF (`GET /api/documents/demo-woo/{number}.pdf`) shows the QR of its record, and the sender timer, run
through the host's admin route, submits the record to the fake AEAT over HTTPS; the API shows it accepted."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from lxml import etree

from local.harness import wait_for
from local.host import RunningHost
from tests.fake_aeat import FakeAeat, make_pki, running
from tests.support import demo_store_host, fixture_bytes, webhook_headers

ROOT = Path(__file__).resolve().parents[2]
SF = {
    "sf": "https://www2.agenciatributaria.gob.es/static_files/common/internet/dep/aplicaciones/es/aeat/tike/cont/ws/SuministroInformacion.xsd"
}


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningHost]:
    with demo_store_host(tmp_path, monkeypatch) as running:
        yield running


def records(host: RunningHost) -> list[dict[str, Any]]:
    return list(requests.get(f"{host.url}/api/stores/demo-woo/verifactu", timeout=10).json()["records"])


@pytest.mark.skipif(
    not (shutil.which("pdftoppm") and shutil.which("zbarimg")),
    reason="apt-get install poppler-utils zbar-tools (.ci/run installs them)",
)
def test_the_invoice_prints_with_its_qr_and_the_timer_sends_its_record(host, tmp_path, monkeypatch) -> None:
    body = fixture_bytes("woocommerce", "order_created")
    headers = {**webhook_headers("woocommerce", "order.created", body), "Content-Type": "application/json"}
    assert requests.post(f"{host.url}/api/webhooks/woocommerce/demo-woo", data=body, headers=headers, timeout=10).ok
    [record] = wait_for(lambda: records(host), 30, 0.1)
    alta = etree.fromstring(record["xml"].encode())

    pdf = requests.get(f"{host.url}/api/documents/demo-woo/{record['invoice_number']}.pdf", timeout=10)
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    (tmp_path / "invoice.pdf").write_bytes(pdf.content)
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", "invoice.pdf", "page"], cwd=tmp_path, check=True)
    decoded = subprocess.run(["zbarimg", "-q", "--raw", "page.png"], cwd=tmp_path, capture_output=True, text=True)
    nif = alta.findtext("sf:IDFactura/sf:IDEmisorFactura", namespaces=SF)
    issued = alta.findtext("sf:IDFactura/sf:FechaExpedicionFactura", namespaces=SF)
    total = alta.findtext("sf:ImporteTotal", namespaces=SF)
    assert decoded.stdout.split() == [
        f"https://prewww2.aeat.es/wlpl/TIKE-CONT/ValidarQR?nif={nif}&numserie={record['invoice_number']}"
        f"&fecha={issued}&importe={total}"
    ]

    pki = make_pki(tmp_path)
    fake = FakeAeat(clock=lambda: datetime.now(UTC))
    with running(fake, pki) as url:
        monkeypatch.setenv("VERIFACTU_ENDPOINT", url)
        monkeypatch.setenv("VERIFACTU_CA_BUNDLE", str(pki.ca))
        monkeypatch.setenv("VERIFACTU_CERTIFICATE", str(pki.client))
        assert requests.post(f"{host.url}/admin/functions/send_verifactu_records", timeout=10).status_code == 202
        [sent] = wait_for(lambda: [r for r in records(host) if r["state"] == "accepted"], 30, 0.1)

    assert sent["csv"].startswith("A-FAKE") and fake.submissions == [[record["invoice_number"]]]
    order_id = str(json.loads(body)["id"])
    order = requests.get(f"{host.url}/api/orders/demo-woo/{order_id}", timeout=10).json()
    assert any(t["action"] == "verifactu.accepted" for t in order["timeline"])
