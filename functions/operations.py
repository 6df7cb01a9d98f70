"""Timers: the catch-up poll of store APIs and the stuck-order sweep."""

from __future__ import annotations

import azure.functions as func

from shared.bootstrap import services
from shared.handlers.housekeeping import catch_up, sweep_stuck_orders

bp = func.Blueprint()


@bp.function_name("catch_up_poll")
@bp.timer_trigger(schedule="%CatchUpSchedule%", arg_name="timer", run_on_startup=False)
def catch_up_poll(timer: func.TimerRequest) -> None:
    catch_up(services())


@bp.function_name("sweep_stuck_orders")
@bp.timer_trigger(schedule="%SweepSchedule%", arg_name="timer", run_on_startup=False)
def sweep(timer: func.TimerRequest) -> None:
    sweep_stuck_orders(services())
