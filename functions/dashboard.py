"""The dashboard for business users: GET /api/dashboard (HTML, English and Spanish) and its CSS and
JavaScript files, GET /api/dashboard/static/{name}."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

import azure.functions as func

from functions.http import SECURITY_HEADERS, http_errors, problem, upstream_failed
from shared.bootstrap import services
from shared.dashboard.page import content_security_policy, render_dashboard, static_file
from shared.dashboard.reconciliation import render_reconciliation
from shared.errors import PermanentError, RetryableError

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
    # Absolute, from this request's path: right under any route prefix, with or without a trailing slash.
    static_base = urlsplit(req.url).path.rstrip("/") + "/static/"
    html = render_dashboard(
        services(), dict(req.params), req.headers.get("accept-language", ""), nonce=nonce, static_base=static_base
    )
    # As a header, not only the page's <meta>: browsers ignore frame-ancestors in <meta>, and a header
    # covers the page before any of it is parsed.
    policy = f"{content_security_policy(nonce)}; frame-ancestors 'none'"
    return func.HttpResponse(html, status_code=200, headers={**HEADERS, "Content-Security-Policy": policy})


# Anonymous: the files hold no data and no key, and a <script src> cannot send the function key header.
@bp.function_name("dashboard_static")
@bp.route(route="dashboard/static/{name}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
def dashboard_static(req: func.HttpRequest) -> func.HttpResponse:
    found = static_file(req.route_params.get("name", ""))
    if found is None:
        return problem(404, "Not found", "No such dashboard file.")
    body, content_type = found
    headers = {**SECURITY_HEADERS, "Content-Type": content_type, "Cache-Control": "no-cache"}
    return func.HttpResponse(body, status_code=200, headers=headers)


@bp.function_name("dashboard_reconciliation")
@bp.route(route="dashboard/reconciliation", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_errors
def dashboard_reconciliation(req: func.HttpRequest) -> func.HttpResponse:
    """Store, service and target compared for ?store=&from=&to= (shared.dashboard.reconciliation); reads only."""
    nonce = secrets.token_urlsafe(16)
    static_base = urlsplit(req.url).path.rstrip("/").rsplit("/", 1)[0] + "/static/"
    try:
        html = render_reconciliation(
            services(), dict(req.params), req.headers.get("accept-language", ""), nonce=nonce, static_base=static_base
        )
    except (RetryableError, PermanentError) as error:
        return upstream_failed(error)
    policy = f"{content_security_policy(nonce)}; frame-ancestors 'none'"
    return func.HttpResponse(html, status_code=200, headers={**HEADERS, "Content-Security-Policy": policy})
