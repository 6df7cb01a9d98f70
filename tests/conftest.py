"""Shared fixtures: Azurite (Table and Blob emulator) for the contract and claim-check tests.

`make test` may start Azurite itself and export AZURITE_TABLE_URL / AZURITE_BLOB_URL; otherwise the
session starts its own on free loopback ports and stops it at the end.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
NODE_BIN = ROOT / "node_modules" / ".bin"
# Azurite's well-known development account: public, documented, accepted only by the emulator.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_listening(url: str, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Azurite exited with {process.returncode} before listening on {url}")
        if _listening(url):
            return
        time.sleep(0.2)
    raise RuntimeError(f"Azurite did not listen on {url} within {seconds}s")


def azurite_connection_string(table_url: str, blob_url: str) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"TableEndpoint={table_url.rstrip('/')}/{AZURITE_ACCOUNT};BlobEndpoint={blob_url.rstrip('/')}/{AZURITE_ACCOUNT};"
    )


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A connection string for Azurite's Table and Blob services on loopback."""
    table_url = os.environ.get("AZURITE_TABLE_URL", "")
    blob_url = os.environ.get("AZURITE_BLOB_URL", "")
    if table_url and blob_url and _listening(table_url) and _listening(blob_url):
        yield azurite_connection_string(table_url, blob_url)
        return
    if not (NODE_BIN / "azurite-table").exists() or not (NODE_BIN / "azurite-blob").exists():
        pytest.skip("Azurite not installed: run npm install")
    workdir = tmp_path_factory.mktemp("azurite")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        urls = {}
        for service in ("table", "blob"):
            port = _free_port()
            command = [
                str(NODE_BIN / f"azurite-{service}"),
                "--inMemoryPersistence",
                "--skipApiVersionCheck",
                "--silent",
                f"--{service}Host",
                "127.0.0.1",
                f"--{service}Port",
                str(port),
            ]
            # cwd is a temporary folder: Azurite writes its debug and extent files relative to it.
            process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            processes.append(process)
            urls[service] = f"http://127.0.0.1:{port}"
            _wait_listening(urls[service], process)
        yield azurite_connection_string(urls["table"], urls["blob"])
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
