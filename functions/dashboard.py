"""The dashboard for business users: GET /api/dashboard (HTML, English and Spanish)."""

from __future__ import annotations

import azure.functions as func

from functions.http import http_errors
from shared.bootstrap import services
from shared.handlers.dashboard import render_dashboard

bp = func.Blueprint()

# The page may carry the function key in its links (?code=): keep it out of caches and Referer headers.
HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


@bp.function_name("dashboard")
@bp.route(route="dashboard", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_errors
def dashboard(req: func.HttpRequest) -> func.HttpResponse:
    html = render_dashboard(services(), dict(req.params), req.headers.get("accept-language", ""))
    return func.HttpResponse(html, status_code=200, headers=HEADERS)
