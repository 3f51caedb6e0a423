"""eSIM profiles: order one (POST /ESimProfiles), list, fetch, and the reservation that runs in the background.

A profile is reserved on our emulated SM-DP+ (GSMA SGP.22's download server) asynchronously:
`new -> reserving -> available`, or `failed` when the inventory has no free Super SIM. Reserving
takes an unclaimed inventory SIM onto the caller's account: that Sim resource is what the customer
configures and activates (the eSIM Profile resource docs). A device's eUICC then downloads the profile
(`available -> downloaded`, bound to its EID) and installs it (`downloaded -> installed`): the emulator's
eUICCs do this through `download` and `install` below. Each status change calls CallbackUrl.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.caller import Caller
from cellplane.domain.errors import Conflict, InvalidParameter, MissingParameter, NotFound
from cellplane.domain.ids import Prefix, is_sid, new_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.services.context import PlatformContext
from cellplane.services.outbox import enqueue, enqueue_webhook
from cellplane.store.models import EsimProfile, Sim
from cellplane.store.repositories import esim as repo

ESIM_PROFILE_JOB = "esim_profile"
STATUSES = ("new", "reserving", "available", "downloaded", "installed", "failed")
# Placeholder address of our own emulated SM-DP+; to become a setting when the SM-DP+ exists.
SMDP_PLUS_ADDRESS = "https://smdp.cellplane.local"
# Our extension code for "no Super SIM left in the inventory to back this profile".
NO_INVENTORY_CODE = "83901"
NO_INVENTORY_MESSAGE = "No Super SIM is available in the inventory to reserve this eSIM profile"

_EID = re.compile(r"^\d{32}\Z")
_MATCHING_ALPHABET = string.ascii_uppercase + string.digits


@dataclass
class EsimProfileOrder:
    """The parameters of POST /ESimProfiles."""

    eid: str | None = None
    generate_matching_id: bool | None = None
    callback_url: str | None = None
    callback_method: str | None = None


def is_valid_eid(eid: str) -> bool:
    """An EID (GSMA SGP.29): 32 digits whose last two are ISO/IEC 7064 MOD 97-10 check digits."""
    return bool(_EID.match(eid)) and int(eid) % 97 == 1


def make_matching_id() -> str:
    """A Matching ID (SGP.22 §4.1): five groups of five upper-case letters and digits."""
    groups = ("".join(secrets.choice(_MATCHING_ALPHABET) for _ in range(5)) for _ in range(5))
    return "-".join(groups)


def activation_code(smdp_address: str, matching_id: str) -> str:
    """The Activation Code (SGP.22 §4.1) as a QR code carries it: LPA:1$<SM-DP+ host>$<Matching ID>."""
    host = urlsplit(smdp_address).hostname or smdp_address
    return f"LPA:1${host}${matching_id}"


async def create(session: AsyncSession, caller: Caller, order: EsimProfileOrder) -> EsimProfile:
    eid = order.eid or None
    if eid is not None and not is_valid_eid(eid):
        raise InvalidParameter("Eid", "Eid must be a 32-digit EID with valid check digits (GSMA SGP.29)")
    if eid is None and order.generate_matching_id is False:
        # Without an EID the profile can only be claimed through a Matching ID.
        raise MissingParameter("Eid")
    profile = EsimProfile(
        sid=new_sid(Prefix.ESIM_PROFILE),
        account_sid=caller.account_sid,
        status="new",
        eid=eid,
        callback_url=order.callback_url or None,
        callback_method=(order.callback_method or "POST") if order.callback_url else None,
    )
    session.add(profile)
    # The order's choice travels with the work: a profile without an EID can only be claimed by Matching ID.
    wants_matching_id = bool(order.generate_matching_id) or eid is None
    enqueue(session, ESIM_PROFILE_JOB, {"profile_sid": profile.sid, "from": "new", "matching_id": wants_matching_id})
    await session.flush()
    return profile


async def fetch(session: AsyncSession, caller: Caller, sid: str) -> EsimProfile:
    profile = await repo.find_visible(session, sid, caller.visible) if is_sid(sid, Prefix.ESIM_PROFILE) else None
    if profile is None:
        raise NotFound("ESimProfile", sid)
    return profile


async def list_profiles(
    session: AsyncSession,
    caller: Caller,
    spec: PageSpec,
    *,
    eid: str | None = None,
    sim_sid: str | None = None,
    status: str | None = None,
) -> Page[EsimProfile]:
    stmt = repo.list_query(caller.account_sid)
    if eid is not None:
        stmt = stmt.where(EsimProfile.eid == eid)
    if sim_sid is not None:
        stmt = stmt.where(EsimProfile.sim_sid == sim_sid)
    if status is not None:
        stmt = stmt.where(EsimProfile.status == status)
    return await repo.page(session, stmt, spec)


async def advance(session: AsyncSession, ctx: PlatformContext, step: dict[str, object]) -> EsimProfile | None:
    """One step of the reservation job, if the profile is still where the step expects it (re-runs are no-ops)."""
    sid = str(step["profile_sid"])
    profile = await repo.get_for_update(session, sid)
    if profile is None or profile.status != step["from"]:
        return None
    now = ctx.clock()
    if profile.status == "new":
        profile.status = "reserving"
        # The SM-DP+ takes a moment to prepare a profile; paced like SIM updates (instant in tests).
        enqueue(session, ESIM_PROFILE_JOB, {**step, "from": "reserving"}, delay=ctx.sim_update_delay)
    elif profile.status == "reserving":
        await _reserve(session, profile, now, matching_id=bool(step.get("matching_id")))
    else:
        return None
    profile.date_updated = now
    _callback(session, profile)
    await session.flush()
    return profile


async def _reserve(session: AsyncSession, profile: EsimProfile, now: datetime, *, matching_id: bool) -> None:
    sim = await repo.take_free_sim(session, profile.account_sid, now, profile.eid)
    if sim is None:
        profile.status = "failed"
        profile.error_code = NO_INVENTORY_CODE
        profile.error_message = NO_INVENTORY_MESSAGE
        return
    profile.status = "available"
    profile.sim_sid = sim.sid
    profile.iccid = sim.iccid
    profile.smdp_plus_address = SMDP_PLUS_ADDRESS
    if matching_id:
        profile.matching_id = make_matching_id()
        profile.activation_code = activation_code(SMDP_PLUS_ADDRESS, profile.matching_id)


async def download(
    session: AsyncSession, caller: Caller, eid: str, matching_id: str | None, now: datetime
) -> EsimProfile:
    """An eUICC (`eid`) downloads a profile from our SM-DP+: the one of that Matching ID, else the oldest
    `available` profile ordered for this EID. It moves to `downloaded` and is bound to the EID (SGP.22: a profile
    claimed by Matching ID belongs to the first eUICC that downloads it). Only the caller's own profiles and its
    subaccounts' are offered: another account's profile is as unknown as none."""
    if not is_valid_eid(eid):
        raise InvalidParameter("Eid", "Eid must be a 32-digit EID with valid check digits (GSMA SGP.29)")
    stmt = repo.visible_query(caller.visible)
    if matching_id is not None:
        stmt = stmt.where(EsimProfile.matching_id == matching_id)
    else:
        stmt = stmt.where(EsimProfile.eid == eid, EsimProfile.status == "available")
    found = await repo.first(session, stmt)
    if found is None:
        raise NotFound("ESimProfile", matching_id or eid)
    profile = await repo.get_for_update(session, found.sid)
    assert profile is not None
    if profile.eid is not None and profile.eid != eid:
        raise NotFound("ESimProfile", matching_id or eid)  # bound to another eUICC: not offered to this one
    if profile.status != "available":
        raise Conflict(f"ESimProfile {profile.sid} is {profile.status}, not available for download")
    profile.status = "downloaded"
    profile.eid = eid
    profile.date_updated = now
    sim = await session.get(Sim, profile.sim_sid) if profile.sim_sid else None
    if sim is not None and sim.eid is None:
        sim.eid = eid
    _callback(session, profile)
    await session.flush()
    return profile


async def install(session: AsyncSession, profile_sid: str, now: datetime) -> EsimProfile:
    """The eUICC reports the downloaded profile installed (SGP.22's installation result notification)."""
    profile = await repo.get_for_update(session, profile_sid)
    if profile is None:
        raise NotFound("ESimProfile", profile_sid)
    if profile.status != "downloaded":
        raise Conflict(f"ESimProfile {profile.sid} is {profile.status}, not downloaded")
    profile.status = "installed"
    profile.date_updated = now
    _callback(session, profile)
    await session.flush()
    return profile


def _callback(session: AsyncSession, profile: EsimProfile) -> None:
    if not profile.callback_url:
        return
    enqueue_webhook(
        session,
        account_sid=profile.account_sid,
        event="esim_profile.updated",
        url=profile.callback_url,
        method=profile.callback_method,
        params={
            "AccountSid": profile.account_sid,
            "EsimProfileSid": profile.sid,
            "Status": profile.status,
            "Eid": profile.eid,
            "SimSid": profile.sim_sid,
            "Iccid": profile.iccid,
            "SmdpPlusAddress": profile.smdp_plus_address,
            "MatchingId": profile.matching_id,
            "ActivationCode": profile.activation_code,
            "ErrorCode": profile.error_code,
            "ErrorMessage": profile.error_message,
        },
        resource_sid=profile.sid,
    )
