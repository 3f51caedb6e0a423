"""eSIM profiles' place in the platform: our SM-DP+ (services/esim_profiles.py) as the emulated eUICCs' download
server, and their control API (/cellplane/v1/Emulator/Euiccs/...) wired to the platform's authentication and SIM
ownership.

The emulator (emulator/esim.py) knows the SM-DP+ only as a seam; this adapter runs each step in a transaction of its
own (download, then install: each status is committed, and its callback queued, as it happens) and translates the
services' errors into the emulator's, so the control API answers them in its own wire format.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from fastapi import APIRouter, Request

from cellplane.api.wire.auth import authenticate
from cellplane.domain.caller import Caller
from cellplane.domain.errors import Conflict, InvalidParameter, NotFound
from cellplane.emulator import http_esim
from cellplane.emulator.errors import EmulatorError, InvalidState, InvalidValue, UnknownDevice
from cellplane.emulator.esim import Euiccs, ProfilePackage
from cellplane.services import esim_profiles
from cellplane.services.context import PlatformContext
from cellplane.store.repositories.sim_owners import owners


def _emulator_error(error: Exception) -> EmulatorError:
    if isinstance(error, NotFound):
        return UnknownDevice(error.message)
    if isinstance(error, Conflict):
        return InvalidState(error.message)
    assert isinstance(error, InvalidParameter)
    return InvalidValue(error.message, error.parameter)


class PlatformSmdp:
    """The SM-DP+ the emulated eUICCs download from: the platform's eSIM profiles."""

    def __init__(self, ctx: PlatformContext) -> None:
        self.ctx = ctx

    async def download(self, who: Caller, eid: str, matching_id: str | None) -> ProfilePackage:
        try:
            async with self.ctx.sessions() as session, session.begin():
                profile = await esim_profiles.download(session, who, eid, matching_id, self.ctx.clock())
                package = ProfilePackage(profile.iccid or "", profile.sid, profile.sim_sid)
        except (NotFound, Conflict, InvalidParameter) as error:
            raise _emulator_error(error) from None
        self.ctx.wake_workers()  # the `downloaded` callback is queued
        return package

    async def installed(self, who: Caller, eid: str, package: ProfilePackage) -> None:
        try:
            async with self.ctx.sessions() as session, session.begin():
                await esim_profiles.install(session, package.esim_profile_sid, self.ctx.clock())
        except (NotFound, Conflict) as error:
            raise _emulator_error(error) from None
        self.ctx.wake_workers()


def esim_router(ctx: PlatformContext) -> APIRouter:
    """`/cellplane/v1/Emulator/Euiccs/{Eid}/Profiles`, for the caller's own profiles and its subaccounts'."""

    async def caller(request: Request) -> Caller:
        return await authenticate(request)

    async def owned(who: Caller, iccids: Sequence[str]) -> Collection[str]:
        async with ctx.sessions() as session:
            found = await owners(session, iccids)
        return {iccid for iccid, account in found.items() if who.can_see(account)}

    return http_esim.router(Euiccs(PlatformSmdp(ctx)), caller, owned)
