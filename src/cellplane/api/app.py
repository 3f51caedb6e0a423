"""The HTTP API application: every surface's routers, the error handlers, health and metrics."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from cellplane import __version__
from cellplane.api import admin_v1, cellplane_v1, health, oauth, openapi, supersim_v1, things_v1, wireless_v1
from cellplane.api.admin_v1 import docs as admin_docs
from cellplane.api.cellplane_v1 import docs as cellplane_docs
from cellplane.api.cellplane_v1 import identity_docs
from cellplane.api.openapi import SurfaceDocs
from cellplane.api.openapi.official import official_surface
from cellplane.api.things_v1 import docs as things_docs
from cellplane.api.wire.auth import Authenticator
from cellplane.api.wire.edge import Edge
from cellplane.api.wire.errors import (
    handle_client_disconnect,
    handle_domain_error,
    handle_http_error,
    handle_validation_error,
)
from cellplane.api.wire.hot import HotRoutes
from cellplane.api.wire.ratelimit import TokenBuckets
from cellplane.domain.callback_targets import TargetPolicy
from cellplane.domain.errors import CellplaneError
from cellplane.services.audit import AuditWriter
from cellplane.services.context import PlatformContext

DESCRIPTION = """Self-hosted connectivity management for cellular IoT SIM fleets.

Super SIM v1 (`/supersim/v1`) and Programmable Wireless v1 (`/wireless/v1`) follow the official specifications,
with what cellplane adds or changes marked `x-cellplane`; `/cellplane/v1` holds cellplane's own resources and
`/admin/v1` the operator's. Requests are form-encoded, responses JSON; authenticate with HTTP Basic
`AccountSid:AuthToken` (or an API key `SK...:secret`), the operator with `admin:<admin token>`."""


def create_app(
    ctx: PlatformContext,
    authenticator: Authenticator | None = None,
    admin_token: str | None = None,
    telemetry: bool = False,
    cors_origins: tuple[str, ...] = (),
    callback_targets: TargetPolicy | None = None,
) -> FastAPI:
    """`telemetry` turns on FastAPI's native OpenTelemetry (global providers); off, it costs nothing per request
    (on, FastAPI checks the global providers on every request, a sixth of a one-row GET). `cors_origins` are the
    browser origins /things/v1 answers CORS for (THINGS.md: "the origins an operator allows")."""
    app = FastAPI(
        telemetry=None if telemetry else {"tracing": False, "metrics": False, "logs": False},
        title="cellplane",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,  # api/openapi serves /docs and /redoc from local assets (FastAPI's load from a CDN)
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.state.authenticator = authenticator or Authenticator(ctx)
    app.state.admin_token = admin_token
    # /things/v1 has its own error envelope and headers (THINGS.md); accounts whose Things defaults exist.
    app.state.error_renderers = {things_v1.PREFIX: things_v1.error_response}
    app.state.things_accounts = set()
    app.add_middleware(things_v1.SurfaceHeaders, origins=cors_origins)
    app.state.token_limits = TokenBuckets(rate=0, burst=0)  # the runtime sets the configured limits
    app.state.callback_targets = callback_targets or TargetPolicy()  # where callback URLs may point (400 if not)
    app.add_exception_handler(CellplaneError, handle_domain_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(ClientDisconnect, handle_client_disconnect)
    app.include_router(health.router)
    app.include_router(supersim_v1.router())
    app.include_router(wireless_v1.router())
    app.include_router(things_v1.router())
    app.include_router(cellplane_v1.router())
    app.include_router(admin_v1.router())
    app.include_router(oauth.router())
    openapi.install(app, surface_docs())
    return app


def surface_docs() -> list[SurfaceDocs]:
    """Each surface's description of its operations, for /openapi.json (api/openapi/document.py)."""
    return [
        official_surface("twilio_supersim_v1.json", "/supersim", "Super SIM v1", "Supersim"),
        official_surface("twilio_wireless_v1.json", "/wireless", "Wireless v1", "Wireless"),
        things_docs.surface_docs(),
        cellplane_docs.surface_docs(),
        *identity_docs.token_surfaces(),
        admin_docs.surface_docs(),
        health.surface_docs(),
    ]


def serving_app(app: FastAPI, audit: AuditWriter | None = None, rate_headers: bool = False) -> Edge:
    """What the server runs: the edge (RateLimit headers, audit log: api/wire/edge.py) around the hottest endpoints
    ahead of FastAPI (api/wire/hot.py), everything else to `app`."""
    return Edge(HotRoutes(app, supersim_v1.hot_routes()), audit, rate_headers)
