"""The web console at /console: server-rendered pages (Jinja2) with htmx partial updates and server-sent events
for live changes, served by the platform itself. It uses the services, never the store, like every surface."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import FastAPI
from starlette.responses import RedirectResponse

from cellplane.console.dashboard_cache import DashboardCache
from cellplane.console.lab import Lab
from cellplane.console.live import LiveFeed
from cellplane.console.web import PREFIX, environment
from cellplane.services import console_sessions
from cellplane.services.audit import AuditWriter
from cellplane.services.context import PlatformContext


@dataclass
class Console:
    """What the console's handlers need beyond the request: the live feed, and the lab when one runs."""

    feed: LiveFeed
    lab: Lab | None = None
    session_lifetime: timedelta = console_sessions.DEFAULT_LIFETIME
    audit: AuditWriter | None = None  # where the console's own changes are logged (the platform's writer)
    dashboards: DashboardCache = field(default_factory=DashboardCache)

    async def start(self) -> None:
        await self.feed.start()

    async def stop(self) -> None:
        await self.feed.stop()
        await self.dashboards.stop()


def _fragment(template: str, values: dict[str, object]) -> str:
    return environment.get_template(template).render(**values)


def install(
    app: FastAPI,
    ctx: PlatformContext,
    lab: Lab | None = None,
    session_seconds: float | None = None,
    audit: AuditWriter | None = None,
) -> Console:
    """Mount the console on `app`; the returned component runs its live feed (start it with the platform)."""
    from cellplane.console import (
        routes_actions,
        routes_admin,
        routes_auth,
        routes_pages,
        routes_things,
        static_files,
    )

    console = Console(feed=LiveFeed(ctx, _fragment), lab=lab, audit=audit)
    if session_seconds is not None:
        console.session_lifetime = timedelta(seconds=session_seconds)
    app.state.console = console
    parts = (
        static_files.router,
        routes_auth.router,
        routes_pages.router,
        routes_actions.router,
        routes_things.router,
        routes_admin.router,
    )
    for part in parts:
        app.include_router(part, prefix=PREFIX, include_in_schema=False)

    async def home() -> RedirectResponse:
        return RedirectResponse(PREFIX, status_code=307)

    # A newcomer's first URL: the platform's root leads to the console.
    app.add_api_route("/", home, methods=["GET"], include_in_schema=False)
    environment.globals["asset_url"] = static_files.asset_url
    return console
