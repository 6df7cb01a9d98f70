"""HTTP functions: ASP.NET-style route templates, matching a request to its HTTP-trigger function, and
turning the function's HttpResponse into the answer the server sends (problem+json for the host's own
errors). Core Tools' `POST /admin/functions/{name}` runs a timer now."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import azure.functions as func
from azure.functions.decorators.function_app import Function

from local.http_server import Answer, Request, problem
from local.invocation import InvocationContext, invoke

log = logging.getLogger("local.host")


def _method_names(methods: Iterable[Any] | None) -> frozenset[str] | None:
    if not methods:
        return None
    return frozenset((method.value if isinstance(method, Enum) else str(method)).upper() for method in methods)


@dataclass(frozen=True)
class HttpRoute:
    """One HTTP-trigger function: its ASP.NET-style route template compiled to a regex."""

    function: Function
    template: str
    methods: frozenset[str] | None  # None: every method
    pattern: re.Pattern[str]
    precedence: tuple[int, ...]

    @classmethod
    def of(cls, function: Function) -> HttpRoute:
        trigger = function.get_trigger()
        template = (getattr(trigger, "route", None) or function.get_function_name() or "").strip("/")
        pattern, precedence = compile_route(template)
        return cls(function, template, _method_names(getattr(trigger, "methods", None)), pattern, precedence)


def compile_route(template: str) -> tuple[re.Pattern[str], tuple[int, ...]]:
    """`orders/{store_id}/{order_id}`, `{id:int}`, `{name?}`, `{*rest}` → regex with named groups.

    Matching is case-insensitive, as in ASP.NET routing. Precedence sorts literal segments before
    parameters and catch-alls last.
    """
    regex = ""
    precedence: list[int] = []
    for segment in template.split("/") if template else []:
        kinds: list[int] = []
        optional_segment = False
        position = 0
        segment_regex = ""
        for match in re.finditer(r"\{([^{}]+)\}", segment):
            segment_regex += re.escape(segment[position : match.start()])
            position = match.end()
            spec = match.group(1)
            catch_all = spec.startswith("*")
            name, _, constraint = spec.lstrip("*").partition(":")
            optional = catch_all or name.endswith("?") or constraint.endswith("?")
            name = name.rstrip("?")
            constraint = constraint.rstrip("?").split("(")[0].lower()
            if catch_all:
                group, kind = f"(?P<{name}>.*)", 3
            elif constraint in ("int", "long"):
                group, kind = f"(?P<{name}>-?[0-9]+)", 1
            elif constraint == "alpha":
                group, kind = f"(?P<{name}>[A-Za-z]+)", 1
            else:
                group, kind = f"(?P<{name}>[^/]+)", 2
            optional_segment = optional and match.group(0) == segment
            segment_regex += f"(?:{group})?" if optional and not optional_segment else group
            kinds.append(kind)
        segment_regex += re.escape(segment[position:])
        precedence.append(max(kinds, default=0))
        separator = "/" if regex else ""
        if optional_segment:
            # A whole optional segment takes its slash with it: `orders/{id?}` also matches `orders`.
            regex += f"(?:{separator}{segment_regex})?"
        else:
            regex += separator + segment_regex
    return re.compile(f"^{regex}$", re.IGNORECASE), tuple(precedence)


class HttpFunctions:
    """The HTTP-trigger functions of one app under a route prefix. `run_timer(name)` starts a timer
    function now and says whether one by that name exists (for the admin route)."""

    def __init__(self, functions: list[Function], prefix: str, run_timer: Callable[[str], bool]) -> None:
        self.prefix = prefix.strip("/")
        # Literal segments win over parameters, as in ASP.NET routing; stable for equal precedence.
        self.routes = sorted((HttpRoute.of(function) for function in functions), key=lambda route: route.precedence)
        self.run_timer = run_timer

    def full_path(self, template: str) -> str:
        return "/".join(part for part in (self.prefix, template) if part)

    def handle(self, request: Request) -> Answer:
        started = time.monotonic()
        split = urlsplit(request.target)
        path = split.path.strip("/")
        status, headers, body = self._route(request, split.query, path)
        log.info("%s /%s -> %d (%.0f ms)", request.method, path, status, (time.monotonic() - started) * 1000)
        return status, headers, body

    def _route(self, request: Request, query: str, path: str) -> Answer:
        admin = re.fullmatch(r"admin/functions/([^/]+)", path, re.IGNORECASE)
        if admin and request.method == "POST":
            return self._run_admin(admin.group(1))
        if self.prefix:
            if path.lower() != self.prefix.lower() and not path.lower().startswith(self.prefix.lower() + "/"):
                return problem(404, "Not Found", "no function serves this route")
            path = path[len(self.prefix) :].lstrip("/")
        allowed: set[str] = set()
        for route in self.routes:
            match = route.pattern.match(path)
            if match is None:
                continue
            if route.methods is not None and request.method not in route.methods:
                allowed |= route.methods
                continue
            route_params = {name: unquote(value) for name, value in match.groupdict().items() if value is not None}
            return self._call_http(route, request, query, route_params)
        if allowed:
            status, headers, refused = problem(405, "Method Not Allowed", f"allowed: {', '.join(sorted(allowed))}")
            return status, {**headers, "Allow": ", ".join(sorted(allowed))}, refused
        return problem(404, "Not Found", "no function serves this route")

    def _call_http(self, route: HttpRoute, request: Request, query: str, route_params: dict[str, str]) -> Answer:
        headers: dict[str, str] = {}
        for name, value in request.headers:
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        http_request = func.HttpRequest(
            method=request.method,
            url=f"http://{request.host}{request.target}",
            headers=headers,
            params=dict(parse_qsl(query, keep_blank_values=True)),
            route_params=route_params,
            body=request.body,
        )
        name = route.function.get_function_name() or ""
        invocation_id = str(uuid.uuid4())
        trace_parent = http_request.headers.get("traceparent", "")
        trace_state = http_request.headers.get("tracestate", "")
        try:
            result = invoke(
                route.function,
                http_request,
                InvocationContext(invocation_id, name, _trace_parent=trace_parent, _trace_state=trace_state),
            )
        except Exception:
            log.exception("%s failed (invocation %s)", name, invocation_id)
            return problem(500, "Internal Server Error", f"the function failed; invocation {invocation_id}")
        return http_result(result)

    def _run_admin(self, name: str) -> Answer:
        """Core Tools' `POST /admin/functions/{name}`: run a timer function now."""
        if self.run_timer(name):
            return 202, {}, b""
        return problem(404, "Not Found", f"no timer function named {name!r}")


def http_result(result: Any) -> Answer:
    if isinstance(result, func.HttpResponse):
        headers: list[tuple[str, str]] = list(result.headers.items())
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers.append(("Content-Type", f"{result.mimetype}; charset={result.charset}"))
        return result.status_code, headers, result.get_body()
    if result is None:
        return 204, {}, b""
    if isinstance(result, str | bytes):
        body = result.encode() if isinstance(result, str) else result
        return 200, {"Content-Type": "text/plain; charset=utf-8"}, body
    log.error("function returned %s, not an HttpResponse", type(result).__name__)
    return problem(500, "Internal Server Error", "the function returned no HTTP response")
