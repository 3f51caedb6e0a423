"""Opening and ending sessions: the one place that keeps the session table, accounting and the SGW in step.

Every way a session ends goes through `end`: the SGW's Delete Session, a Disconnect-Request from the AAA,
a Session-Timeout, the SGW losing the tunnel, a new attach of the same IMSI, the gateway stopping. It
removes the session first (its packets stop counting at that instant), ends its flows in its routing domain
(their conntrack entries), then reports Accounting Stop with the final counters and, when the network initiates
it, tells the SGW with a Delete Bearer Request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from cellplane.protocols.gtp import DeleteBearerRequest, DeleteBearerResponse
from cellplane.protocols.radius import AcctStatusType, AcctTerminateCause

from .aaa import AaaLink
from .sessions import Session, SessionTable

log = logging.getLogger("cellplane.gateway")

# Sends a GTP-C request to an address and returns its response (or None when the peer never answered).
Requester = Callable[[Any, tuple[str, int]], Awaitable[Any]]


class SessionManager:
    def __init__(self, table: SessionTable, aaa: AaaLink) -> None:
        self.table = table
        self.aaa = aaa
        self.requester: Requester | None = None  # the GTP-C endpoint's `request`, set when it is bound
        self._timers: dict[Session, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.next_seq: Callable[[], int] = lambda: 0

    def open(self, session: Session, timeout: float | None = None) -> None:
        """Make `session` live: its TEIDs route, Accounting Start goes to the AAA."""
        previous = self.table.by_imsi.get(session.imsi)
        if previous is not None:
            # TS 29.274 §7.2.1: a Create Session for an IMSI that already has a PDN connection to this APN
            # replaces it; the SGW has forgotten the old one, so it is not told.
            self.end(previous, AcctTerminateCause.NAS_REQUEST, notify_sgw=False)
        self.table.add(session)
        self.aaa.account(session, AcctStatusType.START)
        if timeout:
            # RFC 2865 §5.27: Session-Timeout ends the session after that many seconds.
            self._timers[session] = asyncio.get_running_loop().call_later(
                timeout, self.end, session, AcctTerminateCause.SESSION_TIMEOUT, True
            )
        log.info("session %s opened: IMSI %s at %s", session.acct_session_id, session.imsi, session.ue_ip)

    def end(self, session: Session, cause: int, notify_sgw: bool, gtp_cause: int | None = None) -> bool:
        """End `session` with Acct-Terminate-Cause `cause`; False if it had already ended. `gtp_cause` goes in the
        Delete Bearer Request (TS 29.274 §7.2.9.2: why the network tears it down, e.g. Reactivation requested)."""
        if not self.table.remove(session):
            return False
        timer = self._timers.pop(session, None)
        if timer is not None:
            timer.cancel()
        self.spawn(self.aaa.account(session, AcctStatusType.STOP, cause))
        if session.sgi is not None and session.sgi.end_flows is not None:
            # Its flows end with it: a device attaching again with the address must not find them alive (sgi.py).
            self.spawn(asyncio.to_thread(session.sgi.end_flows, session.ue_ip))
        if notify_sgw:
            self.spawn(self._delete_bearer(session, gtp_cause))
        log.info("session %s ended (cause %s)", session.acct_session_id, cause)
        return True

    def interim(self, sessions: list[Session] | None = None) -> list[Awaitable[None]]:
        """Interim-Update for `sessions` (all by default); the awaitables finish when the AAA has them."""
        chosen = list(self.table) if sessions is None else [s for s in sessions if not s.ended]
        return [self.aaa.account(session, AcctStatusType.INTERIM_UPDATE) for session in chosen]

    async def _delete_bearer(self, session: Session, cause: int | None = None) -> None:
        """TS 29.274 §7.2.9.2: a PGW-initiated bearer deactivation; the Linked EBI deletes the PDN connection."""
        if self.requester is None:
            return
        request = DeleteBearerRequest(seq=self.next_seq(), teid=session.sgw_control_teid, lbi=session.ebi, cause=cause)
        response = await self.requester(request, session.sgw_control)
        if response is None:
            log.warning("SGW %s:%s did not answer the Delete Bearer Request", *session.sgw_control)
        elif not isinstance(response, DeleteBearerResponse):
            log.warning("SGW answered a Delete Bearer Request with %s", type(response).__name__)

    def spawn(self, work: Awaitable[Any]) -> None:
        """Run `work` in the background, keeping a reference until it is done (asyncio keeps only weak ones)."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("gateway background work failed", exc_info=task.exception())

    async def close(self, timeout: float) -> None:
        """End every session (NAS-Reboot) and give the accounting that follows `timeout` seconds to get out."""
        for session in list(self.table):
            self.end(session, AcctTerminateCause.NAS_REBOOT, notify_sgw=False)
        pending = [*self._tasks, *self.aaa.pending()]
        if pending:
            _done, late = await asyncio.wait(pending, timeout=timeout)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
