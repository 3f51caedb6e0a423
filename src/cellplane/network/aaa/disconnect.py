"""Disconnect-Request (RFC 5176 §3) to the NAS that holds a session the rules no longer allow, and CoA-Request
(RFC 5176 §3) to change the rate of one that goes on throttled.

The request names the session as docs/NETWORK.md agrees with the gateway: User-Name (the IMSI),
Acct-Session-Id, Framed-IP-Address and Event-Timestamp. It goes to the NAS's Dynamic Authorization port
(AaaConfig.dae_target), retransmitted by the RADIUS client; the outcome — ACK, NAK, or no answer — is recorded
as a connection event. A NAK with Error-Cause 503 (Session-Context-Not-Found) means the NAS has no such session:
ours is stale, and is closed. One request per session at a time, and not again for a while after an ACK (the
Accounting Stop that follows closes it).

A connectivity reset (a Wireless SIM's ResetStatus=resetting) is a Disconnect-Request like the others that also
carries Acct-Terminate-Cause = Callback (RFC 2866: the session ends for a new one; RFC 5176 §3.6 allows the attribute
in a Disconnect-Request): the gateway tells the SGW Reactivation requested and the device attaches again.

A CoA-Request names the session the same way and carries WISPr-Bandwidth-Max-Up and -Down (bit/s; 0 lifts the
limit): the gateway polices the session at that rate (docs/NETWORK.md). Its outcome is counted and logged; a NAK
or no answer is reported to the caller, which then no longer counts the session as throttled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime

from cellplane.domain.policy import EventType, RejectCode
from cellplane.network.radius_client import RadiusClient, RadiusTimeout
from cellplane.protocols.radius import AcctTerminateCause, Code, ErrorCause
from cellplane.services.accounting_records import LiveSession, NetworkEvent

from . import metrics
from .config import AaaConfig
from .state import LiveSessions, SessionKey

log = logging.getLogger("cellplane.aaa.disconnect")

_QUIET_AFTER_ACK = 30.0  # seconds: the NAS said the session is gone; its Stop is on the way
RESET_REASON = "Connectivity reset: the session ends and the SIM attaches again"


class Disconnector:
    def __init__(
        self,
        config: AaaConfig,
        record_event: Callable[[NetworkEvent], None],
        session_gone: Callable[[LiveSession], None],
        clock: Callable[[], datetime],
    ) -> None:
        self._config = config
        self._record_event = record_event
        self._session_gone = session_gone
        self._clock = clock
        self._clients: dict[bytes, RadiusClient] = {}
        self._in_flight: dict[SessionKey, asyncio.Task[None]] = {}
        self._acked: dict[SessionKey, float] = {}
        self._changes: dict[SessionKey, asyncio.Task[None]] = {}
        self._closing = False

    def disconnect(self, session: LiveSession, code: RejectCode) -> None:
        """Ask the session's NAS to end it (no-op when a request for it is already out or was just ACKed)."""
        self._start(session, code, code.reason)

    def reset(self, session: LiveSession) -> None:
        """Connectivity reset: ask the session's NAS to end it so that the device attaches again."""
        self._start(session, None, RESET_REASON)

    def _start(self, session: LiveSession, code: RejectCode | None, reason: str) -> None:
        key = LiveSessions.key(session)
        if self._closing or key in self._in_flight:
            return
        acked = self._acked.get(key)
        if acked is not None and time.monotonic() - acked < _QUIET_AFTER_ACK:
            return
        task = asyncio.create_task(self._send(session, code, reason), name=f"aaa-disconnect-{session.acct_session_id}")
        self._in_flight[key] = task
        task.add_done_callback(lambda _: self._in_flight.pop(key, None))

    def change_rate(self, session: LiveSession, rate: int, failed: Callable[[LiveSession], None]) -> None:
        """CoA-Request: police the session at `rate` bit/s each way (0: no limit); `failed(session)` when the NAS
        refuses it or never answers. A newer change replaces one still in flight."""
        key = LiveSessions.key(session)
        if self._closing:
            return
        previous = self._changes.pop(key, None)
        if previous is not None:
            previous.cancel()
        task = asyncio.create_task(self._change(session, rate, failed), name=f"aaa-coa-{session.acct_session_id}")
        self._changes[key] = task
        task.add_done_callback(lambda done: self._changes.pop(key, None) if self._changes.get(key) is done else None)

    async def _change(self, session: LiveSession, rate: int, failed: Callable[[LiveSession], None]) -> None:
        nas = session.nas_address or session.nas_id
        secret = self._config.clients.get(nas)
        if secret is None:
            log.warning("no RADIUS client %s for session %s: cannot change its rate", nas, session.sid)
            failed(session)
            return
        attributes = self._identify(session)
        attributes += [("WISPr-Bandwidth-Max-Up", rate), ("WISPr-Bandwidth-Max-Down", rate)]
        try:
            client = await self._client(secret)
            response = await client.request(self._config.dae_target(nas), Code.COA_REQUEST, attributes)
        except (RadiusTimeout, OSError) as error:
            metrics.coa("failed")
            log.warning("CoA-Request (rate %d bit/s) for session %s not answered: %s", rate, session.sid, error)
            failed(session)
            return
        if response.code == Code.COA_ACK:
            metrics.coa("acked")
            log.info("session %s now limited to %d bit/s (0: none)", session.sid, rate)
            return
        found = response.attributes.get("Error-Cause")
        metrics.coa("refused")
        log.warning("CoA-Request (rate %d bit/s) for session %s refused: Error-Cause %s", rate, session.sid, found)
        failed(session)
        if found == ErrorCause.SESSION_CONTEXT_NOT_FOUND:
            self._session_gone(session)

    async def close(self) -> None:
        self._closing = True
        for task in [*self._in_flight.values(), *self._changes.values()]:
            task.cancel()
        pending = [*self._in_flight.values(), *self._changes.values()]
        if pending:
            await asyncio.wait(pending, timeout=2)
        for client in self._clients.values():
            await client.close()
        self._clients.clear()

    async def _client(self, secret: bytes) -> RadiusClient:
        client = self._clients.get(secret)
        if client is None:
            client = RadiusClient(
                secret, timeout=self._config.disconnect_timeout, retries=self._config.disconnect_retries
            )
            await client.start()
            self._clients[secret] = client
        return client

    async def _send(self, session: LiveSession, code: RejectCode | None, reason: str) -> None:
        """`code` None: a connectivity reset (no rule refused the session), said with Acct-Terminate-Cause."""
        nas = session.nas_address or session.nas_id
        secret = self._config.clients.get(nas)
        if secret is None:
            # Only a NAS we know (and share a secret with) can have reported the session; nothing to send to.
            log.warning("no RADIUS client %s for session %s: cannot disconnect it", nas, session.sid)
            return
        target = self._config.dae_target(nas)
        attributes = self._identify(session)
        if code is None:
            attributes.append(("Acct-Terminate-Cause", int(AcctTerminateCause.CALLBACK)))
        try:
            client = await self._client(secret)
            response = await client.request(target, Code.DISCONNECT_REQUEST, attributes)
        except (RadiusTimeout, OSError) as error:
            metrics.disconnect("failed")
            self._event(session, EventType.DISCONNECT_FAILED, code, f"{reason}; the NAS did not answer: {error}")
            return
        if response.code == Code.DISCONNECT_ACK:
            metrics.disconnect("acked")
            self._acked[LiveSessions.key(session)] = time.monotonic()
            self._prune_acked()
            self._event(session, EventType.DISCONNECT_ACKED, code, reason)
            return
        found = response.attributes.get("Error-Cause")
        cause = found if isinstance(found, int) else None
        metrics.disconnect("refused")
        self._event(session, EventType.DISCONNECT_REFUSED, code, f"{reason}; the NAS refused: Error-Cause {cause}")
        if cause == ErrorCause.SESSION_CONTEXT_NOT_FOUND:
            self._session_gone(session)

    @staticmethod
    def _identify(session: LiveSession) -> list[tuple[str, str | int]]:
        """The session's identification (docs/NETWORK.md): User-Name, Acct-Session-Id, Framed-IP-Address, and
        Event-Timestamp (RFC 5176 §3: replay protection)."""
        attributes: list[tuple[str, str | int]] = [
            ("User-Name", session.imsi),
            ("Acct-Session-Id", session.acct_session_id),
        ]
        if session.ue_ip:
            attributes.append(("Framed-IP-Address", session.ue_ip))
        attributes.append(("Event-Timestamp", int(time.time())))
        return attributes

    def _event(self, session: LiveSession, event_type: EventType, code: RejectCode | None, reason: str) -> None:
        error_code = int(code) if code is not None else None
        self._record_event(session.event(event_type, self._clock(), reason, error_code))

    def _prune_acked(self) -> None:
        now = time.monotonic()
        for key in [k for k, at in self._acked.items() if now - at >= _QUIET_AFTER_ACK]:
            del self._acked[key]
