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
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cellplane.api.wire.errors import error_response, log_disconnect
from cellplane.domain.errors import CellplaneError

log = logging.getLogger("cellplane.api")

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
                scope["app"] = self.app
                scope["path_params"] = match.groupdict()
                await self._serve(endpoint, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _serve(self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
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
        except ClientDisconnect:
            log_disconnect(Request(scope))
        except Exception:
            log.exception("%s %s failed", scope["method"], scope["path"])
            if not started:
                await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, send)
