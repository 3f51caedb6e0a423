"""Accounting applied in batches: data sessions, hourly usage, billing-period usage, ready → active, connection events.

RADIUS accounting counters are cumulative per session (RFC 2866 §5.3, §5.5; Gigawords RFC 2869 §5.1-5.2), so a
session row keeps the highest totals reported and only their growth becomes usage: a retransmitted, duplicated or
reordered packet adds nothing. A batch of records (a few milliseconds of Accounting-Requests) is applied with a
handful of bulk statements in the caller's transaction; the AAA answers the requests only after it commits, so
an acknowledged packet is durable. Attach decisions and disconnect outcomes ride along as queued events.

Services flush, never commit: the caller (the AAA's group commit) owns the transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.ids import Prefix, new_sid
from cellplane.domain.policy import READY_ACTIVATION_BYTES, EventType, SimPolicy, visited_network
from cellplane.domain.wireless import zone
from cellplane.services import billing, network_policy, things_imei
from cellplane.services.accounting_records import (
    AccountingRecord,
    BatchEffects,
    LiveSession,
    NetworkEvent,
    RecordKind,
    clip,
    event_row,
    live,
    session_event,
)
from cellplane.services.things_imei import silent_imei_event
from cellplane.store.driver_sql import plan_every_statement
from cellplane.store.models import Sim
from cellplane.store.repositories import accounting as repo

OPEN = repo.OPEN
CLOSED = repo.CLOSED
NAS_RESTART_CAUSE = "NAS-Reboot"


class _Lookup:
    """Snapshots by IMSI: the ones loaded for this batch first, then the caller's cache."""

    __slots__ = ("cached", "fresh")

    def __init__(self, fresh: dict[str, SimPolicy | None], cached: Mapping[str, SimPolicy]) -> None:
        self.fresh = fresh
        self.cached = cached

    def get(self, imsi: str) -> SimPolicy | None:
        if imsi in self.fresh:
            return self.fresh[imsi]
        return self.cached.get(imsi)


SessionKey = tuple[str, str]  # (nas_id, acct_session_id): the unique index
_COLUMNS = tuple(column.name for column in repo.SESSION_COLUMNS)


# A session row changed under the batch (another node wrote it since this one remembered it): nothing was written,
# and the caller retries the batch from the database (`KnownSessions.clear`, `optimistic=False`).
StaleSession = repo.StaleRows
# To call on the connection a writer keeps for its batches, before its first one (driver_sql.plan_every_statement).
prepare_writer_connection = plan_every_statement


class KnownSessions:
    """Open sessions' rows as this process last committed them, so that an Interim-Update or Stop of a session it
    has seen needs no read (a round trip and an index probe per session, on PostgreSQL a row lock too).

    Only an optimization: every update is guarded by the values it was computed from (repo.SESSION_GUARD), so a row
    another node changed meanwhile fails the batch, which is retried after `clear()` from the database, read under
    lock. Rows are stored as tuples of repo.SESSION_COLUMNS (no garbage-collector work), at most `limit` of them,
    the least recently written leaving first; closed sessions leave at once.
    """

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit
        self._rows: dict[SessionKey, tuple[Any, ...]] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, key: SessionKey) -> dict[str, Any] | None:
        found = self._rows.get(key)
        return dict(zip(_COLUMNS, found, strict=True)) if found is not None else None

    def commit(self, rows: Iterable[tuple[SessionKey, dict[str, Any]]]) -> None:
        """Remember rows as a batch left them (call only once its transaction has committed)."""
        known = self._rows
        for key, row in rows:
            known.pop(key, None)  # re-inserted at the end: the dict's order is the order of last writes
            if row["status"] == OPEN:
                known[key] = tuple([row[column] for column in _COLUMNS])
        while len(known) > self.limit:
            del known[next(iter(known))]

    def forget_nas(self, nas_id: str) -> None:
        for key in [key for key in self._rows if key[0] == nas_id]:
            del self._rows[key]

    def clear(self) -> None:
        self._rows.clear()


@dataclass(slots=True)
class _State:
    """A session during a batch: as loaded (or new), then as the batch's records leave it."""

    row: dict[str, Any]
    is_new: bool = False
    dirty: bool = False
    # Opened, closed or given its address in this batch: what the AAA's live-session registry must learn.
    # (Counters alone are not: reporting every updated session would cost each interim a registry update.)
    changed: bool = False
    # The guarded columns as read (repo.SESSION_GUARD): the update applies only to a row that still holds them.
    was: tuple[Any, ...] = ()

    @classmethod
    def loaded(cls, row: dict[str, Any]) -> _State:
        return cls(row, was=(row["status"], row["ue_ip"], row["bytes_up"], row["bytes_down"], row["packets_up"],
                             row["packets_down"]))  # fmt: skip


async def load_open_sessions(session: AsyncSession) -> list[LiveSession]:
    """Every open session, for the AAA's registry and address pool at start."""
    return [live(dict(row._mapping)) for row in await repo.open_sessions(session)]


async def still_open(session: AsyncSession, keys: Collection[SessionKey]) -> set[SessionKey]:
    """Which of these sessions the database has open (the AAA lets go of addresses held by the others: sessions
    closed by another node, e.g. the gateway sweep or a Stop that reached another AAA node)."""
    return await repo.open_keys(session, keys)


async def apply_batch(
    session: AsyncSession,
    records: Sequence[AccountingRecord],
    events: Sequence[NetworkEvent],
    policies: Mapping[str, SimPolicy],
    now: datetime,
    known: KnownSessions | None = None,
    *,
    optimistic: bool = False,
) -> BatchEffects:
    """Apply accounting records (in arrival order) and queued events in the caller's transaction.

    `policies` is the caller's snapshot cache by IMSI; IMSIs missing from it are loaded once for the batch.
    `known`: sessions cached from earlier batches; the rows this batch leaves are in `effects.session_rows`, for the
    caller to `known.commit` once the transaction has committed. Raises StaleSession if a cached row was stale.

    `optimistic`: the session of an Acct-Status-Type Start that `known` does not hold is taken as new without a read
    (a Start of a session that exists then fails the batch on the unique index, and the caller retries without).
    A batch that needs no read and nothing but its writes is, on PostgreSQL, one statement committing by itself.
    """
    effects = BatchEffects()
    known = known if known is not None else KnownSessions(0)
    lookup = _Lookup(effects.policies, policies)
    for record in records:
        # Clipped once here, so that lookups and the stored row agree on an overlong identifier.
        record.nas_id = clip("nas_id", record.nas_id) or ""
        record.acct_session_id = clip("acct_session_id", record.acct_session_id) or ""
    missing = {r.imsi for r in records if r.imsi and r.imsi not in policies}
    if missing:
        effects.policies.update(await network_policy.load_imsis(session, missing, now))
    # The batch's writes may be its whole transaction (repo.write_segment): no statement before, one segment.
    alone = optimistic and not missing and not any(r.kind in (RecordKind.NAS_ON, RecordKind.NAS_OFF) for r in records)
    watched = [e for e in events if e.event_type == EventType.IMEI_CHANGED]
    if watched:
        # A first IMEI is stored, not an event; a refused one has its attach_rejected (83711) event already.
        events = [e for e in events if e.event_type != EventType.IMEI_CHANGED or not silent_imei_event(e)]
        await things_imei.record(session, watched)
    event_rows = [event_row(e) for e in events]
    segment: list[AccountingRecord] = []
    for record in records:
        if record.kind in (RecordKind.NAS_ON, RecordKind.NAS_OFF):
            # RFC 2866 §5.1: the NAS (re)started or is going down and holds no session any more. Records before it
            # in this batch are applied first, so a Start that follows is not closed with the rest.
            await _apply_segment(session, segment, lookup, now, effects, event_rows, known, optimistic=optimistic)
            segment = []
            await _close_nas(session, record, now, effects, event_rows)
            known.forget_nas(record.nas_id)
            for key in [key for key in effects.session_rows if key[0] == record.nas_id]:
                del effects.session_rows[key]
        else:
            segment.append(record)
    await _apply_segment(session, segment, lookup, now, effects, event_rows, known, optimistic=optimistic, alone=alone)
    await repo.insert_events(session, event_rows)
    await session.flush()
    return effects


async def _apply_segment(
    session: AsyncSession,
    records: list[AccountingRecord],
    lookup: _Lookup,
    now: datetime,
    effects: BatchEffects,
    event_rows: list[tuple[Any, ...]],
    known: KnownSessions,
    *,
    optimistic: bool,
    alone: bool = False,
) -> None:
    if not records:
        return
    states: dict[SessionKey, _State] = {}
    wanted: dict[str, set[str]] = {}
    written = effects.session_rows  # by an earlier segment of this batch
    for record in records:
        key = (record.nas_id, record.acct_session_id)
        if key in states:
            continue
        row = dict(written[key]) if key in written else known.get(key)
        if row is not None:
            states[key] = _State.loaded(row)
        elif not (optimistic and record.kind == RecordKind.START):
            wanted.setdefault(record.nas_id, set()).add(record.acct_session_id)
    if wanted:
        for row in await repo.sessions_at(session, wanted):
            states[(row["nas_id"], row["acct_session_id"])] = _State.loaded(row)
    hour = now.replace(minute=0, second=0, microsecond=0)
    buckets: dict[tuple[str, str], list[Any]] = {}
    sim_growth: dict[str, int] = {}
    imsi_of: dict[str, str] = {}
    for record in records:
        key = (record.nas_id, record.acct_session_id)
        state = states.get(key)
        policy = lookup.get(record.imsi or (state.row["imsi"] if state else ""))
        if state is None:
            if policy is None:
                effects.ignored += 1
                continue
            state = states[key] = _new_state(record, policy, now)
            event_rows.append(session_event(EventType.SESSION_STARTED, state.row, policy, now))
        row = state.row
        grew_up = max(0, record.bytes_up - row["bytes_up"])
        grew_down = max(0, record.bytes_down - row["bytes_down"])
        if grew_up or grew_down or record.packets_up > row["packets_up"] or record.packets_down > row["packets_down"]:
            state.dirty = True
            row["bytes_up"] += grew_up
            row["bytes_down"] += grew_down
            row["packets_up"] = max(row["packets_up"], record.packets_up)
            row["packets_down"] = max(row["packets_down"], record.packets_down)
        if record.ue_ip and row["ue_ip"] is None:
            row["ue_ip"] = clip("ue_ip", record.ue_ip)
            state.dirty = state.changed = True
        if grew_up or grew_down:
            _count(buckets, sim_growth, row, policy, hour, grew_up, grew_down)
            imsi_of[row["sim_sid"]] = row["imsi"]
        if record.kind == RecordKind.STOP and row["status"] == OPEN:
            row.update(status=CLOSED, end=now, terminate_cause=clip("terminate_cause", record.terminate_cause))
            state.dirty = state.changed = True
            event_rows.append(session_event(EventType.SESSION_ENDED, row, policy, now, record.terminate_cause))
        elif record.kind == RecordKind.INTERIM and (grew_up or grew_down) and row["status"] == OPEN:
            event_rows.append(session_event(EventType.SESSION_UPDATED, row, policy, now))
    inserts, updates = _session_rows(states, now, effects)
    growth = await _period_growth(session, sim_growth, imsi_of, lookup, now)
    if session.new or session.dirty:
        await session.flush()  # a billing period materialized just now must exist before usage is added to it
    events = event_rows[:]
    event_rows.clear()  # written with this segment
    totals, ready = await repo.write_segment(
        session,
        inserts,
        updates,
        [tuple(bucket) for bucket in buckets.values()],
        growth.periods,
        growth.ready,
        events,
        now,
        READY_ACTIVATION_BYTES,
        # Nothing but this statement: no read, no billing period materialized, no ready SIM that may turn active.
        alone=alone and not wanted and not growth.reload and not growth.ready,
    )
    for key, state in states.items():
        written[key] = state.row
    _zone_growth(buckets, imsi_of, lookup, effects)
    await _period_effects(session, growth, totals, ready, imsi_of, lookup, now, effects)


def _new_state(record: AccountingRecord, policy: SimPolicy, now: datetime) -> _State:
    network = visited_network(record.mcc, record.mnc)
    start = now
    if record.kind != RecordKind.START and record.session_time:
        # The Start was lost or is late: the session began Acct-Session-Time seconds ago (RFC 2866 §5.7).
        start = now - timedelta(seconds=min(record.session_time, 10 * 365 * 86400))
    row = {
        "sid": new_sid(Prefix.DATA_SESSION),
        "account_sid": policy.account_sid,
        "sim_sid": policy.sim_sid,
        "fleet_sid": policy.fleet_sid,
        "imsi": policy.imsi,
        "nas_id": record.nas_id,
        "nas_address": clip("nas_address", record.nas_address),
        "acct_session_id": record.acct_session_id,
        "status": OPEN,
        "ue_ip": clip("ue_ip", record.ue_ip),
        "apn": clip("apn", record.apn),
        "network_sid": network.sid if network else None,
        "mcc": record.mcc if network else None,
        "mnc": record.mnc if network else None,
        "iso_country": network.iso_country if network else None,
        "operator_name": clip("operator_name", network.friendly_name) if network else None,
        "radio_link": clip("radio_link", record.radio_link),
        "cell_id": clip("cell_id", record.cell_id),
        "imei": clip("imei", record.imei),
        "bytes_up": 0,
        "bytes_down": 0,
        "packets_up": 0,
        "packets_down": 0,
        "terminate_cause": None,
        "start": start,
        "end": None,
        "last_updated": now,
    }
    return _State(row, is_new=True, dirty=True, changed=True)


def _count(
    buckets: dict[tuple[str, str], list[Any]],
    sim_growth: dict[str, int],
    row: dict[str, Any],
    policy: SimPolicy | None,
    hour: datetime,
    up: int,
    down: int,
) -> None:
    # Usage belongs to the account and fleet the SIM has now (the owner when it happened), else the session's.
    sim_sid = row["sim_sid"]
    network = row["network_sid"] or ""
    bucket = buckets.get((sim_sid, network))
    if bucket is None:
        account = (policy.account_sid if policy else None) or row["account_sid"]
        fleet = policy.fleet_sid if policy else row["fleet_sid"]
        # The columns of repo.add_usage: account, SIM, fleet, network, country, hour, bytes up, bytes down.
        bucket = buckets[(sim_sid, network)] = [account, sim_sid, fleet, network, row["iso_country"], hour, 0, 0]
    bucket[6] += up
    bucket[7] += down
    sim_growth[sim_sid] = sim_growth.get(sim_sid, 0) + up + down


def _zone_growth(
    buckets: dict[tuple[str, str], list[Any]], imsi_of: dict[str, str], lookup: _Lookup, effects: BatchEffects
) -> None:
    """The per-zone hook of the accounting path: this segment's usage of Wireless SIMs by zone (the AAA adds it to
    the SIM's ZoneUsage and enforces each zone's limit). Pure memory, no statement; Super SIMs are skipped."""
    for (sim_sid, network), bucket in buckets.items():
        policy = lookup.get(imsi_of.get(sim_sid, ""))
        if policy is None or not policy.wireless:
            continue
        where = zone(network or None, bucket[4])
        grown = effects.zone_growth.setdefault(sim_sid, {})
        grown[where] = grown.get(where, 0) + bucket[6] + bucket[7]


def _session_rows(
    states: dict[tuple[str, str], _State], now: datetime, effects: BatchEffects
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The batch's new sessions (repo.SESSION_INSERT tuples) and changed ones (repo.update_sessions tuples)."""
    inserts: list[tuple[Any, ...]] = []
    updates: list[tuple[Any, ...]] = []
    columns = repo.SESSION_INSERT
    for state in states.values():
        if not state.dirty:
            continue
        row = state.row
        row["last_updated"] = now
        if state.is_new:
            inserts.append(tuple([row[column] for column in columns]))
        else:
            updates.append(
                (
                    row["status"],
                    row["ue_ip"],
                    row["bytes_up"],
                    row["bytes_down"],
                    row["packets_up"],
                    row["packets_down"],
                    row["terminate_cause"],
                    row["end"],
                    now,
                    row["sid"],
                    *state.was,
                )
            )
        if state.changed:
            effects.sessions.append(live(row))
    return inserts, updates


@dataclass(slots=True)
class _Growth:
    """A segment's growth by billing period (the data limit counts it) and by ready SIM (toward ready → active)."""

    periods: dict[str, int]
    period_of: dict[str, str]  # SIM sid -> the period its growth went to
    ready: dict[str, int]
    reload: set[str]  # SIMs whose snapshot must be re-read after the batch


async def _period_growth(
    session: AsyncSession, sim_growth: dict[str, int], imsi_of: dict[str, str], lookup: _Lookup, now: datetime
) -> _Growth:
    growth = _Growth({}, {}, {}, set())
    for sim_sid, grown in sim_growth.items():
        policy = lookup.get(imsi_of[sim_sid])
        period_sid = _period_in_force(policy, now)
        if period_sid is None:
            # No period cached, or it is over: let billing materialize the one in force (monthly periods of an
            # active SIM exist only once someone needs them; services/billing.py).
            sim = await session.get(Sim, sim_sid)
            period = await billing.current_period(session, sim, now) if sim is not None else None
            period_sid = period.sid if period is not None else None
            growth.reload.add(sim_sid)
        if period_sid is not None:
            growth.periods[period_sid] = growth.periods.get(period_sid, 0) + grown
            growth.period_of[sim_sid] = period_sid
        if policy is not None and policy.status == "ready":
            growth.ready[sim_sid] = grown
    return growth


async def _period_effects(
    session: AsyncSession,
    growth: _Growth,
    totals: dict[str, int],
    ready: list[str],
    imsi_of: dict[str, str],
    lookup: _Lookup,
    now: datetime,
    effects: BatchEffects,
) -> None:
    """What the AAA must learn of the periods' new totals (data limits) and of SIMs that reached 250 KB (activation)."""
    if growth.periods:
        effects.period_stamp = now
    for sim_sid, period_sid in growth.period_of.items():
        used = totals.get(period_sid, 0)
        effects.period_usage[sim_sid] = (period_sid, used)
        policy = lookup.get(imsi_of[sim_sid])
        if policy is not None and policy.fleet_sid is not None and used >= policy.data_limit_bytes:
            effects.over_limit.add(sim_sid)
    reload = growth.reload
    for sim_sid in ready:
        await _activate(session, sim_sid, now)
        reload.add(sim_sid)
    if reload:
        await session.flush()
        effects.policies.update(await network_policy.load_sims(session, reload, now))


def _period_in_force(policy: SimPolicy | None, now: datetime) -> str | None:
    if policy is None or policy.period_sid is None or policy.period_start is None or policy.period_end is None:
        return None
    return policy.period_sid if policy.period_start <= now < policy.period_end else None


async def _activate(session: AsyncSession, sim_sid: str, now: datetime) -> None:
    """Seed 004: a `ready` SIM becomes `active` by itself after 250 KB of data; its billing periods follow."""
    sim = await session.get(Sim, sim_sid)
    if sim is not None:
        await billing.activate_by_rule(session, sim, now)


async def _close_nas(
    session: AsyncSession,
    record: AccountingRecord,
    now: datetime,
    effects: BatchEffects,
    event_rows: list[tuple[Any, ...]],
) -> None:
    cause = record.terminate_cause or NAS_RESTART_CAUSE  # a sweep of a dead gateway says Lost-Service
    for closed in await repo.close_sessions_at(session, record.nas_id, now, cause):
        row = dict(closed._mapping)
        row.update(status=CLOSED)
        effects.sessions.append(live(row))
        event_rows.append(session_event(EventType.SESSION_ENDED, row, None, now, cause))
