"""Policy snapshots for the network side: every claimed SIM as a `SimPolicy`, one SIM by IMSI, and what changed.

The AAA keeps them in a bounded cache (network/aaa/state.py), loading a SIM by IMSI when it is first used (or every
SIM at start when the cache is not bounded) and deciding Access-Requests from memory; `load_changes` is what its
poller reads every second so that changes made through the API, by a job, or by another node reach the cache
(`wanted` leaves out the SIMs the cache does not hold: only theirs are built). One query set each (SIMs with their
fleet, the profiles' networks, the periods in force), the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.policy import WIRELESS, SimPolicy, ZoneUsage, data_limit_bytes
from cellplane.domain.things import PRODUCT as THINGS
from cellplane.domain.wireless import ZONES, zone
from cellplane.store.repositories import network_policy as repo

# Which IMSIs a caller wants snapshots of (a bounded cache: those it holds); the rest are not built.
Wanted = Callable[[str], bool]
# The IMSIs a caller holds in these fleets and rate plans: a change to a fleet, profile or plan then reads those
# SIMs by IMSI instead of every SIM of the fleet (a million rows for a large fleet, a few cached).
Members = Callable[[Collection[str], Collection[str]], Collection[str]]
# ("sim" | "fleet" | "profile" | "period", sid) -> the date_updated of that row the caller has already acted on.
Versions = MutableMapping[tuple[str, str], datetime]


@dataclass
class PolicyChanges:
    """Fresh snapshots of the SIMs that changed, by IMSI (None: the SIM is no longer claimed), and the newest
    `date_updated` seen (None when nothing changed), for the caller's next `since`."""

    policies: dict[str, SimPolicy | None] = field(default_factory=dict)
    newest: datetime | None = None


async def load_all(
    session: AsyncSession, now: datetime, versions: Versions | None = None, recent: datetime | None = None
) -> dict[str, SimPolicy]:
    """Every claimed SIM's snapshot, by IMSI.

    With `versions`, the rows updated at or after `recent` are noted in it: the poller then knows it has them
    and does not load them again when its first polls look back over that time.
    """
    rows = await repo.claimed_sims(session)
    networks = await repo.profile_networks(session)
    periods = await repo.current_periods(session, now)
    if versions is not None and recent is not None:
        for row in rows:
            for kind, key, moment in (
                ("sim", row.sid, row.sim_updated),
                ("fleet", row.fleet_sid, row.fleet_updated),
                ("profile", row.network_access_profile_sid, row.profile_updated),
                ("plan", row.rate_plan_sid, row.plan_updated),
            ):
                if key is not None and moment is not None and moment >= recent:
                    versions[(kind, key)] = moment
        for sim_sid, period in periods.items():
            if period.date_updated >= recent:
                versions[("period", sim_sid)] = period.date_updated
    pools = await _pools(session, rows)
    built = _build(rows, networks, periods, await _zone_usage(session, rows, periods), pools)
    return {imsi: policy for imsi, policy in built.items() if policy is not None}


async def load_things(session: AsyncSession, now: datetime) -> dict[str, SimPolicy]:
    """Every claimed Thing's snapshot, by IMSI: the AAA keeps them all (their networks' locked addresses)."""
    built = await _load(session, now, await repo.claimed_things(session))
    return {imsi: policy for imsi, policy in built.items() if policy is not None}


async def load_imsis(session: AsyncSession, imsis: Collection[str], now: datetime) -> dict[str, SimPolicy | None]:
    """Snapshots of the given IMSIs; an IMSI with no claimed SIM maps to None."""
    found = await _load(session, now, await repo.sims_by(session, imsis=imsis))
    return {imsi: found.get(imsi) for imsi in imsis}


async def load_sims(session: AsyncSession, sim_sids: Collection[str], now: datetime) -> dict[str, SimPolicy | None]:
    """Snapshots of the given SIMs by IMSI (None for one that is not claimed)."""
    return await _load(session, now, await repo.sims_by(session, sids=sim_sids))


async def load_named(
    session: AsyncSession,
    now: datetime,
    keys: Collection[tuple[str, str]],
    wanted: Wanted | None = None,
    members: Members | None = None,
) -> dict[str, SimPolicy | None]:
    """Snapshots of the SIMs a change notification names (store/notify.py): ("sim", sid), ("fleet", sid),
    ("profile", sid: its fleets' SIMs), ("rate_plan", sid), ("group", sid)."""
    named: dict[str, set[str]] = {}
    for kind, key in keys:
        named.setdefault(kind, set()).add(key)
    fleets = named.get("fleet", set())
    if named.get("profile"):
        fleets = fleets | await repo.fleets_using(session, named["profile"])
    rows = await _sims_in(
        session, named.get("sim", ()), fleets, named.get("rate_plan", ()), named.get("group", ()), members
    )
    return await _load(session, now, rows, wanted)


async def _sims_in(
    session: AsyncSession,
    sim_sids: Collection[str],
    fleet_sids: Collection[str],
    plan_sids: Collection[str],
    group_sids: Collection[str],
    members: Members | None,
) -> list[Row[Any]]:
    """The rows of these SIMs and of the SIMs in these fleets, rate plans and Things groups (with `members`, only
    the ones the caller holds of the fleets and plans)."""
    if members is not None and (fleet_sids or plan_sids):
        held = members(fleet_sids, plan_sids)
        return await repo.sims_by(session, sids=sim_sids, imsis=held, group_sids=group_sids)
    return await repo.sims_by(
        session, sids=sim_sids, fleet_sids=fleet_sids, rate_plan_sids=plan_sids, group_sids=group_sids
    )


async def load_changes(
    session: AsyncSession,
    since: datetime,
    now: datetime,
    versions: Versions,
    own_period_stamps: Collection[datetime] = (),
    wanted: Wanted | None = None,
    members: Members | None = None,
) -> PolicyChanges:
    """SIMs whose row, fleet, fleet's profile, rate plan or billing period changed after `since`, reloaded.

    A row whose date_updated is already in `versions` is not loaded again (the caller looks back over an
    overlap, so it sees most changes more than once); `versions` is updated with what is loaded now.
    `own_period_stamps` are the date_updated values the caller gave billing periods when it added usage to them
    (data_sessions.BatchEffects.period_stamp): those changes it made itself and knows already, and under
    accounting load they are nearly all of them, so the database leaves them out.
    """
    changes = await repo.changed_since(session, since, own_period_stamps)
    result = PolicyChanges(newest=changes.newest)
    sim_sids = _unseen(versions, "sim", changes.sims) | _unseen(versions, "period", changes.period_sims)
    fleet_sids = _unseen(versions, "fleet", changes.fleets)
    profile_sids = _unseen(versions, "profile", changes.profiles)
    if profile_sids:
        fleet_sids |= await repo.fleets_using(session, profile_sids)
    plan_sids = _unseen(versions, "plan", changes.rate_plans)
    if not sim_sids and not fleet_sids and not plan_sids:
        return result
    rows = await _sims_in(session, sim_sids, fleet_sids, plan_sids, (), members)
    result.policies = await _load(session, now, rows, wanted)
    return result


def _unseen(versions: Versions, kind: str, changed: dict[str, datetime]) -> set[str]:
    fresh = set()
    for key, moment in changed.items():
        if versions.get((kind, key)) != moment:
            versions[(kind, key)] = moment
            fresh.add(key)
    return fresh


# SIMs built between two yields of the event loop: a change to a fleet of 100,000 cached SIMs is seconds of Python,
# which must not hold the AAA's RADIUS answers that long (each step is this many rows: tens of milliseconds).
STEP = 2_000


async def _load(
    session: AsyncSession, now: datetime, rows: Sequence[Row[Any]], wanted: Wanted | None = None
) -> dict[str, SimPolicy | None]:
    # Things are always built: the AAA keeps every one (its network's pool must know each locked address).
    unique = [
        row
        for row in {row.sid: row for row in rows}.values()
        if wanted is None or row.product == THINGS or wanted(row.imsi)
    ]
    if len(unique) <= STEP:
        return await _load_step(session, now, unique)
    built: dict[str, SimPolicy | None] = {}
    for start in range(0, len(unique), STEP):
        built.update(await _load_step(session, now, unique[start : start + STEP]))
        await asyncio.sleep(0)  # let the loop answer what came in meanwhile
    return built


async def _load_step(session: AsyncSession, now: datetime, unique: Sequence[Row[Any]]) -> dict[str, SimPolicy | None]:
    claimed = [row.sid for row in unique if row.account_sid is not None]
    profiles = {row.network_access_profile_sid for row in unique if row.network_access_profile_sid}
    networks = await repo.profile_networks(session, profiles) if profiles else {}
    periods = await repo.current_periods(session, now, claimed) if claimed else {}
    return _build(unique, networks, periods, await _zone_usage(session, unique, periods), await _pools(session, unique))


async def _pools(session: AsyncSession, rows: Iterable[Row[Any]]) -> dict[str, tuple[str, ...]]:
    """The pools of the private networks the Things among `rows` are in (one query for all of them)."""
    wanted = {row.things_network_sid for row in rows if row.product == THINGS and row.things_network_sid}
    return await repo.network_pools(session, wanted) if wanted else {}


async def _zone_usage(session: AsyncSession, rows: Iterable[Row[Any]], periods: dict[str, Row[Any]]) -> dict[str, Any]:
    """Each Wireless SIM's usage per zone in its billing period in force, rebuilt from the hourly usage buckets.

    The buckets are by hour and a period starts at any moment (activation): the hour it began in may hold usage from
    before it. That bucket counts for what the period's own total (`data_used`, exact) leaves after the whole hours,
    shared among its zones in proportion.
    """
    wireless = {row.sid: periods[row.sid] for row in rows if row.product == WIRELESS and row.sid in periods}
    if not wireless:
        return {}
    boundaries: list[tuple[str, datetime]] = []
    for sim_sid, period in wireless.items():
        start = period.start_time
        first_hour = start.replace(minute=0, second=0, microsecond=0)
        if first_hour != start:
            boundaries.append((sim_sid, first_hour))
    inside, edges = await repo.zone_usage_rows(session, [p.sid for p in wireless.values()], boundaries)
    whole: dict[str, dict[str, int]] = {}
    for sim_sid, network, country, octets in inside:
        into = whole.setdefault(sim_sid, dict.fromkeys(ZONES, 0))
        into[zone(network or None, country)] += int(octets or 0)
    edge: dict[str, dict[str, int]] = {}
    for sim_sid, network, country, octets in edges:
        into = edge.setdefault(sim_sid, dict.fromkeys(ZONES, 0))
        into[zone(network or None, country)] += int(octets or 0)
    usage: dict[str, ZoneUsage] = {}
    for sim_sid, period in wireless.items():
        used = whole.get(sim_sid, dict.fromkeys(ZONES, 0))
        _share(used, edge.get(sim_sid), int(period.data_used) - sum(used.values()))
        usage[sim_sid] = ZoneUsage(period.sid, used)
    return usage


def _share(used: dict[str, int], edge: dict[str, int] | None, rest: int) -> None:
    """Add `rest` octets (bounded by the edge bucket's) to `used`, zone by zone in proportion to the edge bucket."""
    total = sum(edge.values()) if edge else 0
    rest = min(rest, total)
    if edge is None or rest <= 0:
        return
    given = 0
    for where, octets in sorted(edge.items(), key=lambda item: item[1]):
        part = rest * octets // total
        used[where] += part
        given += part
    used[max(edge, key=lambda where: edge[where])] += rest - given


def _build(
    rows: Iterable[Row[Any]],
    networks: dict[str, set[str]],
    periods: dict[str, Row[Any]],
    zone_usage: dict[str, ZoneUsage] | None = None,
    pools: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, SimPolicy | None]:
    # One frozenset per profile, shared by every SIM of its fleets: a million SIMs in a few fleets cost little.
    shared = {profile: frozenset(sids) for profile, sids in networks.items()}
    empty: frozenset[str] = frozenset()
    built: dict[str, SimPolicy | None] = {}
    for row in rows:
        if row.account_sid is None:
            built[row.imsi] = None
            continue
        # While an update is `scheduled`, the network acts on the status it is going to (services/sims.py keeps
        # only that one); the fleet stays the current one until the update completes.
        status = row.pending_status if row.status == "scheduled" and row.pending_status else row.status
        in_fleet = row.fleet_sid is not None and row.data_limit is not None
        period = periods.get(row.sid)
        if row.product == WIRELESS:
            built[row.imsi] = _wireless(row, status, period, (zone_usage or {}).get(row.sid))
            continue
        if row.product == THINGS:
            built[row.imsi] = _thing(row, status, (pools or {}).get(row.things_network_sid or "", ()))
            continue
        built[row.imsi] = SimPolicy(
            imsi=row.imsi,
            sim_sid=row.sid,
            iccid=row.iccid,
            account_sid=row.account_sid,
            product=row.product,
            status=status,
            fleet_sid=row.fleet_sid if in_fleet else None,
            data_enabled=bool(row.data_enabled) if in_fleet else False,
            data_limit_bytes=data_limit_bytes(row.data_limit) if in_fleet else 0,
            network_access_profile_sid=row.network_access_profile_sid if in_fleet else None,
            allowed_network_sids=shared.get(row.network_access_profile_sid, empty) if in_fleet else empty,
            period_sid=period.sid if period is not None else None,
            period_start=period.start_time if period is not None else None,
            period_end=period.end_time if period is not None else None,
            period_data_used=int(period.data_used) if period is not None else 0,
            last_imei=row.last_imei,
        )
    return built


def _thing(row: Row[Any], status: str, pools: tuple[str, ...]) -> SimPolicy:
    """A Thing's snapshot: its group's Network and that network's pools, its locked address and services."""
    return SimPolicy(
        imsi=row.imsi,
        sim_sid=row.sid,
        iccid=row.iccid,
        account_sid=row.account_sid,
        product=row.product,
        status=status,
        things_network_sid=row.things_network_sid,
        things_pools=pools,
        locked_ip=row.locked_ip,
        services_data=bool(row.services_data),
        services_sms=bool(row.services_sms),
        last_imei=row.last_imei,
        imei_lock=row.imei_lock,
    )


def _wireless(row: Row[Any], status: str, period: Row[Any] | None, usage: ZoneUsage | None) -> SimPolicy:
    """A Wireless SIM's snapshot: its rate plan's data settings where a Super SIM has its fleet's."""
    on_plan = row.rate_plan_sid is not None and row.plan_data_limit is not None
    return SimPolicy(
        imsi=row.imsi,
        sim_sid=row.sid,
        iccid=row.iccid,
        account_sid=row.account_sid,
        product=row.product,
        status=status,
        data_enabled=bool(row.plan_data_enabled) if on_plan else False,
        data_limit_bytes=data_limit_bytes(row.plan_data_limit) if on_plan else 0,
        period_sid=period.sid if period is not None else None,
        period_start=period.start_time if period is not None else None,
        period_end=period.end_time if period is not None else None,
        period_data_used=int(period.data_used) if period is not None else 0,
        rate_plan_sid=row.rate_plan_sid if on_plan else None,
        national_roaming_enabled=bool(row.national_roaming_enabled) if on_plan else False,
        international_data=on_plan and "data" in (row.international_roaming or ()),
        throttle_at_limit=on_plan and row.data_limit_strategy == "throttle",
        national_limit_bytes=data_limit_bytes(row.national_roaming_data_limit) if on_plan else 0,
        international_limit_bytes=data_limit_bytes(row.international_roaming_data_limit) if on_plan else 0,
        zone_usage=usage if usage is not None else ZoneUsage(period.sid if period is not None else None),
        last_imei=row.last_imei,
    )
