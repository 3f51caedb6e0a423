"""The AAA's state and the decisions made from it: attach decisions from the policy cache, what a committed
accounting batch changes, and enforcement — a live session the rules no longer allow gets a Disconnect-Request.

A Wireless SIM's connectivity reset (the `sim_reset` hook) disconnects its live sessions the same way, asking the
gateway for a new session rather than refusing one (docs/NETWORK.md).

Enforcement runs whenever a SIM's snapshot changes, whatever changed it: a status change (the
`sim_status_changed` hook), the poller seeing a fleet, profile or SIM row change, or usage reaching the
fleet's data limit. A Wireless SIM's usage is counted per zone (home, national, international roaming: the
ZoneUsage of its snapshot, grown by every accounting batch) and each zone's limit enforced on its sessions there:
`block` disconnects, `throttle` sends the NAS a CoA-Request with the rate to hold the session to (and lifts it with
rate 0 when the limit no longer applies, e.g. a new billing period or a higher limit).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Hashable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.networks import catalogue
from cellplane.domain.policy import (
    AttachRateLimiter,
    Decision,
    EventType,
    RejectCode,
    SimPolicy,
    check_session,
    decide_attach,
)
from cellplane.domain.things import PRODUCT as THINGS
from cellplane.services import network_policy
from cellplane.services.accounting_records import AccountingRecord, BatchEffects, LiveSession, NetworkEvent, RecordKind

from . import metrics
from .attributes import Attach, imei_of
from .config import AaaConfig
from .duplicates import RecentRequests
from .on_demand import OnDemandLoader
from .pool import AddressPool
from .private_pools import PrivateAddresses
from .state import LiveSessions, PolicyCache, SessionKey

log = logging.getLogger("cellplane.aaa")

_THROTTLED = "The Rate Plan's data limit for this billing period is reached; DataLimitStrategy throttle keeps data on"
# How long an Access-Accept that carried the throttle rate is remembered, for the session Start that follows it.
_ATTACH_MEMORY = 300.0


def failure_reason(policy: SimPolicy | None) -> str:
    """Why an attach the rules allowed got no address (attach_failed)."""
    if policy is not None and policy.thing:
        return "No free address in the pools of the Thing's Network"
    return "No free address in the UE address pool"


class AaaCore:
    def __init__(self, config: AaaConfig, clock: Callable[[], datetime]) -> None:
        self.config = config
        self.clock = clock
        self.sessions = LiveSessions()
        self.policies = PolicyCache(config.cache_sims, keep=self._keep)
        # Set by the server: loads what the bounded cache does not hold when a request needs it.
        self.on_demand: OnDemandLoader | None = None
        self.pool = AddressPool(config.ue_ip_pool, config.lease_ttl)
        # Things take their addresses from their own network's pools (THINGS.md), not from the UE pool.
        self.private = PrivateAddresses(config.lease_ttl)
        self.limiter = AttachRateLimiter(config.attach_window)
        self.recent = RecentRequests(config.duplicate_window)
        # The date_updated stamps our batches gave billing periods (the poller skips those changes: we know them),
        # each with when it was written (monotonic), to forget them once the poller's window has passed.
        self.period_stamps: dict[datetime, float] = {}
        # Set by the server once its writer and disconnector exist.
        self.record_event: Callable[[NetworkEvent], None] = lambda event: None
        self.submit_record: Callable[[AccountingRecord], None] = lambda record: None
        self.disconnect: Callable[[LiveSession, Any], None] = lambda session, code: None
        self.reset_session: Callable[[LiveSession], None] = lambda session: None
        self.change_rate: Callable[[LiveSession, int, Callable[[LiveSession], None]], None] = lambda s, r, f: None
        # Sessions the NAS has been told to throttle (CoA-Request, or the Access-Accept that opened them).
        self.throttled: set[SessionKey] = set()
        # IMSI -> when an Access-Accept carrying the throttle rate was sent (monotonic).
        self._accepted_throttled: dict[str, float] = {}
        self._reloads: set[str] = set()
        self._tasks: set[asyncio.Future[Any]] = set()
        self.reload_imsis: Callable[[set[str]], Any] | None = None
        # Called after each address handed out from the UE pool (the pool's slices ask for more when low).
        self.allocated: Callable[[], None] = lambda: None

    # --- the bounded cache ----------------------------------------------------------------------------------------

    def _keep(self, policy: SimPolicy) -> bool:
        """Snapshots the cache keeps whatever its bound: a SIM with an open session (enforcement, its address) and
        a Thing (its network's pool must know its locked address)."""
        return policy.thing or self.sessions.has_sim(policy.sim_sid)

    def cached(self, imsi: str | None) -> bool:
        return self.on_demand is None or self.policies.holds(imsi)

    def fetch(self, imsi: str) -> asyncio.Future[bool]:
        """Load a SIM the cache does not hold (True once it is there; False if the database could not be read)."""
        assert self.on_demand is not None
        return self.on_demand.fetch(imsi)

    def loaded(self, imsi: str, policy: SimPolicy | None) -> None:
        """A snapshot loaded on demand: stored, unless a fresher one reached the cache while it was read."""
        if self.policies.holds(imsi):
            return
        if policy is None:
            self.policies.put_unknown(imsi)
        else:
            self.update_policy(imsi, policy)

    def wants(self, imsi: str) -> bool:
        """Whether a changed SIM's fresh snapshot concerns this cache: it holds the IMSI or is loading it (a bounded
        cache leaves the others to be loaded when they are next used)."""
        if not self.policies.bounded or imsi in self.policies.by_imsi or imsi in self.policies.unknown:
            return True
        return self.on_demand is not None and self.on_demand.loading(imsi)

    def members(self, fleet_sids: Collection[str], plan_sids: Collection[str]) -> list[str]:
        """The cached SIMs in these fleets or rate plans, and those being loaded: what a change to them concerns
        (with a bounded cache; services/network_policy reads these by IMSI instead of every SIM of the fleet)."""
        fleets, plans = set(fleet_sids), set(plan_sids)
        found = [
            imsi
            for imsi, policy in self.policies.by_imsi.items()
            if policy.fleet_sid in fleets or policy.rate_plan_sid in plans
        ]
        if self.on_demand is not None:
            found.extend(self.on_demand.pending())
        return found

    def refresh(self, imsi: str, policy: SimPolicy | None) -> None:
        """A changed SIM's fresh snapshot (poller, change notification, hook): applied if the cache wants it, and
        always for a Thing (every Thing is kept)."""
        if not self.wants(imsi) and (policy is None or not policy.thing):
            return
        if policy is None and self.policies.bounded:
            self.update_policy(imsi, None)
            self.policies.put_unknown(imsi)  # a load in flight (read before the change) must not bring it back
            return
        self.update_policy(imsi, policy)

    # --- Access -------------------------------------------------------------------------------------------------

    def attach(self, attach: Attach) -> tuple[Decision, SimPolicy | None, str | None]:
        """Decide an Access-Request; an accepted one gets the SIM's address (None if the pool is exhausted)."""
        imsi = attach.imsi
        policy = self.policies.touch(imsi) if imsi else None
        now = time.monotonic()
        count = self.limiter.hit(imsi, now) if policy is not None and imsi else 0
        decision = decide_attach(
            policy, attach.mcc, attach.mnc, self.clock(), recent_attaches=count, radio_link=attach.radio_link
        )
        if policy is not None and imsi and attach.imei and (decision.accepted or policy.imei_lock):
            decision = self._watch_imei(policy, attach, decision)
        address = None
        if decision.accepted and imsi and policy is not None:
            if policy.thing:
                address = self.private.allocate(policy, imsi, now)
            else:
                address = self.pool.allocate(imsi, now)
                self.allocated()
        if address is not None and imsi:
            if decision.throttled:
                self._accepted_throttled[imsi] = now
            else:
                self._accepted_throttled.pop(imsi, None)
        return decision, policy, address

    def _watch_imei(self, policy: SimPolicy, attach: Attach, decision: Decision) -> Decision:
        """IMEI monitoring from the policy cache: nothing to do (no query, no event) while the IMEI is the one seen
        last. An attach from another IMEI than a Thing's `imeiLock` is refused (83711) and recorded; an accepted one
        from a new IMEI is recorded (the first IMEI a SIM shows is stored, not announced) and remembered."""
        imei = attach.imei
        assert imei is not None
        if policy.imei_lock and imei_of(policy.imei_lock) != imei:
            if decision.accepted:
                decision = Decision(False, RejectCode.IMEI_LOCKED, network=decision.network)
            self._imei_event(policy, attach, decision, rejected=True)
            return decision
        if decision.accepted and imei != policy.last_imei:
            self._imei_event(policy, attach, decision, rejected=False)
            self.policies.put(policy.imsi, replace(policy, last_imei=imei))
        return decision

    def _imei_event(self, policy: SimPolicy, attach: Attach, decision: Decision, *, rejected: bool) -> None:
        network = decision.network
        self.record_event(
            NetworkEvent(
                event_type=EventType.IMEI_CHANGED,
                timestamp=self.clock(),
                imsi=attach.imsi,
                sim_sid=policy.sim_sid,
                account_sid=policy.account_sid,
                iccid=policy.iccid,
                fleet_sid=policy.fleet_sid,
                network_sid=network.sid if network else None,
                mcc=attach.mcc,
                mnc=attach.mnc,
                radio_link=attach.radio_link,
                imei=attach.imei,
                reason=f"IMEI {attach.imei} (was {policy.last_imei or 'unknown'})"
                + (": refused by the IMEI lock" if rejected else ""),
                error_code=int(RejectCode.IMEI_LOCKED) if rejected else None,
                previous_imei=policy.last_imei,
                rejected=rejected,
            )
        )

    def attach_event(
        self, attach: Attach, decision: Decision, policy: SimPolicy | None, address: str | None, failed: bool
    ) -> None:
        network = decision.network
        event_type = EventType.ATTACH_ACCEPTED if decision.accepted else EventType.ATTACH_REJECTED
        reason = decision.reason
        if decision.throttled:
            reason = _THROTTLED
        if failed:
            event_type, reason = EventType.ATTACH_FAILED, failure_reason(policy)
        self.record_event(
            NetworkEvent(
                event_type=event_type,
                timestamp=self.clock(),
                imsi=attach.imsi,
                sim_sid=policy.sim_sid if policy else None,
                account_sid=policy.account_sid if policy else None,
                iccid=policy.iccid if policy else None,
                fleet_sid=policy.fleet_sid if policy else None,
                network_sid=network.sid if network else None,
                mcc=attach.mcc,
                mnc=attach.mnc,
                radio_link=attach.radio_link,
                imei=attach.imei,
                ip_address=address,
                reason=reason,
                error_code=int(decision.code) if decision.code is not None else None,
            )
        )

    def record_session_event(self, event: NetworkEvent) -> None:
        """Queue an event about a SIM's session, with the SIM's account (which the event list is scoped by),
        ICCID and fleet filled from the cache."""
        policy = self.policies.of_sim(event.sim_sid) if event.sim_sid else None
        if policy is not None:
            event.account_sid = event.account_sid or policy.account_sid
            event.iccid = event.iccid or policy.iccid
            event.fleet_sid = event.fleet_sid or policy.fleet_sid
        self.record_event(event)

    # --- what changed -------------------------------------------------------------------------------------------

    def load(self, policies: dict[str, SimPolicy], sessions: list[LiveSession]) -> None:
        """Fill memory at start: the snapshots read (every claimed SIM's without a bound; with one, the open sessions'
        SIMs and the Things), every open session (and the addresses they hold)."""
        self.policies.replace_all(policies)
        for imsi, snapshot in policies.items():
            if snapshot.thing:
                self.private.configure(snapshot, imsi)
        now = time.monotonic()
        wall = self.clock()
        networks = catalogue()
        for session in sessions:
            self._track(session, now)
            # A throttled session keeps its rate at the NAS across our restart: count it as throttled, not anew.
            network = networks.get(session.network_sid) if session.network_sid else None
            policy = self.policies.of_sim(session.sim_sid)
            known = session.network_sid is not None
            if policy is not None and check_session(policy, network, wall, network_known=known).throttled:
                self.throttled.add(LiveSessions.key(session))

    def apply_effects(self, effects: BatchEffects) -> None:
        now = time.monotonic()
        check: set[str] = set()
        for session in effects.sessions:
            if self._track(session, now):
                check.add(session.sim_sid)
        # Zone growth goes into the cached counters before fresh snapshots replace them: a snapshot read from the
        # database inside this batch already holds the growth, and merging keeps the larger count of each zone.
        for sim_sid, grown in effects.zone_growth.items():
            if self._add_zone_usage(sim_sid, grown, effects.period_usage.get(sim_sid)):
                check.add(sim_sid)
        for imsi, policy in effects.policies.items():
            self.update_policy(imsi, policy)
        for sim_sid, (period_sid, used) in effects.period_usage.items():
            policy = self.policies.of_sim(sim_sid)
            # Decisions only ask whether usage reached the limit: the snapshot is rebuilt when that answer flips
            # (a replace per SIM per batch would cost every interim), so its usage may lag below the limit.
            if (
                policy is not None
                and policy.period_sid == period_sid
                and (used >= policy.data_limit_bytes) != (policy.period_data_used >= policy.data_limit_bytes)
            ):
                self.policies.put(policy.imsi, replace(policy, period_data_used=used))
        for sim_sid in effects.over_limit | check:
            self.enforce(sim_sid)
        if effects.ignored:
            metrics.ACCOUNTING_IGNORED.inc(effects.ignored)

    def _add_zone_usage(self, sim_sid: str, grown: dict[str, int], period: tuple[str, int] | None) -> bool:
        """Add a batch's per-zone growth to a Wireless SIM's counters; True when a zone reached its limit."""
        policy = self.policies.of_sim(sim_sid)
        usage = policy.zone_usage if policy is not None else None
        if policy is None or usage is None or period is None or usage.period_sid != period[0]:
            return False  # no counters for that period cached: the snapshot that comes with it has the growth
        crossed = False
        for where, octets in grown.items():
            before = usage.get(where)
            usage.add(where, octets)
            limit = policy.zone_limit(where)
            crossed = crossed or before < limit <= before + octets
        return crossed

    def announce_stamp(self, stamp: datetime) -> None:
        """A batch is about to stamp billing periods with `stamp` (their date_updated)."""
        self.period_stamps[stamp] = time.monotonic()

    def update_policy(self, imsi: str, policy: SimPolicy | None) -> None:
        """A fresh snapshot of one SIM: store it and, if it changed, re-check the SIM's live sessions."""
        old = self.policies.get(imsi)
        if policy is not None and policy.zone_usage is not None and old is not None:
            policy.zone_usage.merge(old.zone_usage)
        if policy is not None and old is not None and old.last_imei and old.last_imei != policy.last_imei:
            # The cache is ahead of the database on IMEIs (it learns first; the writer stores them after): a snapshot
            # read meanwhile must not take the last IMEI back, or the next attach would look like a change again.
            policy = replace(policy, last_imei=old.last_imei)
        if (
            policy is not None
            and old is not None
            and old.period_sid is not None
            and policy.period_sid == old.period_sid
            and old.period_data_used > policy.period_data_used
        ):
            # A period's usage only grows, and the cache learns it first (accounting effects): a snapshot read before
            # the batch committed (a change notification's re-read racing an interim) must not take it back.
            policy = replace(policy, period_data_used=old.period_data_used)
        self.policies.put(imsi, policy)
        if (policy is not None and policy.thing) or (old is not None and old.thing):
            self.private.configure(policy if policy is not None and policy.thing else None, imsi)
        if old == policy and (policy is None or not policy.wireless):
            return
        metrics.POLICY_RELOADS.inc()
        for sim_sid in {p.sim_sid for p in (old, policy) if p is not None}:
            self.enforce(sim_sid)

    def enforce(self, sim_sid: str) -> None:
        """Disconnect each live session of the SIM that the rules no longer allow; throttle (or stop throttling)
        each one a Wireless rate plan lets on at (or no longer at) its zone's limit."""
        live = self.sessions.of_sim(sim_sid)
        if not live:
            return
        policy = self.policies.of_sim(sim_sid)
        now = self.clock()
        networks = catalogue()
        for session in live:
            network = networks.get(session.network_sid) if session.network_sid else None
            decision = check_session(policy, network, now, network_known=session.network_sid is not None)
            if not decision.accepted:
                if decision.code is not None:
                    self.disconnect(session, decision.code)
                continue
            key = LiveSessions.key(session)
            if decision.throttled and key not in self.throttled:
                self.throttled.add(key)
                self.change_rate(session, self.config.throttle_rate, self._throttle_failed)
                self._throttled_event(session, now)
            elif not decision.throttled and key in self.throttled:
                self.throttled.discard(key)
                self.change_rate(session, 0, self._throttle_failed)

    def _throttle_failed(self, session: LiveSession) -> None:
        """The NAS did not take a rate change: our idea of the session's rate is unknown; the next change retries."""
        self.throttled.discard(LiveSessions.key(session))

    def _throttled_event(self, session: LiveSession, now: datetime) -> None:
        reason = f"{_THROTTLED}; limited to {self.config.throttle_rate} bit/s"
        self.record_session_event(session.event(EventType.SESSION_THROTTLED, now, reason))

    async def on_sim_status_changed(self, sim: Any, session: AsyncSession | None = None) -> None:
        """services/sims.announce: a SIM changed inside a transaction that has not committed yet. Its snapshot is
        read through that `session` (which holds the change), so the cache has it before the API can show it and a
        device attaching right after is decided on it; a SIM claimed since the last poll gets its first snapshot
        here. Without a session, act on what is known. Either way the SIM is re-read once the change is committed
        (and if it never commits, that re-read puts the cache back)."""
        if session is not None:
            await self.on_sims_status_changed([sim], session)
            return
        policy = self.policies.of_sim(sim.sid) or self.policies.get(sim.imsi)
        if policy is not None:
            known = replace(policy, status=sim.status)
            if sim.fleet_sid != policy.fleet_sid:
                known = self._with_fleet(known, sim.fleet_sid)
            self.update_policy(policy.imsi, known)
        if sim.product == THINGS or self.wants(sim.imsi):
            self.reload_soon(sim.imsi)

    async def on_sims_status_changed(self, sims: Sequence[Any], session: AsyncSession) -> None:
        """services/sims.announce_many: as on_sim_status_changed, for a batch (a bulk action's chunk) in one read."""
        wanted = [sim.imsi for sim in sims if sim.product == THINGS or self.wants(sim.imsi)]
        fresh = await network_policy.load_imsis(session, wanted, self.clock()) if wanted else {}
        for imsi, snapshot in fresh.items():
            self.refresh(imsi, snapshot)
        for imsi in wanted:
            self.reload_soon(imsi)

    def on_thing_changed(self, sim: Any) -> None:
        """services/things.update changed a Thing's services, locked address or group: re-read it once committed
        (the poller would within a second; this makes the common case quicker)."""
        self.reload_soon(sim.imsi)

    def on_sim_reset(self, sim: Any) -> None:
        """services/wireless_sims.complete_reset: a connectivity reset ends each live session of the SIM with a
        Disconnect-Request that asks for a new one (Disconnector.reset); the device then attaches again."""
        for session in self.sessions.of_sim(sim.sid):
            self.reset_session(session)

    def reload_soon(self, imsi: str) -> None:
        """Re-read one SIM from the database shortly (after the transaction that changed it has committed)."""
        if self.reload_imsis is None:
            return
        first = not self._reloads
        self._reloads.add(imsi)
        if first:
            asyncio.get_running_loop().call_later(0.3, self._reload_now)

    def _reload_now(self) -> None:
        imsis, self._reloads = self._reloads, set()
        if imsis and self.reload_imsis is not None:
            task = asyncio.ensure_future(self.reload_imsis(imsis))
            self._tasks.add(task)  # keep a reference until done (asyncio holds tasks weakly)
            task.add_done_callback(self._tasks.discard)

    def session_gone(self, session: LiveSession) -> None:
        """The NAS says it has no such session (Disconnect-NAK 503): close ours as a Stop would."""
        self.submit_record(
            AccountingRecord(
                kind=RecordKind.STOP,
                nas_id=session.nas_id,
                acct_session_id=session.acct_session_id,
                nas_address=session.nas_address,
                imsi=session.imsi,
                terminate_cause="Admin-Reset",
            )
        )

    def closed_elsewhere(self, gone: Sequence[tuple[str, Hashable]]) -> None:
        """Sessions holding UE addresses here that the database has closed (another node did: the gateway sweep, a
        Stop that reached another AAA node; slices.py found them): forgotten as their Stop would have them."""
        now = time.monotonic()
        keys = {key for _, key in gone}
        for session in self.sessions:  # every open session, but only when some were closed elsewhere
            key = LiveSessions.key(session)
            if key in keys:
                self.sessions.apply(replace(session, open=False))
                self.throttled.discard(key)
        for owner, key in gone:
            self.pool.drop(owner, key, now)

    def housekeeping(self) -> None:
        now = time.monotonic()
        self.recent.expire(now)
        self.pool.expire(now)
        self.private.expire(now)
        self.limiter.sweep(now)
        horizon = self.config.poll_overlap + 3 * self.config.poll_interval
        for stamp in [stamp for stamp, at in self.period_stamps.items() if now - at > horizon]:
            del self.period_stamps[stamp]
        for imsi in [imsi for imsi, at in self._accepted_throttled.items() if now - at > _ATTACH_MEMORY]:
            del self._accepted_throttled[imsi]

    def _track(self, session: LiveSession, now: float) -> bool:
        """Record a session as the database has it; True for a Wireless SIM's newly opened one (to be checked)."""
        key = LiveSessions.key(session)
        new = session.open and key not in self.sessions
        self.sessions.apply(session)
        owner = self.policies.of_sim(session.sim_sid)
        if owner is not None and owner.thing:
            if session.open:
                self.private.hold(owner, session.ue_ip, key)
            else:
                self.private.drop(session.imsi, key, now)
        elif session.open:
            self.pool.hold(session.imsi, session.ue_ip, key, now)
        else:
            self.pool.drop(session.imsi, key, now)
        if not session.open:
            self.throttled.discard(key)
        if not new:
            return False
        accepted = self._accepted_throttled.pop(session.imsi, None)
        if accepted is not None and now - accepted < _ATTACH_MEMORY:
            self.throttled.add(key)  # its Access-Accept carried the rate already
        policy = self.policies.of_sim(session.sim_sid)
        return policy is not None and policy.wireless

    def _with_fleet(self, policy: SimPolicy, fleet_sid: str | None) -> SimPolicy:
        """The snapshot moved to another fleet, with that fleet's settings if another cached SIM shows them."""
        if fleet_sid is None:
            return replace(
                policy,
                fleet_sid=None,
                data_enabled=False,
                data_limit_bytes=0,
                network_access_profile_sid=None,
                allowed_network_sids=frozenset(),
            )
        other = self.policies.fleet_sample(fleet_sid)
        if other is None:
            return policy  # a fleet no cached SIM is in: the reload that follows brings it
        return replace(
            policy,
            fleet_sid=fleet_sid,
            data_enabled=other.data_enabled,
            data_limit_bytes=other.data_limit_bytes,
            network_access_profile_sid=other.network_access_profile_sid,
            allowed_network_sids=other.allowed_network_sids,
        )
