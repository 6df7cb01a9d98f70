"""Intake: store webhooks in, 202 out; the work happens behind the order-events queue."""

from __future__ import annotations

import azure.functions as func

from functions.http import http_errors, json_response
from shared.bootstrap import services
from shared.channels import CHANNEL_NAMES
from shared.errors import BadRequest
from shared.handlers.intake import receive_webhook

bp = func.Blueprint()


@bp.function_name("webhook")
@bp.route(route="webhooks/{channel}/{store_id}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
def webhook(req: func.HttpRequest) -> func.HttpResponse:
    channel = req.route_params.get("channel", "")
    if channel not in CHANNEL_NAMES:
        supported = ", ".join(CHANNEL_NAMES)
        raise BadRequest(404, "Unknown channel", f"'{channel}' is not a supported channel ({supported}).")
    result = receive_webhook(services(), channel, req.route_params.get("store_id", ""), req.get_body(), req.headers)
    return json_response(result.status, result.body)
