"""Renders the dashboard: the view model (view.py) through Jinja2 templates with autoescape on, and the
page's static CSS and JavaScript files, which the page loads from its own origin."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import jinja2

from shared.bootstrap import Services
from shared.dashboard.formats import translate
from shared.dashboard.view import dashboard_view

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
# The files /api/dashboard/static/{name} serves, with their types; nothing else in the folder is served.
STATIC_TYPES = {"dashboard.css": "text/css; charset=utf-8", "dashboard.js": "text/javascript; charset=utf-8"}


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every template is HTML; store data is never markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def content_security_policy(nonce: str) -> str:
    """The page's policy: its own script and style files, by nonce only, no inline code, calls to itself."""
    return (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'"
    )


def render_dashboard(
    services: Services,
    params: Mapping[str, str],
    accept_language: str,
    *,
    nonce: str | None = None,
    static_base: str = "dashboard/static/",
) -> str:
    """The dashboard HTML for the query parameters (see view.dashboard_view). Reads state only.

    `nonce` (new for each response) marks the page's script and style; the caller sends the same one in
    the Content-Security-Policy header. `static_base` is where the page finds its CSS and JavaScript.
    """
    page = dashboard_view(services, params, accept_language)
    nonce = nonce or secrets.token_urlsafe(16)

    def t(key: str, **values: object) -> str:
        return translate(key, page.lang, **values)

    template = environment().get_template("base.html")
    return template.render(page=page, t=t, nonce=nonce, csp=content_security_policy(nonce), static=static_base)


def static_file(name: str) -> tuple[bytes, str] | None:
    """The body and content type of one of the page's static files, or None for any other name."""
    content_type = STATIC_TYPES.get(name)
    return None if content_type is None else ((STATIC_DIR / name).read_bytes(), content_type)
