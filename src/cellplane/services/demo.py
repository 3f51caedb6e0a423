"""A ready-to-try demo account: SIMs claimed, a network access profile, a fleet, SIMs active.

`cellplane up --demo` (what `make up` runs) seeds it once and prints its credentials, so a newcomer can
point the twilio SDK at the platform straight away.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.caller import Caller
from cellplane.services import accounts, billing, fleets, inventory, network_access_profiles
from cellplane.store.models import Account, Sim
from cellplane.store.models.base import utcnow

DEMO_NAME = "cellplane demo"
# Visited networks the demo profile allows: the US, the UK, Germany, France.
DEMO_NETWORKS = ["310-260", "310-410", "234-15", "262-01", "208-01"]
# Where `cellplane up --demo` attaches the demo's emulated devices (one per SIM) once the platform runs.
DEMO_DEVICE_NETWORK = "310-260"


@dataclass
class Demo:
    account_sid: str
    auth_token: str
    fleet_sid: str
    sims: list[dict[str, str]] = field(default_factory=list)
    created: bool = False


async def ensure_demo(session: AsyncSession, sim_count: int = 5) -> Demo:
    """Seed the demo account the first time; afterwards just describe it."""
    existing = (
        await session.execute(select(Account).where(Account.friendly_name == DEMO_NAME).limit(1))
    ).scalar_one_or_none()
    if existing is not None:
        return await _describe(session, existing)
    account = await accounts.create_account(session, DEMO_NAME)
    caller = Caller(account_sid=account.sid, credential_sid=account.sid, visible=frozenset([account.sid]))
    profile = await network_access_profiles.create(session, caller, "demo-networks", DEMO_NETWORKS)
    fleet = await fleets.create(
        session, caller, fleets.FleetChange(unique_name="demo-fleet", network_access_profile=profile.sid)
    )
    loaded = await inventory.load(session, inventory.generate(sim_count, "supersim"), account_sid=account.sid)
    now = utcnow()
    for index, (sid, _sim) in enumerate(loaded, start=1):
        sim = await session.get(Sim, sid)
        assert sim is not None
        sim.unique_name = f"demo-sim-{index}"
        sim.fleet_sid = fleet.sid
        sim.status = "active"
        sim.date_activated = now
        await billing.on_status_change(session, sim, now)
    await session.flush()
    demo = await _describe(session, account)
    demo.created = True
    return demo


async def _describe(session: AsyncSession, account: Account) -> Demo:
    rows = (await session.execute(select(Sim).where(Sim.account_sid == account.sid).order_by(Sim.sid))).scalars()
    sims = [{"sid": s.sid, "iccid": s.iccid, "imsi": s.imsi, "unique_name": s.unique_name or ""} for s in rows]
    fleet_sid = next(
        (
            s.fleet_sid
            for s in (await session.execute(select(Sim).where(Sim.account_sid == account.sid).limit(1))).scalars()
            if s.fleet_sid
        ),
        "",
    )
    return Demo(account_sid=account.sid, auth_token=account.auth_token, fleet_sid=fleet_sid or "", sims=sims)
