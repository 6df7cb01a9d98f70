"""The channel registry: every channel is one package under shared/channels, found by name, and no other code
names a channel (so adding one touches its package and one registry line)."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path

import azure.functions as func
import pytest

from local.registry import registered_functions
from shared.bootstrap import override_services
from shared.channels import CHANNEL_NAMES, CHANNELS, ChannelModule, channel_of
from shared.domain.order import EventKind
from shared.errors import BadRequest
from tests.support import http_status, make_services

ROOT = Path(__file__).resolve().parents[2]
# Machine names of a channel: route segments, setting values and keys are lower case, headers any case. Business
# sentences may name the stores ("Shopify sends it again"); they are prose, not channel knowledge.
_NAMED_IN_TEXT = re.compile(r"woocommerce|shopify|(?i:x-wc-|x-shopify-)")
_NAMED_IN_CODE = re.compile(r"woocommerce|shopify|x_wc_", re.IGNORECASE)
# Code that decides, stores or answers; local/ and tests/ only play the stores' part (sample senders).
_CHECKED = ("shared", "functions", "function_app.py")


def _sources() -> Iterator[Path]:
    for entry in _CHECKED:
        path = ROOT / entry
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        yield from (file for file in files if "channels" not in file.relative_to(ROOT).parts[:2])


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _channel_names_in(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if _NAMED_IN_TEXT.search(node.value):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value[:60]!r}")
            continue
        if isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Attribute):
            names = [node.attr]
        elif isinstance(node, ast.alias):
            names = [node.name, node.asname or ""]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names = [node.name]
        elif isinstance(node, ast.arg | ast.keyword):
            names = [node.arg or ""]
        where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
        found += [f"{where} {name}" for name in names if _NAMED_IN_CODE.search(name)]
    return found


def test_registry_lists_each_channel_package_by_its_name() -> None:
    assert CHANNEL_NAMES == ("woocommerce", "shopify")
    for name, package in CHANNELS.items():
        module = channel_of(name)
        assert module.__name__ == package == f"shared.channels.{name}"
        assert name == module.NAME  # type: ignore[attr-defined]
        assert module.TOPIC_HEADER and module.POLL_TOPIC in module.TOPICS  # type: ignore[attr-defined]
        assert isinstance(module, ChannelModule)


def test_channel_names_are_read_without_case_or_spaces_and_unknown_ones_are_404() -> None:
    assert channel_of(" WooCommerce ") is channel_of("woocommerce")
    with pytest.raises(BadRequest) as refused:
        channel_of("Magento")
    assert http_status(refused.value) == 404
    assert refused.value.detail == "No channel named 'magento'; expected woocommerce or shopify."


@pytest.mark.parametrize("name", CHANNEL_NAMES)
def test_the_catch_up_poll_feeds_orders_under_an_order_update_topic(name: str) -> None:
    channel = channel_of(name)
    assert channel.topic_kind(channel.POLL_TOPIC) is EventKind.ORDER_UPSERTED


def test_no_code_outside_the_channel_packages_names_a_channel() -> None:
    named = [hit for path in _sources() for hit in _channel_names_in(path)]
    assert named == []


def test_webhook_route_for_a_channel_not_in_the_registry_is_a_404_problem(tmp_path: Path) -> None:
    import function_app

    services = make_services(tmp_path)
    override_services(services)
    try:
        request = func.HttpRequest(
            "POST",
            "http://127.0.0.1:7071/api/webhooks/magento/demo-woo",
            headers={"Content-Type": "application/json"},
            route_params={"channel": "magento", "store_id": "demo-woo"},
            body=b'{"id": 1}',
        )
        response = registered_functions(function_app.app)["webhook"].get_user_function()(request)
    finally:
        override_services(None)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = json.loads(response.get_body())
    assert problem["detail"] == "'magento' is not a supported channel (woocommerce, shopify)."
    assert services.state.list_orders(None, None, 10) == []
