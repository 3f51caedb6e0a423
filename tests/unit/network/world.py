"""Rows the AAA reads, written straight to a real database: accounts, profiles, fleets, SIMs and their periods.

The in-process AAA tests build their world with these (the e2e tests go through the API instead).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cellplane.domain.iccid import make_iccid
from cellplane.domain.ids import Prefix, new_sid
from cellplane.services import billing
from cellplane.store.models import (
    Account,
    BillingPeriod,
    ConnectionEvent,
    DataSession,
    Fleet,
    NetworkAccessProfile,
    NetworkAccessProfileNetwork,
    Sim,
    UsageBucket,
)
from cellplane.store.models.base import utcnow

_serials = itertools.count(random.randrange(10**8, 9 * 10**8))


@dataclass(frozen=True)
class WorldSim:
    sid: str
    imsi: str
    iccid: str
    account_sid: str
    fleet_sid: str | None


class World:
    """One account with a profile and a fleet, and helpers to add SIMs and read back what the AAA wrote."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.account_sid = ""
        self.profile_sid = ""
        self.fleet_sid = ""

    async def setup(self, networks: Iterable[str], *, data_enabled: bool = True, data_limit_mb: int = 1000) -> World:
        async with self.sessions() as session, session.begin():
            self.account_sid = new_sid(Prefix.ACCOUNT)
            session.add(Account(sid=self.account_sid, friendly_name="aaa test", auth_token="t" * 32))
            await session.flush()
            self.profile_sid = await self._profile(session, networks)
            self.fleet_sid = await self._fleet(session, self.profile_sid, data_enabled, data_limit_mb)
        return self

    async def add_fleet(self, networks: Iterable[str], *, data_enabled: bool = True, data_limit_mb: int = 1000) -> str:
        async with self.sessions() as session, session.begin():
            profile = await self._profile(session, networks)
            return await self._fleet(session, profile, data_enabled, data_limit_mb)

    async def _profile(self, session: AsyncSession, networks: Iterable[str]) -> str:
        sid = new_sid(Prefix.NETWORK_ACCESS_PROFILE)
        session.add(NetworkAccessProfile(sid=sid, account_sid=self.account_sid))
        await session.flush()
        session.add_all(NetworkAccessProfileNetwork(network_access_profile_sid=sid, network_sid=n) for n in networks)
        await session.flush()
        return sid

    async def _fleet(self, session: AsyncSession, profile: str, data_enabled: bool, data_limit_mb: int) -> str:
        sid = new_sid(Prefix.FLEET)
        session.add(
            Fleet(
                sid=sid,
                account_sid=self.account_sid,
                network_access_profile_sid=profile,
                data_enabled=data_enabled,
                data_limit=data_limit_mb,
            )
        )
        await session.flush()
        return sid

    async def sim(self, status: str = "active", *, fleet: str | bool | None = True, claimed: bool = True) -> WorldSim:
        """A SIM with the status given (its billing period opened as the platform would), in the world's fleet
        (`fleet=False`: none, or a fleet sid)."""
        serial = next(_serials)
        fleet_sid = self.fleet_sid if fleet is True else (fleet or None)
        now = utcnow()
        sim = Sim(
            sid=new_sid(Prefix.SUPER_SIM),
            iccid=make_iccid("88307", serial % 10**12, length=20),
            imsi=f"90153{serial:010d}",
            registration_code="CODE",
            status=status,
            account_sid=self.account_sid if claimed else None,
            fleet_sid=fleet_sid if claimed else None,
            claimed_at=now if claimed else None,
            date_activated=now if status in ("ready", "active") else None,
        )
        async with self.sessions() as session, session.begin():
            session.add(sim)
            await session.flush()
            if claimed and status in ("ready", "active"):
                await billing.on_status_change(session, sim, now)
        return WorldSim(sim.sid, sim.imsi, sim.iccid, self.account_sid, fleet_sid)

    async def get(self, model: type, **where: object) -> list:  # type: ignore[type-arg]
        async with self.sessions() as session:
            stmt = select(model).filter_by(**where)
            return list((await session.execute(stmt)).scalars())

    async def sessions_of(self, sim: WorldSim) -> list[DataSession]:
        return await self.get(DataSession, sim_sid=sim.sid)

    async def buckets_of(self, sim: WorldSim) -> list[UsageBucket]:
        return await self.get(UsageBucket, sim_sid=sim.sid)

    async def events_of(self, sim: WorldSim) -> list[ConnectionEvent]:
        events = await self.get(ConnectionEvent, sim_sid=sim.sid)
        return sorted(events, key=lambda e: e.sid)

    async def periods_of(self, sim: WorldSim) -> list[BillingPeriod]:
        return sorted(await self.get(BillingPeriod, sim_sid=sim.sid), key=lambda p: p.start_time)

    async def row(self, sim: WorldSim) -> Sim:
        [found] = await self.get(Sim, sid=sim.sid)
        return found
