"""The gateway's Dynamic Authorization server (RFC 5176): the AAA ends a session with a Disconnect-Request and
changes its rate with a CoA-Request.

RFC 5176 as a NAS applies it: requests only from known clients holding the secret (§5.1, §3.3 computed
Request Authenticator), a retransmission answered from a cache rather than acted on twice (§2.3), the
session found by every identification attribute the request carries (§3: all must match the same
session), Disconnect-ACK once it is gone or NAK with Error-Cause (§3.5). Ending it sends a Delete Bearer
Request to the SGW and Accounting Stop with Acct-Terminate-Cause Admin-Reset, or the cause the request carries
(§3.6 allows Acct-Terminate-Cause in a Disconnect-Request). `Callback` there is the AAA's connectivity reset: the
Delete Bearer Request then says Reactivation requested (TS 29.274 §8.4 cause 8), so the device attaches again
(docs/NETWORK.md).
A CoA-Request names the session the same way and carries WISPr-Bandwidth-Max-Up and/or -Down (bit/s): the session
is policed at those rates from then on (policer.py; 0 lifts the limit of that way), and CoA-ACK answers. A CoA
without either is answered CoA-NAK Missing-Attribute (402): a rate is the only authorization we change in flight.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from cellplane.protocols import radius
from cellplane.protocols.gtp import Cause
from cellplane.protocols.radius import AcctTerminateCause, Code, ErrorCause, Packet

from .codec import bandwidth
from .manager import SessionManager
from .sessions import Session

log = logging.getLogger("cellplane.gateway.dae")

_LAST_TERMINATE_CAUSE = 18  # Host-Request: the last value RFC 2866 §5.10 defines
_REMEMBER = 30.0  # seconds a response is kept for retransmissions (RFC 5080 §2.2.2 suggests a few seconds+)


@dataclass
class DaeStats:
    disconnected: int = 0
    rate_changes: int = 0
    naks: int = 0
    dropped: int = 0  # unknown clients, malformed or badly authenticated packets


def _terminate_cause(packet: Packet) -> int:
    """The Acct-Terminate-Cause the Stop reports: the request's own (RFC 2866 values 1-18), else Admin-Reset."""
    given = packet.attributes.get("Acct-Terminate-Cause")
    if isinstance(given, int) and not isinstance(given, bool) and 1 <= given <= _LAST_TERMINATE_CAUSE:
        return given
    return AcctTerminateCause.ADMIN_RESET


class DynamicAuthorizationServer(asyncio.DatagramProtocol):
    def __init__(
        self, manager: SessionManager, secret: bytes, clients: tuple[str, ...], nas_ip: str, nas_identifier: str
    ) -> None:
        self._manager = manager
        self._secret = secret
        self._clients = frozenset(clients)
        self._nas_ip = nas_ip
        self._nas_identifier = nas_identifier
        self._transport: asyncio.DatagramTransport | None = None
        self._recent: dict[tuple[tuple[str, int], int, bytes], tuple[float, bytes]] = {}
        self.stats = DaeStats()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a datagram endpoint's transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        peer = (addr[0], addr[1])
        if peer[0] not in self._clients:
            self.stats.dropped += 1
            return
        try:
            packet = radius.decode(data)
        except radius.MalformedPacket:
            self.stats.dropped += 1
            return
        if packet.code not in (Code.DISCONNECT_REQUEST, Code.COA_REQUEST) or not radius.verify_request(
            packet, self._secret
        ):
            self.stats.dropped += 1
            return
        key = (peer, packet.identifier, packet.authenticator)
        now = time.monotonic()
        cached = self._recent.get(key)
        if cached is not None and now - cached[0] < _REMEMBER:
            self._send(cached[1], peer)
            return
        try:
            response = self._answer(packet)
        except Exception:  # a bug costs this request, never the server
            log.exception("Disconnect-Request from %s:%s failed", *peer)
            response = self._reply(packet, Code.DISCONNECT_NAK, ErrorCause.RESOURCES_UNAVAILABLE)
        self._forget_old(now)
        self._recent[key] = (now, response)
        self._send(response, peer)

    def _answer(self, packet: Packet) -> bytes:
        nak = Code.COA_NAK if packet.code == Code.COA_REQUEST else Code.DISCONNECT_NAK
        # RFC 5176 §3: NAS identification, when given, must name us.
        nas_identifier = packet.attributes.get("NAS-Identifier")
        nas_ip = packet.attributes.get("NAS-IP-Address")
        if (nas_identifier is not None and nas_identifier != self._nas_identifier) or (
            nas_ip is not None and nas_ip != self._nas_ip
        ):
            return self._reply(packet, nak, ErrorCause.NAS_IDENTIFICATION_MISMATCH)
        matches = self._matches(packet)
        if not matches:
            return self._reply(packet, nak, ErrorCause.MISSING_ATTRIBUTE)
        found = matches[0]
        if found is None or any(match is not found for match in matches):
            # RFC 5176 §3: every identification attribute must point to the same session.
            return self._reply(packet, nak, ErrorCause.SESSION_CONTEXT_NOT_FOUND)
        if packet.code == Code.COA_REQUEST:
            return self._change(packet, found)
        cause = _terminate_cause(packet)
        # A reset ends the session so that a new one starts: the SGW is told the UE should reactivate it.
        gtp_cause = Cause.REACTIVATION_REQUESTED if cause == AcctTerminateCause.CALLBACK else None
        self._manager.end(found, cause, notify_sgw=True, gtp_cause=gtp_cause)
        self.stats.disconnected += 1
        log.info("session %s disconnected by the AAA (cause %s)", found.acct_session_id, cause)
        return self._reply(packet, Code.DISCONNECT_ACK)

    def _change(self, packet: Packet, session: Session) -> bytes:
        try:
            rates = bandwidth(packet)
        except radius.MalformedPacket:
            return self._reply(packet, Code.COA_NAK, ErrorCause.INVALID_ATTRIBUTE_VALUE)
        if rates is None:
            return self._reply(packet, Code.COA_NAK, ErrorCause.MISSING_ATTRIBUTE)
        session.limit(*rates)
        self.stats.rate_changes += 1
        log.info("session %s rate set to %s/%s bit/s up/down by the AAA", session.acct_session_id, *rates)
        return self._reply(packet, Code.COA_ACK)

    def _matches(self, packet: Packet) -> list[Session | None]:
        """The session each identification attribute of the request points to (None where it points to none)."""
        table = self._manager.table
        lookups = (
            ("Acct-Session-Id", table.by_acct_session_id),
            ("User-Name", table.by_imsi),
            ("3GPP-IMSI", table.by_imsi),
        )
        found = [index.get(str(packet.attributes[name])) for name, index in lookups if name in packet.attributes]
        if "Framed-IP-Address" in packet.attributes:
            # An address is unique within its routing domain only (private networks may share a CIDR), and the
            # table's address index holds the default domain's: beside another identifier, the address must be
            # that session's own; alone, it names a session of the default domain.
            address = str(packet.attributes["Framed-IP-Address"])
            named = next((s for s in found if s is not None and s.ue_ip == address), None)
            found.append(named or table.by_ue_ip.get(address))
        return found

    def _reply(self, packet: Packet, code: int, error: int | None = None) -> bytes:
        if code in (Code.DISCONNECT_NAK, Code.COA_NAK):
            self.stats.naks += 1
        attributes = [("Error-Cause", int(error))] if error is not None else []
        # Signed back when the request was (RFC 5176 §3.3 allows Message-Authenticator in every message).
        signed = "Message-Authenticator" in packet.attributes
        return radius.build_response(packet, code, attributes, self._secret, message_authenticator=signed)

    def _forget_old(self, now: float) -> None:
        if len(self._recent) < 256:
            return
        for key in [k for k, (at, _) in self._recent.items() if now - at >= _REMEMBER]:
            del self._recent[key]

    def _send(self, data: bytes, peer: tuple[str, int]) -> None:
        if self._transport is not None:
            self._transport.sendto(data, peer)
