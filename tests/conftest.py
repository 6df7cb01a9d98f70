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
from typing import Any
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


# Bicep, read offline -------------------------------------------------------------------------
# Bicep cannot be compiled without the Bicep CLI (a download); tree-sitter-bicep parses it, and these
# helpers turn the syntax tree into plain values the infrastructure tests assert on.


class Expression(str):
    """Bicep source of a value that is not a literal (a reference, a call, an interpolated string)."""


class BicepResource:
    def __init__(self, symbol: str, type_: str, body: Any, loop: bool, conditional: bool, path: Path) -> None:
        self.symbol = symbol
        self.type = type_.split("@")[0]
        self.api_version = type_.split("@")[1] if "@" in type_ else ""
        self.body: dict[str, Any] = body if isinstance(body, dict) else {}
        self.loop = loop
        self.conditional = conditional
        self.path = path

    def __repr__(self) -> str:
        return f"BicepResource({self.symbol}: {self.type} in {self.path.name})"


class BicepFile:
    def __init__(self, path: Path, tree: Any) -> None:
        self.path = path
        self.tree = tree
        self.text = path.read_text()
        self.resources: list[BicepResource] = []
        self.params: dict[str, Any] = {}
        self.variables: dict[str, Any] = {}
        self.outputs: dict[str, str] = {}
        self.modules: dict[str, dict[str, Any]] = {}
        self._read(tree.root_node)

    def _read(self, root: Any) -> None:
        for node in _walk(root):
            children = [c for c in node.named_children if c.type != "comment"]
            if node.type == "resource_declaration":
                body = children[2]
                loop = body.type == "for_statement"
                conditional = body.type == "if_statement"
                self.resources.append(
                    BicepResource(
                        _text(children[0]), _bicep_value(children[1]), _bicep_value(body), loop, conditional, self.path
                    )
                )
            elif node.type == "parameter_declaration":
                self.params[_text(children[0])] = _bicep_value(children[-1]) if len(children) > 2 else None
            elif node.type == "variable_declaration":
                self.variables[_text(children[0])] = _bicep_value(children[-1])
            elif node.type == "output_declaration":
                self.outputs[_text(children[0])] = _text(children[-1])
            elif node.type == "module_declaration":
                self.modules[_text(children[0])] = {"path": _bicep_value(children[1]), **_bicep_value(children[2])}

    def of_type(self, type_: str) -> list[BicepResource]:
        return [r for r in self.resources if r.type == type_]

    def problems(self) -> list[str]:
        return [
            f"{self.path.name}:{n.start_point[0] + 1}:{n.start_point[1] + 1} {'missing' if n.is_missing else 'error'}"
            for n in _walk(self.tree.root_node)
            if n.type == "ERROR" or n.is_missing
        ]


def _walk(node: Any) -> Iterator[Any]:
    yield node
    for child in node.children:
        yield from _walk(child)


def _text(node: Any) -> str:
    return bytes(node.text).decode()


def _bicep_value(node: Any) -> Any:
    kind = node.type
    children = [c for c in node.named_children if c.type != "comment"]
    if kind == "object":
        result: dict[str, Any] = {}
        for prop in children:
            if prop.type != "object_property":
                continue
            parts = [c for c in prop.named_children if c.type != "comment"]
            if parts[0].type == "resource_declaration":
                continue  # a nested resource is read as a resource of its own
            result[str(_bicep_value(parts[0]))] = _bicep_value(parts[-1])
        return result
    if kind == "array":
        return [_bicep_value(c) for c in children]
    if kind == "string":
        inner = _text(node)[1:-1]
        return Expression(inner) if any(c.type == "interpolation" for c in children) else inner
    if kind == "identifier":
        return Expression(_text(node))
    if kind == "number":
        return int(_text(node))
    if kind == "boolean":
        return _text(node) == "true"
    if kind == "null":
        return None
    if kind in ("for_statement", "if_statement"):
        return _bicep_value(children[-1])
    if kind == "decorators":
        return None
    return Expression(_text(node))


@pytest.fixture(scope="session")
def bicep() -> dict[str, BicepFile]:
    """Every .bicep file under infra/, parsed, keyed by its path relative to infra/ ("modules/storage.bicep")."""
    import tree_sitter as ts
    import tree_sitter_bicep

    parser = ts.Parser(ts.Language(tree_sitter_bicep.language()))
    infra = ROOT / "infra"
    return {
        str(path.relative_to(infra)): BicepFile(path, parser.parse(path.read_bytes()))
        for path in sorted(infra.rglob("*.bicep"))
    }
