"""Admin: provision SIMs into the inventory and look them up (ICCID, IMSI, registration code)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.responses import Response

from cellplane.api.admin_v1.operator import require_operator
from cellplane.api.wire.db import reading, transaction
from cellplane.api.wire.forms import form_params, query_params
from cellplane.api.wire.render import json_response
from cellplane.domain.errors import InvalidParameter, NotFound
from cellplane.domain.networks import catalogue
from cellplane.services import inventory
from cellplane.store.models import Fleet, Sim
from cellplane.store.repositories import accounts as account_repo
from cellplane.store.repositories import fleets as fleet_repo

router = APIRouter()
MAX_PROVISION = 100_000


@router.post("/Sims")
async def provision(request: Request) -> Response:
    """Generate `Count` SIMs of `Product`; with `AccountSid` they go straight to that account."""
    require_operator(request)
    params = await form_params(request)
    count = params.integer("Count", minimum=1, maximum=MAX_PROVISION)
    if count is None:
        raise InvalidParameter("Count", "Count is required (1 to 100000)")
    product = params.choice("Product", tuple(inventory.PRODUCTS)) or "supersim"
    account_sid = params.string("AccountSid", max_length=34) or None
    seed = params.integer("Seed")
    async with transaction(request) as session:
        if account_sid and await account_repo.get_account(session, account_sid) is None:
            raise InvalidParameter("AccountSid", f"Account {account_sid} does not exist")
        loaded = await inventory.load(
            session, inventory.generate(count, product, seed), seed=seed, account_sid=account_sid
        )
    sims = [
        {"sid": sid, "iccid": s.iccid, "imsi": s.imsi, "registration_code": s.registration_code, "product": s.product}
        for sid, s in loaded
    ]
    return json_response({"sims": sims}, status=201)


@router.get("/Sims/{iccid}")
async def lookup(request: Request, iccid: str) -> Response:
    """One inventory SIM by ICCID: what a modem's SIM card would tell it (used by a standalone emulator)."""
    require_operator(request)
    query_params(request)
    async with reading(request) as session:
        sim = (await session.execute(select(Sim).where(Sim.iccid == iccid))).scalar_one_or_none()
    if sim is None:
        raise NotFound("Sim", iccid)
    return json_response(
        {"sid": sim.sid, "iccid": sim.iccid, "imsi": sim.imsi, "product": sim.product, "account_sid": sim.account_sid}
    )


@router.get("/Sims/{iccid}/Networks")
async def allowed_networks(request: Request, iccid: str) -> Response:
    """The visited networks a SIM may use (its fleet's network access profile), in the profile's list order:
    where `cellplane device bridge` attaches a device by default."""
    require_operator(request)
    query_params(request)
    async with reading(request) as session:
        sim = (await session.execute(select(Sim).where(Sim.iccid == iccid))).scalar_one_or_none()
        if sim is None:
            raise NotFound("Sim", iccid)
        fleet = await session.get(Fleet, sim.fleet_sid) if sim.fleet_sid else None
        profile = fleet.network_access_profile_sid if fleet is not None else None
        sids = sorted(await fleet_repo.profile_network_sids(session, profile)) if profile else []
    known = [network for network in (catalogue().get(sid) for sid in sids) if network is not None]
    networks = [{"sid": n.sid, "mcc": n.mcc, "mnc": n.mnc, "friendly_name": n.friendly_name} for n in known]
    return json_response(
        {
            "iccid": sim.iccid,
            "sim_sid": sim.sid,
            "fleet_sid": sim.fleet_sid,
            "network_access_profile_sid": profile,
            "networks": networks,
        }
    )
