"""The AAA's memory: SIM policy snapshots by IMSI, and the live data sessions by NAS and by SIM.

Both are filled from the database at start and kept current by the AAA itself (accounting batches, hooks,
the poller), so an Access-Request never waits for a query.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from cellplane.domain.policy import SimPolicy
from cellplane.services.accounting_records import LiveSession

SessionKey = tuple[str, str]  # (NAS identity, Acct-Session-Id): unique per session (RFC 2866 §5.5)


class PolicyCache:
    """IMSI -> SimPolicy, and SIM sid -> IMSI for changes that arrive by SIM."""

    def __init__(self) -> None:
        self.by_imsi: dict[str, SimPolicy] = {}
        self._imsi_of: dict[str, str] = {}
        # Fleet sid -> the last snapshot seen in it: that fleet's settings, for a SIM that just moved into it.
        self._fleet_sample: dict[str, SimPolicy] = {}

    def __len__(self) -> int:
        return len(self.by_imsi)

    def get(self, imsi: str | None) -> SimPolicy | None:
        return self.by_imsi.get(imsi) if imsi else None

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
        old = self.by_imsi.get(imsi)
        self.by_imsi[imsi] = policy
        self._imsi_of[policy.sim_sid] = imsi
        if policy.fleet_sid is not None:
            self._fleet_sample[policy.fleet_sid] = policy
        return old

    def replace_all(self, policies: dict[str, SimPolicy]) -> None:
        self.by_imsi = dict(policies)
        self._imsi_of = {policy.sim_sid: imsi for imsi, policy in policies.items()}
        self._fleet_sample = {p.fleet_sid: p for p in policies.values() if p.fleet_sid is not None}

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
