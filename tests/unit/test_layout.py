"""The house rules of the layout (issue "One house, clean rooms"): no module over 500 lines, no import circle, and the
services in shared/ know neither the Functions runtime nor the HTTP layer — those live in functions/ and local/."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 500
# shared/ modules that adapt to Azure on purpose (the Service Bus adapter, telemetry's exporter) are not services.
EDGE_PACKAGES = ("functions", "local")
FORBIDDEN_IN_SERVICES = ("azure.functions", "functions", "local", "waitress", "werkzeug.serving")


def _modules(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py") if ".venv" not in p.parts)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_module_is_over_500_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in _modules("functions", "local", "shared") if (n := _lines(p)) > LIMIT}
    assert long == {}


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


@pytest.mark.parametrize("folder", ["shared/handlers", "shared/domain", "shared/channels", "shared/targets"])
def test_services_import_nothing_from_the_functions_runtime_or_the_http_layer(folder: str) -> None:
    found = {
        str(p.relative_to(ROOT)): sorted(
            name for name in _imports(p) if any(name == f or name.startswith(f + ".") for f in FORBIDDEN_IN_SERVICES)
        )
        for p in _modules(folder)
    }
    assert {path: names for path, names in found.items() if names} == {}


def test_the_layout_rules_see_the_code_they_guard() -> None:
    # A rule over an empty or mistyped folder list would pass forever.
    assert len(_modules("shared/handlers")) > 10 and len(_modules(*EDGE_PACKAGES)) > 10
    assert "azure.functions" in _imports(ROOT / "functions" / "http.py")


def _module_name(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def _own_imports(path: Path, known: set[str]) -> set[str]:
    """Our modules that `path` imports anywhere (functions included: a deferred import is still a circle), except
    under `if TYPE_CHECKING:` and a package's imports of its own submodules (re-exports)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for statement in node.body
        for inner in ast.walk(statement)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.update({full} if full in known else {node.module} & known)
    own = _module_name(path)
    return {name for name in found if not name.startswith(own + ".") and name != own}


def test_no_import_circle() -> None:
    paths = {_module_name(p): p for p in _modules("functions", "local", "shared")}
    graph = {name: _own_imports(path, set(paths)) for name, path in paths.items()}
    assert graph["shared.store_files"] >= {"shared.stores", "shared.domain.rules"}  # the check sees real imports
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        pytest.fail(f"import circle: {' -> '.join(error.args[1])}")
