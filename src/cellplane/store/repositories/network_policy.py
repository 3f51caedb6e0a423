"""Queries behind the AAA's policy cache: SIMs with their fleet, profile networks, current periods, what changed.

Not scoped by account on purpose: the network side serves every account's SIMs, found by IMSI. Plain Core
SELECTs of the needed columns (no ORM entities), built once: the cache loads every claimed SIM at start and
re-reads changed rows every second.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.store.models import (
    BillingPeriod,
    Fleet,
    IpPool,
    NetworkAccessProfile,
    NetworkAccessProfileNetwork,
    RatePlan,
    Sim,
    ThingsGroup,
    UsageBucket,
)

# The rows' date_updated come along: the poller must know which versions of them it has already seen.
_SIMS = (
    select(
        Sim.sid,
        Sim.imsi,
        Sim.iccid,
        Sim.account_sid,
        Sim.product,
        Sim.status,
        Sim.pending_status,
        Sim.fleet_sid,
        Fleet.data_enabled,
        Fleet.data_limit,
        Fleet.network_access_profile_sid,
        # A Wireless SIM's rate plan (columns None for Super SIMs), in the same query: no second round trip.
        Sim.rate_plan_sid,
        RatePlan.data_enabled.label("plan_data_enabled"),
        RatePlan.data_limit.label("plan_data_limit"),
        RatePlan.data_limit_strategy,
        RatePlan.national_roaming_enabled,
        RatePlan.international_roaming,
        RatePlan.national_roaming_data_limit,
        RatePlan.international_roaming_data_limit,
        # A Thing's group's Network and its own settings (None / defaults for the other products).
        ThingsGroup.network_sid.label("things_network_sid"),
        Sim.locked_ip,
        Sim.last_imei,
        Sim.imei_lock,
        Sim.services_data,
        Sim.services_sms,
        Sim.date_updated.label("sim_updated"),
        Fleet.date_updated.label("fleet_updated"),
        NetworkAccessProfile.date_updated.label("profile_updated"),
        RatePlan.date_updated.label("plan_updated"),
    )
    .outerjoin(Fleet, Fleet.sid == Sim.fleet_sid)
    .outerjoin(NetworkAccessProfile, NetworkAccessProfile.sid == Fleet.network_access_profile_sid)
    .outerjoin(RatePlan, RatePlan.sid == Sim.rate_plan_sid)
    .outerjoin(ThingsGroup, ThingsGroup.sid == Sim.things_group_sid)
)
_CLAIMED = _SIMS.where(Sim.account_sid.is_not(None))
_CLAIMED_THINGS = _CLAIMED.where(Sim.product == "things")
_BY_IMSI = _SIMS.where(Sim.imsi.in_(bindparam("keys", expanding=True)))
_BY_SID = _SIMS.where(Sim.sid.in_(bindparam("keys", expanding=True)))
_BY_FLEET = _SIMS.where(Sim.fleet_sid.in_(bindparam("keys", expanding=True)))
_BY_RATE_PLAN = _SIMS.where(Sim.rate_plan_sid.in_(bindparam("keys", expanding=True)))
_BY_GROUP = _SIMS.where(Sim.things_group_sid.in_(bindparam("keys", expanding=True)))

_PROFILE_NETWORKS = select(
    NetworkAccessProfileNetwork.network_access_profile_sid, NetworkAccessProfileNetwork.network_sid
)
_PERIOD_COLUMNS = (
    BillingPeriod.sim_sid,
    BillingPeriod.sid,
    BillingPeriod.start_time,
    BillingPeriod.end_time,
    BillingPeriod.data_used,
    BillingPeriod.date_updated,
)
# Oldest start first, so that where two periods touch the later one wins when rows are folded into a dict.
_PERIODS = (
    select(*_PERIOD_COLUMNS)
    .where(BillingPeriod.start_time <= bindparam("now"), BillingPeriod.end_time > bindparam("now"))
    .order_by(BillingPeriod.start_time, BillingPeriod.sid)
)

# Chunks for IN lists: well under SQLite's 32,766 host parameters and PostgreSQL's 65,535.
_CHUNK = 5000


def _chunks(keys: Collection[str]) -> list[list[str]]:
    ordered = sorted(set(keys))
    return [ordered[i : i + _CHUNK] for i in range(0, len(ordered), _CHUNK)]


async def claimed_sims(session: AsyncSession) -> Sequence[Any]:
    """Every claimed SIM with its fleet's data settings (fleet columns None without a fleet)."""
    return (await session.execute(_CLAIMED)).all()


async def claimed_things(session: AsyncSession) -> Sequence[Any]:
    """Every claimed Thing (SIMs of product `things`) with the same columns."""
    return (await session.execute(_CLAIMED_THINGS)).all()


async def sims_by(
    session: AsyncSession,
    *,
    imsis: Collection[str] = (),
    sids: Collection[str] = (),
    fleet_sids: Collection[str] = (),
    rate_plan_sids: Collection[str] = (),
    group_sids: Collection[str] = (),
) -> list[Any]:
    """SIMs (claimed or not: an unclaimed one must leave the cache) by IMSI, sid, fleet, rate plan or Things group."""
    rows: list[Any] = []
    batches = (
        (_BY_IMSI, imsis),
        (_BY_SID, sids),
        (_BY_FLEET, fleet_sids),
        (_BY_RATE_PLAN, rate_plan_sids),
        (_BY_GROUP, group_sids),
    )
    for stmt, keys in batches:
        for chunk in _chunks(keys):
            rows.extend((await session.execute(stmt, {"keys": chunk})).all())
    return rows


async def network_pools(session: AsyncSession, network_sids: Collection[str]) -> dict[str, tuple[str, ...]]:
    """The pools (CIDRs, oldest first) of each private network named; one with none maps to ()."""
    pools: dict[str, list[str]] = {sid: [] for sid in network_sids}
    for chunk in _chunks(network_sids):
        stmt = select(IpPool.network_sid, IpPool.cidr).where(IpPool.network_sid.in_(chunk)).order_by(IpPool.sid)
        for network_sid, cidr in (await session.execute(stmt)).all():
            pools.setdefault(network_sid, []).append(cidr)
    return {sid: tuple(cidrs) for sid, cidrs in pools.items()}


async def profile_networks(session: AsyncSession, profile_sids: Collection[str] | None = None) -> dict[str, set[str]]:
    """Network sids allowed per profile: every profile, or those named (a named profile with none maps to {})."""
    allowed: dict[str, set[str]] = {sid: set() for sid in profile_sids or ()}
    batches: list[tuple[Any, dict[str, Any]]]
    if profile_sids is None:
        batches = [(_PROFILE_NETWORKS, {})]
    else:
        column = NetworkAccessProfileNetwork.network_access_profile_sid
        stmt = _PROFILE_NETWORKS.where(column.in_(bindparam("keys", expanding=True)))
        batches = [(stmt, {"keys": chunk}) for chunk in _chunks(profile_sids)]
    for stmt, params in batches:
        for profile_sid, network_sid in (await session.execute(stmt, params)).all():
            allowed.setdefault(profile_sid, set()).add(network_sid)
    return allowed


async def current_periods(
    session: AsyncSession, now: datetime, sim_sids: Collection[str] | None = None
) -> dict[str, Any]:
    """The billing period in force at `now` per SIM: (sim_sid, sid, start_time, end_time, data_used, date_updated)."""
    found: dict[str, Any] = {}
    batches: list[tuple[Any, dict[str, Any]]]
    if sim_sids is None:
        batches = [(_PERIODS, {"now": now})]
    else:
        stmt = _PERIODS.where(BillingPeriod.sim_sid.in_(bindparam("keys", expanding=True)))
        batches = [(stmt, {"now": now, "keys": chunk}) for chunk in _chunks(sim_sids)]
    for stmt, params in batches:
        for row in (await session.execute(stmt, params)).all():
            found[row.sim_sid] = row
    return found


@dataclass
class Changes:
    """Rows touched after a moment, each with its date_updated: SIMs, fleets, profiles, and billing periods
    (by their SIM, the latest change of any of its periods); and the newest change time seen."""

    sims: dict[str, datetime] = field(default_factory=dict)
    fleets: dict[str, datetime] = field(default_factory=dict)
    profiles: dict[str, datetime] = field(default_factory=dict)
    period_sims: dict[str, datetime] = field(default_factory=dict)
    rate_plans: dict[str, datetime] = field(default_factory=dict)
    newest: datetime | None = None

    def note(self, moment: datetime | None) -> None:
        if moment is not None and (self.newest is None or moment > self.newest):
            self.newest = moment


_CHANGED_SIMS = select(Sim.sid, Sim.date_updated).where(Sim.date_updated > bindparam("since"))
_CHANGED_FLEETS = select(Fleet.sid, Fleet.date_updated).where(Fleet.date_updated > bindparam("since"))
_CHANGED_PROFILES = select(NetworkAccessProfile.sid, NetworkAccessProfile.date_updated).where(
    NetworkAccessProfile.date_updated > bindparam("since")
)
_CHANGED_PERIODS = select(BillingPeriod.sim_sid, BillingPeriod.date_updated).where(
    BillingPeriod.date_updated > bindparam("since"),
    BillingPeriod.date_updated.not_in(bindparam("skip", expanding=True)),
)
_CHANGED_PLANS = select(RatePlan.sid, RatePlan.date_updated).where(RatePlan.date_updated > bindparam("since"))
_FLEETS_OF_PROFILES = select(Fleet.sid).where(Fleet.network_access_profile_sid.in_(bindparam("keys", expanding=True)))


async def changed_since(session: AsyncSession, since: datetime, skip_periods: Collection[datetime] = ()) -> Changes:
    """SIMs, fleets, profiles (adding or removing a network touches the profile) and billing periods
    updated after `since` (periods stamped with one of `skip_periods` left out); a changed period is reported
    by its SIM."""
    changes = Changes()
    params: dict[str, Any] = {"since": since}
    period_params: dict[str, Any] = {"since": since, "skip": sorted(skip_periods)}
    for stmt, values, into in (
        (_CHANGED_SIMS, params, changes.sims),
        (_CHANGED_FLEETS, params, changes.fleets),
        (_CHANGED_PROFILES, params, changes.profiles),
        (_CHANGED_PERIODS, period_params, changes.period_sims),
        (_CHANGED_PLANS, params, changes.rate_plans),
    ):
        for key, moment in (await session.execute(stmt, values)).all():
            into[key] = max(moment, into.get(key, moment))
            changes.note(moment)
    return changes


async def fleets_using(session: AsyncSession, profile_sids: Collection[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(profile_sids):
        found.update((await session.execute(_FLEETS_OF_PROFILES, {"keys": chunk})).scalars())
    return found


# Usage of Wireless SIMs in their billing period, per visited network: every hour bucket that starts inside the period
# (the period's first, partial hour is read apart, see zone_usage_rows).
_OCTETS = func.sum(UsageBucket.bytes_up + UsageBucket.bytes_down)
_PERIOD_USAGE = (
    select(UsageBucket.sim_sid, UsageBucket.network_sid, UsageBucket.iso_country, _OCTETS)
    .join(BillingPeriod, BillingPeriod.sim_sid == UsageBucket.sim_sid)
    .where(
        BillingPeriod.sid.in_(bindparam("keys", expanding=True)),
        UsageBucket.hour >= BillingPeriod.start_time,
        UsageBucket.hour < BillingPeriod.end_time,
    )
    .group_by(UsageBucket.sim_sid, UsageBucket.network_sid, UsageBucket.iso_country)
)
_BUCKET_COLUMNS = (UsageBucket.sim_sid, UsageBucket.network_sid, UsageBucket.iso_country, _OCTETS)
_BOUNDARY_CHUNK = 500


async def zone_usage_rows(
    session: AsyncSession, period_sids: Collection[str], boundaries: Collection[tuple[str, datetime]]
) -> tuple[list[Any], list[Any]]:
    """(sim_sid, network_sid, iso_country, octets) of the given billing periods' whole hours, and of the hour buckets
    named by (sim_sid, hour): the hour a period began in, which may hold usage from before it (read apart, so that
    the caller can take from it only what the period's own total leaves)."""
    inside: list[Any] = []
    for chunk in _chunks(period_sids):
        inside.extend((await session.execute(_PERIOD_USAGE, {"keys": chunk})).all())
    edges: list[Any] = []
    pairs = sorted(set(boundaries))
    for i in range(0, len(pairs), _BOUNDARY_CHUNK):
        chunk = pairs[i : i + _BOUNDARY_CHUNK]
        stmt = (
            select(*_BUCKET_COLUMNS)
            .where(tuple_(UsageBucket.sim_sid, UsageBucket.hour).in_(chunk))
            .group_by(UsageBucket.sim_sid, UsageBucket.network_sid, UsageBucket.iso_country)
        )
        edges.extend((await session.execute(stmt)).all())
    return inside, edges
