"""Timers: the catch-up poll of store APIs, the stuck-order sweep, stock back to the store, webhook health,
personal-data retention and the outbox relay; the erasure request for one customer's personal data; reconciliation
and backfill for operators."""

from __future__ import annotations

import azure.functions as func

from functions.http import http_errors, json_response, request_actor, upstream_failed
from shared.bootstrap import services
from shared.errors import PermanentError, RetryableError
from shared.handlers.backfill import backfill
from shared.handlers.housekeeping import catch_up, sweep_stuck_orders
from shared.handlers.privacy import apply_retention, erase_customer, erasure_request
from shared.handlers.reconciliation import parse_range, reconcile
from shared.handlers.relay import relay_unsent_events
from shared.handlers.stock import sync_all
from shared.handlers.webhook_health import check_all

bp = func.Blueprint()


@bp.function_name("catch_up_poll")
@bp.timer_trigger(schedule="%CatchUpSchedule%", arg_name="timer", run_on_startup=False)
def catch_up_poll(timer: func.TimerRequest) -> None:
    catch_up(services())


@bp.function_name("sweep_stuck_orders")
@bp.timer_trigger(schedule="%SweepSchedule%", arg_name="timer", run_on_startup=False)
def sweep(timer: func.TimerRequest) -> None:
    sweep_stuck_orders(services())


# -- stock back to the store and webhook health (shared.handlers.stock, shared.handlers.webhook_health) --------


@bp.function_name("stock_sync")
@bp.timer_trigger(schedule="%StockSyncSchedule%", arg_name="timer", run_on_startup=False)
def stock_sync(timer: func.TimerRequest) -> None:
    sync_all(services())


@bp.function_name("webhook_health")
@bp.timer_trigger(schedule="%WebhookHealthSchedule%", arg_name="timer", run_on_startup=False)
def webhook_health(timer: func.TimerRequest) -> None:
    check_all(services())


# -- personal data: the retention timer and the erasure request (shared.handlers.privacy) --------------


@bp.function_name("apply_retention")
@bp.timer_trigger(schedule="%RetentionSchedule%", arg_name="timer", run_on_startup=False)
def retention(timer: func.TimerRequest) -> None:
    apply_retention(services())


@bp.function_name("erase_customer")
@bp.route(route="stores/{store_id}/erasure", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@http_errors
def erasure(req: func.HttpRequest) -> func.HttpResponse:
    request = erasure_request(req.get_body())
    answer = erase_customer(services(), req.route_params["store_id"], actor=request_actor(req), **request)
    return json_response(200, answer)


# Outbox relay: sends events that intake recorded and acknowledged but did not get onto the bus (a crash
# or a failed send in between). run_on_startup is safe: the relay is idempotent (message id = event key,
# duplicate detection drops repeats) and cheap (one query of an index of unsent events), and a restart is
# exactly when unsent events are likely.
@bp.function_name("relay_unsent_events")
@bp.timer_trigger(schedule="%OutboxRelaySchedule%", arg_name="timer", run_on_startup=True)
def relay(timer: func.TimerRequest) -> None:
    relay_unsent_events(services())


# -- reconciliation and backfill (shared.handlers.reconciliation, shared.handlers.backfill) ------------------------
# `redrive=true` and `apply=true` write; without them both only read. Bad dates are a 400 problem+json.


def _flag(req: func.HttpRequest, name: str) -> bool:
    return req.params.get(name, "").strip().lower() in ("1", "true", "yes")


@bp.function_name("reconciliation")
@bp.route(route="stores/{store_id}/reconciliation", methods=["GET", "POST"], auth_level=func.AuthLevel.FUNCTION)
@http_errors
def reconciliation(req: func.HttpRequest) -> func.HttpResponse:
    first, last = parse_range(req.params.get("from"), req.params.get("to"))
    redrive = req.method == "POST" and _flag(req, "redrive")  # a GET never writes
    try:
        report = reconcile(
            services(), req.route_params["store_id"], first, last, redrive=redrive, actor=request_actor(req)
        )
    except (RetryableError, PermanentError) as error:
        return upstream_failed(error)
    return json_response(200, report.as_dict(req.params.get("lang", "en")))


@bp.function_name("backfill")
@bp.route(route="stores/{store_id}/backfill", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@http_errors
def backfill_orders(req: func.HttpRequest) -> func.HttpResponse:
    first, last = parse_range(req.params.get("from"), req.params.get("to"))
    try:
        result = backfill(services(), req.route_params["store_id"], first, last, apply=_flag(req, "apply"))
    except (RetryableError, PermanentError) as error:
        return upstream_failed(error)
    return json_response(202 if result.applied else 200, result.as_dict())
