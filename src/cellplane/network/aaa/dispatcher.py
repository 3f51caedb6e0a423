"""One UDP port of the AAA: admit the client, answer retransmissions, decode, authenticate, dispatch by code.

Per RFC 2865 §3 a packet from an unknown client, a malformed one and one that fails authentication are
silently discarded; each is counted (metrics.py) and none can take the server down: a handler that raises
drops its packet and is counted too. The dispatch table maps a packet code to its handler (handlers.py); a
code the port does not serve is dropped (RFC 2865 §3, RFC 2866 §3).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cellplane.protocols.radius import MalformedPacket, Packet, decode, verify_request

from . import metrics
from .duplicates import RecentRequests

log = logging.getLogger("cellplane.aaa")

Address = tuple[str, int]


@dataclass(slots=True)
class Request:
    """A decoded, authenticated request and where its answer goes."""

    packet: Packet
    source: Address
    secret: bytes
    endpoint: RadiusEndpoint
    key: tuple[Address, bytes]

    def reply(self, response: bytes) -> None:
        self.endpoint.send(self.key, response, self.source)


Handler = Callable[[Request], bytes | None]


class RadiusEndpoint(asyncio.DatagramProtocol):
    """A handler returns the response to send now, or None when it answers later through `Request.reply`
    (accounting, after its batch commits) or not at all."""

    def __init__(
        self,
        handlers: Mapping[int, Handler],
        clients: Mapping[str, bytes],
        recent: RecentRequests,
        received: Any,
        *,
        require_message_authenticator: bool = False,
    ) -> None:
        self.handlers = dict(handlers)
        self.clients = clients
        self.recent = recent
        self.received = received
        self.require_message_authenticator = require_message_authenticator
        self.transport: asyncio.DatagramTransport | None = None
        self.accepting = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport, whatever its class

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def error_received(self, exc: Exception) -> None:
        # An ICMP error for an answer we sent (the NAS went away): nothing to do, the NAS retransmits or not.
        log.debug("AAA socket error: %s", exc)

    @property
    def address(self) -> Address:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return host, port

    def datagram_received(self, data: bytes, addr: Address) -> None:  # type: ignore[override]
        self.received.inc()
        secret = self.clients.get(addr[0])
        if secret is None or not self.accepting:
            metrics.DROP_UNKNOWN_CLIENT.inc()
            return
        key = (addr, data[:20])
        cached = self.recent.lookup(key)
        if cached is not None:
            metrics.DUPLICATES.inc()
            if cached and self.transport is not None:
                self.transport.sendto(cached, addr)
            return
        try:
            packet = decode(data)
        except MalformedPacket:
            metrics.DROP_MALFORMED.inc()
            return
        handler = self.handlers.get(packet.code)
        if handler is None:
            metrics.DROP_UNSUPPORTED.inc()
            return
        if not verify_request(packet, secret, require_message_authenticator=self.require_message_authenticator):
            metrics.DROP_BAD_AUTHENTICATOR.inc()
            return
        try:
            response = handler(Request(packet, addr, secret, self, key))
        except Exception:
            log.exception("RADIUS handler for code %d failed; packet dropped", packet.code)
            metrics.DROP_ERROR.inc()
            return
        if response is not None:
            self.send(key, response, addr)

    def send(self, key: tuple[Address, bytes], response: bytes, addr: Address, now: float | None = None) -> None:
        self.recent.answered(key, response, time.monotonic() if now is None else now)
        if self.transport is not None:
            self.transport.sendto(response, addr)
