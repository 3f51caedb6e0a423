"""Job handlers for over-the-air SIM profile work: eSIM profile reservation steps and settings updates."""

from __future__ import annotations

from typing import Any

from cellplane.services import esim_profiles, settings_updates
from cellplane.services.context import PlatformContext


async def advance_esim_profile(ctx: PlatformContext, payload: dict[str, Any]) -> None:
    """One reservation step (new -> reserving, reserving -> available | failed), in its own transaction."""
    async with ctx.sessions() as session, session.begin():
        await esim_profiles.advance(session, ctx, payload)
    ctx.wake_workers()


async def complete_settings_update(ctx: PlatformContext, payload: dict[str, Any]) -> None:
    """The (emulated) network delivered the settings packages to the SIM."""
    async with ctx.sessions() as session, session.begin():
        await settings_updates.complete(session, ctx, str(payload["settings_update_sid"]))
