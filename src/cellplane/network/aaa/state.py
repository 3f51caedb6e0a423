"""The AAA's memory: SIM policy snapshots by IMSI, and the live data sessions by NAS and by SIM.

The policy cache is bounded (`limit` SIMs, least recently used leave first) and filled on demand: a SIM that is
not in it is loaded from the database when it first attaches or sends accounting (on_demand.py), then kept
current by the AAA itself (accounting batches, hooks, change notifications, the poller). A SIM whose data session
is open, and every Thing (its network's pool must know its locked address), stays in the cache whatever the bound:
enforcement and address leases need their snapshots. With `limit` 0 the cache is not bounded and every SIM is
loaded at start (the AAA's behaviour before the bound; small deployments may prefer it).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator

from cellplane.domain.policy import SimPolicy
from cellplane.services.accounting_records import LiveSession

SessionKey = tuple[str, str]  # (NAS identity, Acct-Session-Id): unique per session (RFC 2866 §5.5)

# Entries looked at past the bound per store: a cache of mostly kept (pinned) entries grows instead of spinning.
_EVICT_TRIES = 8


class PolicyCache:
    """IMSI -> SimPolicy (least recently used first), SIM sid -> IMSI for changes that arrive by SIM, and the IMSIs
    the database has no claimed SIM for (asked about lately: not asked again until a change names them)."""

    def __init__(self, limit: int = 0, keep: Callable[[SimPolicy], bool] = lambda policy: False) -> None:
        self.limit = limit
        self._keep = keep
        self.by_imsi: OrderedDict[str, SimPolicy] = OrderedDict()
        self._imsi_of: dict[str, str] = {}
        # Fleet sid -> the last snapshot seen in it: that fleet's settings, for a SIM that just moved into it.
        self._fleet_sample: dict[str, SimPolicy] = {}
        self.unknown: OrderedDict[str, None] = OrderedDict()
        self.evictions = 0

    def __len__(self) -> int:
        return len(self.by_imsi)

    @property
    def bounded(self) -> bool:
        return self.limit > 0

    def get(self, imsi: str | None) -> SimPolicy | None:
        return self.by_imsi.get(imsi) if imsi else None

    def holds(self, imsi: str | None) -> bool:
        """Whether the cache can answer for this IMSI (a snapshot, or known to be no claimed SIM)."""
        return not imsi or imsi in self.by_imsi or imsi in self.unknown

    def touch(self, imsi: str) -> SimPolicy | None:
        """The snapshot of an IMSI being used now (an attach): it moves to the back of the eviction order."""
        policy = self.by_imsi.get(imsi)
        if policy is not None and self.limit:
            self.by_imsi.move_to_end(imsi)
        return policy

    def of_sim(self, sim_sid: str) -> SimPolicy | None:
        imsi = self._imsi_of.get(sim_sid)
        return self.by_imsi.get(imsi) if imsi else None

    def put(self, imsi: str, policy: SimPolicy | None) -> SimPolicy | None:
        """Store (or, with None, forget) one SIM's snapshot; returns the one it replaces."""
        if policy is None:
            old = self.by_imsi.pop(imsi, None)
            if old is not None:
                self._imsi_of.pop(old.sim_sid, None)
            return old
        self.unknown.pop(imsi, None)
        old = self.by_imsi.get(imsi)
        self.by_imsi[imsi] = policy
        self._imsi_of[policy.sim_sid] = imsi
        if policy.fleet_sid is not None:
            self._fleet_sample[policy.fleet_sid] = policy
        if old is None and self.limit and len(self.by_imsi) > self.limit:
            self._evict(imsi)
        return old

    def put_unknown(self, imsi: str) -> None:
        """The database has no claimed SIM with this IMSI: answer so from memory (a bounded list of them)."""
        self.put(imsi, None)
        self.unknown[imsi] = None
        if len(self.unknown) > max(self.limit // 10, 1000):
            self.unknown.popitem(last=False)

    def _evict(self, newest: str) -> None:
        """Drop least recently used snapshots down to the bound, never the one just stored (its request uses it)."""
        by_imsi = self.by_imsi
        for _ in range(_EVICT_TRIES):
            if len(by_imsi) <= self.limit:
                return
            imsi, policy = next(iter(by_imsi.items()))
            if imsi == newest:
                return
            if self._keep(policy):
                by_imsi.move_to_end(imsi)
                continue
            del by_imsi[imsi]
            self._imsi_of.pop(policy.sim_sid, None)
            if policy.fleet_sid is not None and self._fleet_sample.get(policy.fleet_sid) is policy:
                del self._fleet_sample[policy.fleet_sid]
            self.evictions += 1

    def replace_all(self, policies: dict[str, SimPolicy]) -> None:
        self.by_imsi = OrderedDict(policies)
        self._imsi_of = {policy.sim_sid: imsi for imsi, policy in policies.items()}
        self._fleet_sample = {p.fleet_sid: p for p in policies.values() if p.fleet_sid is not None}
        self.unknown.clear()

    def fleet_sample(self, fleet_sid: str) -> SimPolicy | None:
        return self._fleet_sample.get(fleet_sid)


class LiveSessions:
    """Open data sessions, by (NAS, Acct-Session-Id) and by SIM."""

    def __init__(self) -> None:
        self._by_key: dict[SessionKey, LiveSession] = {}
        self._by_sim: dict[str, dict[SessionKey, LiveSession]] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __iter__(self) -> Iterator[LiveSession]:
        return iter(list(self._by_key.values()))

    @staticmethod
    def key(session: LiveSession) -> SessionKey:
        return (session.nas_id, session.acct_session_id)

    def apply(self, session: LiveSession) -> None:
        """Record a session as the database now has it: open ones are kept, closed ones forgotten."""
        key = self.key(session)
        if session.open:
            self._by_key[key] = session
            self._by_sim.setdefault(session.sim_sid, {})[key] = session
        else:
            self._by_key.pop(key, None)
            of_sim = self._by_sim.get(session.sim_sid)
            if of_sim is not None:
                of_sim.pop(key, None)
                if not of_sim:
                    del self._by_sim[session.sim_sid]

    def apply_all(self, sessions: Iterable[LiveSession]) -> None:
        for session in sessions:
            self.apply(session)

    def of_sim(self, sim_sid: str) -> list[LiveSession]:
        return list(self._by_sim.get(sim_sid, {}).values())

    def sims(self) -> list[str]:
        return list(self._by_sim)

    def has_sim(self, sim_sid: str) -> bool:
        return sim_sid in self._by_sim
