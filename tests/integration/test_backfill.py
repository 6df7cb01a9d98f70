"""Backfill of past orders from a fake store API on loopback through the real intake, pipeline and UBL outbox: a dry
run writes nothing, an applied run invoices each order once, a run killed halfway resumes, a second run issues nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path

import azure.functions as func
import pytest
from lxml import etree

import shared.handlers.backfill as backfill_module
from function_app import app
from local.registry import registered_functions
from shared.bootstrap import override_services
from shared.domain.order import OrderState
from shared.handlers.backfill import backfill
from shared.targets.ubl import codes
from tests.fake_order_store import FakeStore, woo_order
from tests.support import Crash, crash_after, make_services, store_settings

NOV_20, NOV_21 = date(2026, 11, 20), date(2026, 11, 21)
IDS = [str(n) for n in range(7001, 7007)]


@pytest.fixture
def fake_store(httpserver) -> FakeStore:
    store = FakeStore(httpserver)
    store.woo = [woo_order(int(order_id), f"2026-11-2{n % 2}T0{n}:15:00") for n, order_id in enumerate(IDS)]
    store.woo.append(woo_order(6990, "2026-11-10T10:00:00", date_modified_gmt="2026-11-21T10:00:00"))  # not in range
    return store


@pytest.fixture
def services(tmp_path: Path, fake_store: FakeStore):
    api = {"base_url": fake_store.base_url, "consumer_key": "ck", "consumer_secret": "cs"}
    return make_services(tmp_path, None, woo=store_settings("demo-woo", "woocommerce", api=api))


def _invoices_by_order(services) -> Counter[str]:
    ns = {"cac": codes.NS_CAC, "cbc": codes.NS_CBC}
    found: Counter[str] = Counter()
    for path in (services.state_dir / "outbox" / "demo-woo").glob("*.xml"):
        found[etree.parse(path).findtext("cac:OrderReference/cbc:ID", namespaces=ns)] += 1
    return found


def test_dry_run_shows_what_would_be_invoiced_and_writes_nothing(services):
    seen: list[tuple[int, int]] = []

    result = backfill(services, "demo-woo", NOV_20, NOV_21, progress=lambda done, total: seen.append((done, total)))

    assert [o["order_id"] for o in result.orders] == ["7001", "7003", "7005", "7002", "7004", "7006"]  # oldest first
    assert result.counts == {"would_invoice": 6}
    assert result.orders[0]["total"] == "53.97"
    assert seen == [(n, 6) for n in range(1, 7)]
    assert list(services.state.scan_orders("demo-woo")) == []
    assert services.bus.messages == []
    assert services.state.get_watermark("backfill:demo-woo:2026-11-20:2026-11-21") is None


def test_dry_run_says_which_orders_would_be_held_and_which_are_known(services):
    services.state.put_sku_map("demo-woo", {"TEE-ORG-M": "TEE-ORGANIC-M"}, replace=True)
    backfill(services, "demo-woo", NOV_20, NOV_20, apply=True)  # the 20th's orders are here now (held: no mug map)

    result = backfill(services, "demo-woo", NOV_20, NOV_21)

    outcomes = {o["order_id"]: o["outcome"] for o in result.orders}
    assert outcomes == {"7001": "known", "7003": "known", "7005": "known"} | dict.fromkeys(
        ("7002", "7004", "7006"), "would_hold"
    )
    assert next(o for o in result.orders if o["order_id"] == "7002")["problems"] == ["unmapped_sku"]


def test_applied_backfill_invoices_each_order_once_and_a_second_run_issues_nothing(services):
    first = backfill(services, "demo-woo", NOV_20, NOV_21, apply=True)
    services.bus.drain(services)

    again = backfill(services, "demo-woo", NOV_20, NOV_21, apply=True)

    assert first.counts == {"accepted": 6}
    assert again.counts == {"done_before": 6}
    assert services.bus.messages == []
    assert _invoices_by_order(services) == dict.fromkeys(IDS, 1)
    assert {r.state for r in services.state.scan_orders("demo-woo")} == {OrderState.INVOICED}


def test_a_backfill_killed_halfway_resumes_and_invoices_each_order_once(services, monkeypatch):
    # The process dies right after intake recorded the fourth order, before the watermark moved past it.
    calls: list[str] = []
    crashed = crash_after(
        backfill_module, "accept", monkeypatch, when=lambda *args, **kwargs: calls.append("x") or len(calls) == 4
    )
    with pytest.raises(Crash):
        backfill(services, "demo-woo", NOV_20, NOV_21, apply=True)
    assert crashed
    services.bus.drain(services)  # the worker went on with what intake had recorded
    monkeypatch.undo()

    resumed = backfill(services, "demo-woo", NOV_20, NOV_21, apply=True)
    services.bus.drain(services)

    assert [o["outcome"] for o in resumed.orders] == ["done_before"] * 3 + ["duplicate", "accepted", "accepted"]
    assert _invoices_by_order(services) == dict.fromkeys(IDS, 1)
    assert backfill(services, "demo-woo", NOV_20, NOV_21, apply=True).counts == {"done_before": 6}


def test_a_new_range_that_overlaps_a_done_one_issues_nothing_twice(services):
    backfill(services, "demo-woo", NOV_20, NOV_20, apply=True)
    services.bus.drain(services)

    wider = backfill(services, "demo-woo", NOV_20, NOV_21, apply=True)
    services.bus.drain(services)

    assert Counter(o["outcome"] for o in wider.orders) == {"duplicate": 3, "accepted": 3}
    assert _invoices_by_order(services) == dict.fromkeys(IDS, 1)


def _post(services, query: str) -> func.HttpResponse:
    override_services(services)
    try:
        request = func.HttpRequest(
            "POST",
            f"http://127.0.0.1/api/stores/demo-woo/backfill?{query}",
            body=b"",
            route_params={"store_id": "demo-woo"},
            params=dict(p.split("=", 1) for p in query.split("&") if "=" in p),
        )
        return registered_functions(app)["backfill"].get_user_function()(request)
    finally:
        override_services(None)


def test_operator_route_dry_runs_by_default_and_applies_on_request(services):
    dry = _post(services, "from=2026-11-20&to=2026-11-21")
    assert dry.status_code == 200
    assert json.loads(dry.get_body())["counts"] == {"would_invoice": 6}
    assert services.bus.messages == []

    applied = _post(services, "from=2026-11-20&to=2026-11-21&apply=true")

    assert applied.status_code == 202
    assert json.loads(applied.get_body())["counts"] == {"accepted": 6}


def test_operator_route_refuses_bad_dates_as_problem_json(services, fake_store):
    response = _post(services, "from=2026-11-21&to=yesterday")

    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert fake_store.requests == []
