"""HTTP helpers for the thin functions: JSON and RFC 9457 problem+json responses."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any

import azure.functions as func

from shared.actor import actor_from_headers
from shared.bootstrap import services
from shared.errors import (
    BadRequest,
    IntegrationError,
    InvalidSignature,
    NotFound,
    NothingToRetry,
    PermanentError,
    Refusal,
    RetryableError,
    TooLarge,
    Unreadable,
)

log = logging.getLogger("o2c.http")

# On every answer: a browser must take JSON for JSON, never sniff it into HTML or script.
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff"}

# The status of each kind of refusal the services raise (shared.errors); the first kind that matches wins.
REFUSAL_STATUS: tuple[tuple[type[Refusal], int], ...] = (
    (Unreadable, 400),
    (InvalidSignature, 401),
    (NotFound, 404),
    (NothingToRetry, 409),
    (TooLarge, 413),
)


def status_of(error: BadRequest) -> int:
    """The HTTP status of a refusal: by its kind, or the one a channel parser named (BadRequest(400, …))."""
    for kind, status in REFUSAL_STATUS:
        if isinstance(error, kind):
            return status
    return error.status or 400


def json_response(status: int, body: Any) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, ensure_ascii=False, default=str),
        status_code=status,
        headers=dict(SECURITY_HEADERS),
        mimetype="application/json",
    )


def problem(status: int, title: str, detail: str = "", type_: str = "about:blank", **extra: Any) -> func.HttpResponse:
    body = {"type": type_, "title": title, "status": status, "detail": detail, **extra}
    return func.HttpResponse(
        json.dumps(body, ensure_ascii=False),
        status_code=status,
        headers={**SECURITY_HEADERS, "Content-Type": "application/problem+json"},
    )


def upstream_failed(error: IntegrationError) -> func.HttpResponse:
    """The store's API or the target refused (502, naming why) or is down (503): an operator route that reads them
    answers this, never a bare 500. A refusal that is also retryable (a store whose file was refused) keeps its own
    answer."""
    if isinstance(error, BadRequest):
        return problem(status_of(error), error.title, error.detail, error.type)
    if isinstance(error, RetryableError):
        return problem(503, "Store or target unavailable", str(error))
    reason = error.text("en") if isinstance(error, PermanentError) else str(error)
    return problem(502, "Store or target refused", reason)


def http_errors(
    handler: Callable[[func.HttpRequest], func.HttpResponse],
) -> Callable[[func.HttpRequest], func.HttpResponse]:
    """Turn refusals into problem+json; an unexpected error is logged and answered 500 without internals.

    A route that names a store whose settings file was refused at load answers 503 before its handler runs.
    """

    @functools.wraps(handler)
    def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        try:
            store_id = req.route_params.get("store_id")
            if store_id:
                services().loaded_store(store_id)
            return handler(req)
        except BadRequest as error:
            return problem(status_of(error), error.title, error.detail, error.type)
        except Exception:
            log.exception("unexpected error in %s %s", req.method, handler.__name__)
            return problem(500, "Internal error", "The request could not be completed; it has been logged.")

    return wrapper


def request_actor(req: func.HttpRequest) -> str:
    """The person (Entra ID sign-in on Azure; the operating-system user locally) or machine behind a request,
    for the timeline of retries, uploads and erasures. See shared.actor."""
    return actor_from_headers(req.headers)
