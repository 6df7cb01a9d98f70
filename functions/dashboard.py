"""The dashboard for business users: GET /api/dashboard (HTML, English and Spanish)."""

from __future__ import annotations

import secrets

import azure.functions as func

from functions.http import SECURITY_HEADERS, http_errors
from shared.bootstrap import services
from shared.handlers.dashboard import content_security_policy, render_dashboard

bp = func.Blueprint()

# The page may carry the function key in its links (?code=): keep it out of caches and Referer headers.
HEADERS = {
    **SECURITY_HEADERS,
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@bp.function_name("dashboard")
@bp.route(route="dashboard", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_errors
def dashboard(req: func.HttpRequest) -> func.HttpResponse:
    nonce = secrets.token_urlsafe(16)
    html = render_dashboard(services(), dict(req.params), req.headers.get("accept-language", ""), nonce=nonce)
    # As a header, not only the page's <meta>: browsers ignore frame-ancestors in <meta>, and a header
    # covers the page before any of it is parsed.
    policy = f"{content_security_policy(nonce)}; frame-ancestors 'none'"
    return func.HttpResponse(html, status_code=200, headers={**HEADERS, "Content-Security-Policy": policy})
