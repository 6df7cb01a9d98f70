"""Intake: store webhooks in, 202 out; the work happens behind the order-events queue."""

from __future__ import annotations

import azure.functions as func

from functions.http import http_errors, json_response
from shared.bootstrap import services
from shared.channels import CHANNEL_NAMES
from shared.errors import NotFound
from shared.handlers.intake import Accepted, Duplicate, IntakeResult, receive_webhook

bp = func.Blueprint()


@bp.function_name("webhook")
@bp.route(route="webhooks/{channel}/{store_id}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
def webhook(req: func.HttpRequest) -> func.HttpResponse:
    channel = req.route_params.get("channel", "")
    if channel not in CHANNEL_NAMES:
        supported = ", ".join(CHANNEL_NAMES)
        raise NotFound("Unknown channel", f"'{channel}' is not a supported channel ({supported}).")
    result = receive_webhook(services(), channel, req.route_params.get("store_id", ""), req.get_body(), req.headers)
    return json_response(intake_status(result), intake_body(result))


def intake_status(result: IntakeResult) -> int:
    """202 for a new event; 200 for a duplicate or a ping (nothing new, and the store must not send it again)."""
    return 202 if isinstance(result, Accepted) else 200


def intake_body(result: IntakeResult) -> dict[str, object]:
    if not isinstance(result, Accepted | Duplicate):
        return {"status": "ping"}
    return {
        "status": "accepted" if isinstance(result, Accepted) else "duplicate",
        "event_key": result.event_key,
        "order": f"/api/orders/{result.store_id}/{result.order_id}",
    }
