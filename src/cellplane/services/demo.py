"""A ready-to-try demo account: SIMs claimed, a network access profile, a fleet, SIMs active.

`cellplane up --demo` (what `make up` runs) seeds it once and prints its credentials, so a newcomer can
point the twilio SDK at the platform straight away.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.caller import Caller
from cellplane.domain.networks import catalogue
from cellplane.services import accounts, billing, fleets, inventory, network_access_profiles
from cellplane.store.models import Account, Fleet, NetworkAccessProfileNetwork, Sim
from cellplane.store.models.base import utcnow

DEMO_NAME = "cellplane demo"
# Visited networks the demo profile allows: the US, the UK, Germany, France.
DEMO_NETWORKS = ["310-260", "310-410", "234-15", "262-01", "208-01"]
# Where `cellplane up --demo` attaches the demo's emulated devices (one per SIM) once the platform runs.
DEMO_DEVICE_NETWORK = "310-260"


# A SIM in these states, in a fleet whose profile allows DEMO_DEVICE_NETWORK, can attach (domain/policy.py).
ATTACHING_STATUSES = ("active", "ready")


@dataclass
class Demo:
    account_sid: str
    auth_token: str
    fleet_sid: str
    # Each SIM as the database has it now: sid, iccid, imsi, unique_name, status, fleet (its unique name or sid,
    # "" for none) and attachable ("yes" when its device can attach to DEMO_DEVICE_NETWORK, else why not).
    sims: list[dict[str, str]] = field(default_factory=list)
    created: bool = False

    def attachable_iccids(self) -> list[str]:
        """The SIMs whose devices `cellplane up --demo` powers on: only those the network would accept."""
        return [sim["iccid"] for sim in self.sims if sim["attachable"] == "yes"]


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
    """The demo account as it is now: the user may have renamed, moved or deactivated its SIMs since the seed."""
    rows = list((await session.execute(select(Sim).where(Sim.account_sid == account.sid).order_by(Sim.sid))).scalars())
    fleet_sids = {s.fleet_sid for s in rows if s.fleet_sid}
    fleets_by_sid = {
        f.sid: f for f in (await session.execute(select(Fleet).where(Fleet.sid.in_(fleet_sids)))).scalars()
    }
    home = catalogue().lookup(DEMO_DEVICE_NETWORK)
    profiles = {f.network_access_profile_sid for f in fleets_by_sid.values()}
    allowing = set(
        (
            await session.execute(
                select(NetworkAccessProfileNetwork.network_access_profile_sid).where(
                    NetworkAccessProfileNetwork.network_access_profile_sid.in_(profiles),
                    NetworkAccessProfileNetwork.network_sid == (home.sid if home else ""),
                )
            )
        ).scalars()
    )
    sims = []
    for sim in rows:
        fleet = fleets_by_sid.get(sim.fleet_sid or "")
        if sim.status not in ATTACHING_STATUSES:
            attachable = f"{sim.status}"
        elif fleet is None:
            attachable = "in no fleet"
        elif not fleet.data_enabled:
            attachable = "fleet has data disabled"
        elif fleet.network_access_profile_sid not in allowing:
            attachable = f"fleet's profile does not allow {DEMO_DEVICE_NETWORK}"
        else:
            attachable = "yes"
        sims.append(
            {
                "sid": sim.sid,
                "iccid": sim.iccid,
                "imsi": sim.imsi,
                "unique_name": sim.unique_name or "",
                "status": sim.status,
                "fleet": (fleet.unique_name or fleet.sid) if fleet is not None else "",
                "attachable": attachable,
            }
        )
    first_fleet = next((s.fleet_sid for s in rows if s.fleet_sid), "")
    return Demo(account_sid=account.sid, auth_token=account.auth_token, fleet_sid=first_fleet or "", sims=sims)
