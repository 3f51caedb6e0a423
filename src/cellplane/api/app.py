"""The HTTP API application: every surface's routers, the error handlers, health and metrics."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from cellplane import __version__
from cellplane.api import admin_v1, cellplane_v1, health, supersim_v1, wireless_v1
from cellplane.api.wire.auth import Authenticator
from cellplane.api.wire.errors import (
    handle_client_disconnect,
    handle_domain_error,
    handle_http_error,
    handle_validation_error,
)
from cellplane.api.wire.hot import HotRoutes
from cellplane.domain.callback_targets import TargetPolicy
from cellplane.domain.errors import CellplaneError
from cellplane.services.context import PlatformContext


def create_app(
    ctx: PlatformContext,
    authenticator: Authenticator | None = None,
    admin_token: str | None = None,
    telemetry: bool = False,
    callback_targets: TargetPolicy | None = None,
) -> FastAPI:
    """`telemetry` turns on FastAPI's native OpenTelemetry (global providers); off, it costs nothing per request
    (on, FastAPI checks the global providers on every request, a sixth of a one-row GET)."""
    app = FastAPI(
        telemetry=None if telemetry else {"tracing": False, "metrics": False, "logs": False},
        title="cellplane",
        version=__version__,
        description="Self-hosted connectivity management for cellular IoT SIM fleets.",
    )
    app.state.ctx = ctx
    app.state.authenticator = authenticator or Authenticator(ctx)
    app.state.admin_token = admin_token
    app.state.callback_targets = callback_targets or TargetPolicy()  # where callback URLs may point (400 if not)
    app.add_exception_handler(CellplaneError, handle_domain_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(ClientDisconnect, handle_client_disconnect)
    app.include_router(health.router)
    app.include_router(supersim_v1.router())
    app.include_router(wireless_v1.router())
    app.include_router(cellplane_v1.router())
    app.include_router(admin_v1.router())
    return app


def serving_app(app: FastAPI) -> HotRoutes:
    """What the server runs: the hottest endpoints ahead of FastAPI (api/wire/hot.py), everything else to `app`."""
    return HotRoutes(app, supersim_v1.hot_routes())
