"""Hot endpoints served ahead of the framework: one regex match, the endpoint, the response.

Why: for GET one SIM and POST IpCommands, FastAPI and Starlette's layers (error, telemetry and body-limit
middleware, exception and exit-stack middleware, matching the app's routes one by one, the endpoint wrapper and a
second Request) cost more CPU than the endpoint itself (bench/RESULTS.md, API and Commands sections). `HotRoutes`
wraps the whole FastAPI app (it is what the server runs): a hot request never enters FastAPI, anything else goes
on to it unchanged (lifespan included). What those layers did for a hot request is done here: `scope["app"]` is
the FastAPI app (endpoints read its state), a platform error becomes the platform's error body, and an unexpected
one is logged and answered 500, as Starlette's ServerErrorMiddleware would. The endpoints stay registered as
FastAPI routes too, so /openapi.json and /docs describe them, and every other method on the same path (POST to
update a SIM) goes on to FastAPI.

Being the outermost layer but the edge (api/wire/edge.py), it also does what every request needs before
routing and after the response: the optional `.json` extension of the Super SIM and Wireless paths is dropped
(`/wireless/v1/Sims.json` is `/wireless/v1/Sims`, as the hosted platform takes it), and each request is counted by
surface, route template, method and status with its latency (services/metrics.py: plain integers, about a
microsecond a request).

A hot request carries its FastAPI route in `scope["route"]`, as FastAPI would set it, so the permission that route
declares (api/wire/guard.py) is checked the same way.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence

from fastapi.routing import iter_route_contexts
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cellplane.api.wire.errors import error_response, log_disconnect
from cellplane.domain.errors import CellplaneError
from cellplane.services.metrics import HTTP

log = logging.getLogger("cellplane.api")

Endpoint = Callable[[Request], Awaitable[Response]]
HotRoute = tuple[str, str, Endpoint]  # (method, full path template, endpoint taking only the request)


# Paths whose last segment may end in ".json" (the Wireless docs: "the extension is optional").
JSON_SUFFIXED = ("/supersim/v1/", "/wireless/v1/")
# Metric labels: a method outside these is counted as OTHER (a client can send any token as a method).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
SURFACES = frozenset(
    {"supersim", "wireless", "things", "cellplane", "admin", "api-services", "oauth", "console", "healthz", "metrics"}
)
DOCS = frozenset({"docs", "redoc", "openapi.json"})
UNMATCHED = "unmatched"


def surface_of(template: str) -> str:
    """The surface a route template belongs to, from its first segment (bounded: unknown ones are "other")."""
    first = template.split("/", 2)[1] if template.startswith("/") else ""
    if first in SURFACES:
        return first
    return "docs" if first in DOCS else "other"


def route_template(route: object, path: str) -> str | None:
    """The full template of the route FastAPI matched: it hands over the route as its router declared it
    (`/Sims/{sid}`), without the prefixes of the routers that include it; those are the request path's leading
    segments (no placeholder of ours spans a slash). A mount is its prefix and `{path}`."""
    if isinstance(route, Mount):
        return f"{route.path}/{{path}}"
    own = getattr(route, "path", None)
    if not isinstance(own, str):
        return None
    keep = path.count("/") - own.count("/") + 1
    return "/".join(path.split("/")[:keep]) + own if keep > 0 else own


class HotRoutes:
    def __init__(self, app: ASGIApp, routes: Sequence[HotRoute]) -> None:
        self.app = app
        declared = _declared_routes(app)
        self.routes: list[tuple[str, re.Pattern[str], Endpoint, tuple[str, str], object]] = [
            (method, compile_path(path)[0], endpoint, (surface_of(path), path), declared.get(endpoint))
            for method, path, endpoint in routes
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope["path"]
        if path.endswith(".json") and path.startswith(JSON_SUFFIXED):
            path = scope["path"] = path[:-5]
            raw = scope.get("raw_path")
            if raw is not None and raw.endswith(b".json"):
                scope["raw_path"] = raw[:-5]
        method = scope["method"]
        for route_method, pattern, endpoint, (surface, template), route in self.routes:
            if method != route_method:
                continue
            match = pattern.match(path)
            if match is None:
                continue
            scope["app"] = self.app
            scope["route"] = route
            scope["path_params"] = match.groupdict()
            status = await self._serve(endpoint, scope, receive, send)
            HTTP.observe(surface, template, method, status, time.perf_counter() - started)
            return
        await self._forward(scope, receive, send, path, started)

    async def _forward(self, scope: Scope, receive: Receive, send: Send, path: str, started: float) -> None:
        """Anything not hot goes on to FastAPI, counted under the route FastAPI matched."""
        status = 500

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            template = route_template(scope.get("route"), path)
            surface = surface_of(template or path)
            method = scope["method"]
            verb = method if method in METHODS else "OTHER"
            HTTP.observe(surface, template or UNMATCHED, verb, status, time.perf_counter() - started)

    async def _serve(self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> int:
        """Answer with `endpoint`; returns the status sent."""
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            try:
                response = await endpoint(Request(scope, receive))
            except CellplaneError as error:
                response = error_response(error)
            await response(scope, receive, tracked)
            return response.status_code
        except ClientDisconnect:
            log_disconnect(Request(scope))
            return 499  # the client left before its answer (nginx's code for it; metrics only)
        except Exception:
            log.exception("%s %s failed", scope["method"], scope["path"])
            if not started:
                await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, send)
            return 500


def _declared_routes(app: ASGIApp) -> dict[object, object]:
    """The app's routes by endpoint: a hot endpoint is also a FastAPI route, whose metadata (its permission) counts."""
    routes = getattr(app, "routes", None)
    if routes is None:
        return {}
    found: dict[object, object] = {}
    for context in iter_route_contexts(routes):
        endpoint = getattr(context.original_route, "endpoint", None)
        if endpoint is not None:
            found[endpoint] = context.original_route
    return found
