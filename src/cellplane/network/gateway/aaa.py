"""The gateway's side of its conversation with the AAA: authorize a Create Session, report accounting.

Exactly what a third-party PGW does over RADIUS (docs/NETWORK.md): one Access-Request per Create Session,
then Accounting Start, Interim-Updates and Stop. Accounting of one session is sent in order (a Stop never
overtakes its Start) and off the GTP path: a slow AAA delays reports, never attaches or packets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass

from cellplane.protocols.gtp import Cause, CreateSessionRequest
from cellplane.protocols.radius import AcctStatusType, Code, MalformedPacket
from cellplane.protocols.radius.codec import Attributes

from ..radius_client import RadiusClient, RadiusTimeout
from . import codec
from .config import GatewayConfig
from .sessions import Session

log = logging.getLogger("cellplane.gateway.aaa")


@dataclass(frozen=True, slots=True)
class Decision:
    """The AAA's answer to one Create Session: an address to give, or a cause and a reason to refuse with."""

    accepted: bool
    ue_ip: str | None = None
    classes: tuple[bytes, ...] = ()
    session_timeout: float | None = None
    # WISPr-Bandwidth-Max-Up/-Down of the Access-Accept (bit/s): the session starts throttled.
    rate_up: int | None = None
    rate_down: int | None = None
    # Cellplane-Routing-Domain of the Access-Accept: the routing domain of the session (None: the default one).
    domain: str | None = None
    cause: int = Cause.REQUEST_ACCEPTED
    reason: str | None = None


@dataclass
class AccountingStats:
    sent: int = 0
    failed: int = 0


class AaaLink:
    """Access and accounting requests to one AAA through a RadiusClient."""

    def __init__(self, client: RadiusClient, config: GatewayConfig, *, accounting_attempts: int = 3) -> None:
        self._client = client
        self._auth = (config.aaa_host, config.aaa_auth_port)
        self._acct = (config.aaa_host, config.aaa_acct_port)
        self._nas_ip = config.host
        self._nas_identifier = config.nas_identifier
        self._attempts = accounting_attempts
        self._tails: dict[Session, asyncio.Task[None]] = {}
        self.stats = AccountingStats()

    async def authorize(self, request: CreateSessionRequest) -> Decision:
        attributes = codec.access_request(request, self._nas_ip, self._nas_identifier)
        try:
            answer = await self._client.request(self._auth, Code.ACCESS_REQUEST, attributes)
        except RadiusTimeout:
            log.warning("AAA did not answer the Access-Request for IMSI %s", request.imsi)
            return Decision(False, cause=Cause.REMOTE_PEER_NOT_RESPONDING, reason="AAA server did not answer")
        if answer.code == Code.ACCESS_ACCEPT:
            address = answer.attributes.get("Framed-IP-Address")
            try:
                rate_up, rate_down = codec.bandwidth(answer) or (None, None)
            except MalformedPacket:
                rate_up = rate_down = None
            return Decision(
                True,
                ue_ip=address if isinstance(address, str) else None,
                classes=codec.classes(answer),
                session_timeout=codec.session_timeout(answer),
                rate_up=rate_up,
                rate_down=rate_down,
                domain=codec.routing_domain(answer),
            )
        if answer.code == Code.ACCESS_REJECT:
            return Decision(False, cause=codec.REJECT_CAUSE, reason=codec.reject_reason(answer))
        # Access-Challenge: a PGW has no way to put a challenge to the device (TS 29.061 §16.3.1).
        return Decision(False, cause=codec.REJECT_CAUSE, reason=f"unexpected RADIUS answer code {answer.code}")

    def account(self, session: Session, status: AcctStatusType, terminate_cause: int | None = None) -> Awaitable[None]:
        """Queue one Accounting-Request for `session` after those already queued; returns when it is answered
        (or given up). The usage reported is the session's counters now, not when the request leaves."""
        usage = (session.up_octets, session.up_packets, session.down_octets, session.down_packets)
        attributes = codec.accounting_request(
            session, status, self._nas_ip, self._nas_identifier, usage=usage, terminate_cause=terminate_cause
        )
        previous = self._tails.get(session)
        task: asyncio.Task[None] = asyncio.ensure_future(self._send_after(previous, session, status, attributes))
        self._tails[session] = task
        task.add_done_callback(lambda done: self._forget(session, done))
        return task

    def _forget(self, session: Session, task: asyncio.Task[None]) -> None:
        if self._tails.get(session) is task:
            del self._tails[session]

    async def _send_after(
        self,
        previous: asyncio.Task[None] | None,
        session: Session,
        status: AcctStatusType,
        attributes: Attributes,
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])  # its outcome is logged there; order is all that matters here
        for attempt in range(1, self._attempts + 1):
            try:
                await self._client.request(self._acct, Code.ACCOUNTING_REQUEST, attributes)
            except RadiusTimeout:
                # RFC 2866 §2: a client keeps retrying an unanswered Accounting-Request. Each round is a new
                # Identifier with the same cumulative counters, so the AAA cannot count it twice.
                log.warning(
                    "AAA did not answer accounting %s of session %s (round %d)",
                    status.name,
                    session.acct_session_id,
                    attempt,
                )
                continue
            self.stats.sent += 1
            return
        self.stats.failed += 1

    def pending(self) -> list[asyncio.Task[None]]:
        """The last queued accounting request of each session (each waits for those before it)."""
        return list(self._tails.values())
