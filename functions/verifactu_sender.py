"""Timer: submits each VERI*FACTU issuer's pending records to the AEAT (shared.fiscal.verifactu.sender).

Every minute by default (VerifactuSendSchedule); the sender itself keeps the AEAT's TiempoEsperaEnvio, so a run
that comes too early sends nothing. Not on startup: a restart must not submit before the wait is over.
"""

from __future__ import annotations

import azure.functions as func

from shared.bootstrap import services
from shared.fiscal.verifactu.sender import send_all

bp = func.Blueprint()


@bp.function_name("send_verifactu_records")
@bp.timer_trigger(schedule="%VerifactuSendSchedule%", arg_name="timer", run_on_startup=False)
def send_verifactu_records(timer: func.TimerRequest) -> None:
    found = services()
    send_all(found, found.clock())
