"""The whole platform in one process: builds every component from Settings and runs them together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Protocol

import httpx
from fastapi import FastAPI

from cellplane.api.app import create_app
from cellplane.api.wire.auth import Authenticator
from cellplane.domain.ids import seed_sids
from cellplane.jobs.esim_profiles import advance_esim_profile, complete_settings_update
from cellplane.jobs.runner import JobRunner
from cellplane.jobs.sim_updates import complete_sim_update
from cellplane.jobs.webhooks import WebhookSender
from cellplane.runtime.settings import Settings, admin_token
from cellplane.services.context import PlatformContext
from cellplane.services.esim_profiles import ESIM_PROFILE_JOB
from cellplane.services.outbox import WEBHOOK_JOB
from cellplane.services.settings_updates import SETTINGS_UPDATE_JOB
from cellplane.services.sims import SIM_UPDATE_JOB
from cellplane.store.db import make_engine, make_sessionmaker

log = logging.getLogger("cellplane")


class Component(Protocol):
    """A long-running piece of the platform (AAA, gateway, emulator ...)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Platform:
    """The whole platform in one process: API, job workers (and, as they land, AAA, gateway, SMSC)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        seed_sids(settings.seed)
        self.database_url = settings.resolved_database_url()
        self.engine = make_engine(self.database_url)
        self.ctx = PlatformContext(sessions=make_sessionmaker(self.engine), sim_update_delay=settings.sim_update_delay)
        self.http = httpx.AsyncClient(timeout=settings.webhook_timeout, follow_redirects=False)
        self.webhooks = WebhookSender(
            self.http, max_attempts=settings.webhook_max_attempts, timeout=settings.webhook_timeout
        )
        self.runner = JobRunner(
            self.ctx,
            {
                SIM_UPDATE_JOB: complete_sim_update,
                WEBHOOK_JOB: self.webhooks,
                ESIM_PROFILE_JOB: advance_esim_profile,
                SETTINGS_UPDATE_JOB: complete_settings_update,
            },
            concurrency=settings.job_concurrency,
            backoff_base=settings.job_backoff_base,
        )
        self.authenticator = Authenticator(
            self.ctx, rate_per_second=settings.rate_limit, burst=max(settings.rate_burst, 1.0)
        )
        self.components: list[Component] = self._build_components()
        self.app = self._build_app()

    def _build_components(self) -> list[Component]:
        """The network elements, in start order (the AAA before the gateway that asks it)."""
        components: list[Component] = []
        # --- AAA (network/aaa) ---
        # --- gateway (network/gateway) ---
        # --- emulator (emulator/) ---
        return components

    def _build_app(self) -> FastAPI:
        app = create_app(self.ctx, self.authenticator, admin_token(self.settings))
        app.router.lifespan_context = self._lifespan
        return app

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def start(self) -> None:
        self.ctx.work_available = asyncio.Event()
        self.runner.start()
        for component in self.components:
            await component.start()

    async def stop(self) -> None:
        for component in reversed(self.components):
            await component.stop()
        await self.runner.stop()
        await self.http.aclose()
        await self.engine.dispose()
