"""Hot endpoints served ahead of the framework's routing: one regex match, the endpoint, the response.

Why: for GET one SIM, FastAPI and Starlette's layers (exception and exit-stack middleware, matching the app's
routes one by one, the endpoint wrapper and a second Request) cost more CPU than the endpoint itself
(bench/RESULTS.md, API section). This middleware sits inside Starlette's ServerErrorMiddleware, so an
unexpected error is still a logged 500; a platform error becomes the platform's error body, as anywhere else.
The endpoints stay registered as FastAPI routes too, so /openapi.json and /docs describe them, and every other
method on the same path (POST to update a SIM) goes on to FastAPI.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from cellplane.api.wire.errors import error_response
from cellplane.domain.errors import CellplaneError

Endpoint = Callable[[Request], Awaitable[Response]]
HotRoute = tuple[str, str, Endpoint]  # (method, full path template, endpoint taking only the request)


class HotRoutes:
    def __init__(self, app: ASGIApp, routes: Sequence[HotRoute]) -> None:
        self.app = app
        self.routes: list[tuple[str, re.Pattern[str], Endpoint]] = [
            (method, compile_path(path)[0], endpoint) for method, path, endpoint in routes
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for method, pattern, endpoint in self.routes:
                if scope["method"] != method:
                    continue
                match = pattern.match(scope["path"])
                if match is None:
                    continue
                scope["path_params"] = match.groupdict()
                request = Request(scope, receive)
                try:
                    response = await endpoint(request)
                except CellplaneError as error:
                    response = error_response(error)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
