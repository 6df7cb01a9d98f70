"""`make run` with DOCUMENT_STORE=blob against Azurite: the local host process invoices the two demo orders
(`make demo`, local/demo.py) into blobs `<store_id>/<number>.xml`, serves them at /api/documents, and writes
nothing to the outbox folder."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
from azure.storage.blob import ContainerClient

from local.harness import ROOT, SECRETS, running_host

pytestmark = [pytest.mark.slow, pytest.mark.azurite]


def test_the_demo_orders_are_invoiced_into_blobs(tmp_path: Path, azurite: str):
    state_dir = tmp_path / "state"
    container = "documents-" + uuid.uuid4().hex[:12]
    settings = {"DOCUMENT_STORE": "blob", "DOCUMENTS_CONNECTION": azurite, "DOCUMENTS_CONTAINER": container}
    with running_host(state_dir, **settings) as host, requests.Session() as http:
        demo_env = {
            **os.environ,
            "PORT": str(host.port),
            "DEMO_WOO_SECRET": SECRETS["woocommerce"],
            "DEMO_SHOPIFY_SECRET": SECRETS["shopify"],
        }
        demo = subprocess.run(
            [sys.executable, "-m", "local.demo"], cwd=ROOT, env=demo_env, capture_output=True, text=True, timeout=120
        )
        assert demo.returncode == 0, demo.stdout + demo.stderr
        orders = http.get(f"{host.base}/orders", params={"state": "invoiced"}, timeout=10).json()["orders"]
        invoices = {(o["store_id"], d["number"]): d for o in orders for d in o["documents"] if d["kind"] == "invoice"}
        served = {key: http.get(f"{host.base}/documents/{key[0]}/{key[1]}", timeout=10) for key in invoices}
        health = http.get(f"{host.base}/health", timeout=10).json()

    assert {store for store, _ in invoices} == {"demo-woo", "demo-shopify"}
    blobs = ContainerClient.from_connection_string(azurite, container)
    names = sorted(b.name for b in blobs.list_blobs() if not b.name.startswith(".health/"))
    # demo-woo keeps VERI*FACTU records: each record's XML is kept beside the documents, in the same container.
    records = [name for name in names if name.startswith("demo-woo/verifactu-")]
    assert records == ["demo-woo/verifactu-000001.xml"]
    assert b"<sf:RegistroAlta" in blobs.download_blob(records[0]).readall()
    assert [n for n in names if n not in records] == sorted(f"{store}/{number}.xml" for store, number in invoices)
    for (store, number), document in invoices.items():
        assert document["location"].endswith(f"/{container}/{store}/{number}.xml")  # the blob's URL
        content = blobs.download_blob(f"{store}/{number}.xml").readall()
        assert served[(store, number)].status_code == 200 and served[(store, number)].content == content
        assert b"<cbc:ID>" + number.encode() + b"</cbc:ID>" in content
    assert health["checks"]["documents"] == "ok"
    assert list((state_dir / "outbox").rglob("*.xml")) == []
    assert "at http" in demo.stdout  # make demo prints where each invoice went: the blob URL
