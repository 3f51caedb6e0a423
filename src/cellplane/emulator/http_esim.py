"""The emulator's eSIM control API, beside http.py's: a device's eUICC downloads and installs an eSIM profile.

    POST /cellplane/v1/Emulator/Euiccs/{Eid}/Profiles     [ActivationCode | MatchingId] [Install]
    GET  /cellplane/v1/Emulator/Euiccs/{Eid}/Profiles
    GET  /cellplane/v1/Emulator/Euiccs/{Eid}/Profiles/{Iccid}
    POST /cellplane/v1/Emulator/Euiccs/{Eid}/Profiles/{Iccid}   State=installed

Without ActivationCode or MatchingId the eUICC asks the SM-DP+ for the profile ordered for its EID (the default
SM-DP+ of SGP.22). `Install=false` stops after the download, so the profile shows `downloaded` until installed.

Same seams and wire conventions as http.py (`authenticate`, `owns`; errors naming the parameter; keyset paging):
the SM-DP+ only offers the caller's own profiles, and the eUICC lists only the caller's SIMs.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from .esim import INSTALLED, EuiccProfile, Euiccs, check_eid, matching_id_of
from .http import PREFIX, Authenticate, Ownership
from .http_wire import answered, base_url, form, invalid, iso, list_body, missing, not_found, query


def router(euiccs: Euiccs, authenticate: Authenticate, owns: Ownership, *, prefix: str = PREFIX) -> APIRouter:
    api = APIRouter(prefix=prefix, tags=["cellplane v1 emulator"])

    async def mine(caller: Any, eid: str, iccid: str) -> EuiccProfile:
        profile = euiccs.profile(eid, iccid) if iccid in await owns(caller, [iccid]) else None
        if profile is None:
            raise not_found("Profile", iccid)  # another account's profile is as unknown as none
        return profile

    @api.post("/Euiccs/{eid}/Profiles")
    @answered
    async def download(request: Request, eid: str) -> Response:
        """The eUICC downloads a profile from the SM-DP+ and installs it; 201 with the profile on the eUICC."""
        caller = await authenticate(request)
        params = await form(request)
        check_eid(eid)
        matching_id = matching_id_of(
            params.string("ActivationCode", max_length=256), params.string("MatchingId", max_length=64)
        )
        install = params.boolean("Install")
        profile = await euiccs.download(caller, eid, matching_id, install=install is not False)
        return JSONResponse(render(request, profile), status_code=201)

    @api.get("/Euiccs/{eid}/Profiles")
    @answered
    async def profiles(request: Request, eid: str) -> Response:
        caller = await authenticate(request)
        params = query(request)
        check_eid(eid)
        on_chip = euiccs.profiles(eid)
        visible = set(await owns(caller, [p.iccid for p in on_chip])) if on_chip else set()
        numbered = [(index, p) for index, p in enumerate(on_chip) if p.iccid in visible]
        body = list_body(
            request, params, "profiles", numbered, lambda item: f"{item[0]:08d}", lambda item: render(request, item[1])
        )
        return JSONResponse(body)

    @api.get("/Euiccs/{eid}/Profiles/{iccid}")
    @answered
    async def fetch(request: Request, eid: str, iccid: str) -> Response:
        caller = await authenticate(request)
        check_eid(eid)
        return JSONResponse(render(request, await mine(caller, eid, iccid)))

    @api.post("/Euiccs/{eid}/Profiles/{iccid}")
    @answered
    async def install(request: Request, eid: str, iccid: str) -> Response:
        """`State=installed`: install a profile the eUICC downloaded with Install=false."""
        caller = await authenticate(request)
        params = await form(request)
        check_eid(eid)
        state = params.string("State", max_length=16)
        if state is None:
            raise missing("State")
        if state != INSTALLED:
            raise invalid("State", f"State must be {INSTALLED}")
        await mine(caller, eid, iccid)
        return JSONResponse(render(request, await euiccs.install(caller, eid, iccid)))

    return api


def render(request: Request, profile: EuiccProfile) -> dict[str, Any]:
    return {
        "eid": profile.eid,
        "iccid": profile.iccid,
        "esim_profile_sid": profile.esim_profile_sid,
        "sim_sid": profile.sim_sid,
        "state": profile.state,
        "date_downloaded": iso(profile.downloaded_at),
        "date_installed": iso(profile.installed_at),
        "url": f"{base_url(request)}{PREFIX}/Euiccs/{profile.eid}/Profiles/{profile.iccid}",
    }
