"""An asyncio RADIUS client (RFC 2865 §2.4 retransmission, RFC 5080 §2.2): one UDP socket, many requests in flight.

Used by the gateway to ask the AAA (Access-Request, Accounting-Request) and usable by any element that has to
talk RADIUS to a server (Disconnect-Request to a NAS). Requests are matched to responses by Identifier; the
response must come from the server the request went to and carry a valid Response Authenticator (and
Message-Authenticator, when present), otherwise it is dropped and counted, as RFC 2865 §3 says.

Identifiers are one octet, so at most 256 requests are in flight on the socket; more wait for a free one.
A retransmission resends the very same octets with the same Identifier (RFC 5080 §2.2.1): the server's
duplicate detection then answers it from its cache instead of processing it twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from cellplane.protocols import radius
from cellplane.protocols.radius import Packet
from cellplane.protocols.radius.codec import Attributes
from cellplane.protocols.radius.constants import RESPONSE_TO

log = logging.getLogger("cellplane.radius.client")

Address = tuple[str, int]


class RadiusTimeout(Exception):
    """The server did not answer the request nor any of its retransmissions."""


@dataclass
class ClientStats:
    sent: int = 0
    retransmits: int = 0
    answered: int = 0
    timeouts: int = 0
    dropped: int = 0  # responses that were malformed, unexpected, from the wrong peer or badly authenticated


@dataclass(slots=True)
class _Pending:
    server: Address
    authenticator: bytes
    future: asyncio.Future[Packet]


class RadiusClient(asyncio.DatagramProtocol):
    """Send RADIUS requests to servers that share `secret` with us.

    `timeout` is how long to wait for an answer before each retransmission; `retries` how many
    retransmissions follow the first send. The whole request therefore gives up after
    (retries + 1) * timeout seconds with RadiusTimeout.
    """

    def __init__(self, secret: bytes, *, bind: str = "127.0.0.1", timeout: float = 1.0, retries: int = 3) -> None:
        self.secret = secret
        self.bind = bind
        self.timeout = timeout
        self.retries = retries
        self.stats = ClientStats()
        self._transport: asyncio.DatagramTransport | None = None
        self._free: deque[int] = deque(range(256))
        self._freed = asyncio.Condition()
        self._pending: dict[int, _Pending] = {}

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(self.bind, 0))

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(RadiusTimeout("client closed"))
        self._pending.clear()

    @property
    def address(self) -> Address:
        if self._transport is None:
            raise RuntimeError("RADIUS client not started")
        host, port = self._transport.get_extra_info("sockname")[:2]
        return host, port

    async def request(
        self, server: Address, code: int, attributes: Attributes, *, message_authenticator: bool | None = None
    ) -> Packet:
        """Send one request to `server` and return its verified response; RadiusTimeout if none comes."""
        if self._transport is None:
            raise RuntimeError("RADIUS client not started")
        identifier = await self._take_identifier()
        try:
            data = radius.build_request(
                code, identifier, attributes, self.secret, message_authenticator=message_authenticator
            )
            future: asyncio.Future[Packet] = asyncio.get_running_loop().create_future()
            self._pending[identifier] = _Pending(server, data[4:20], future)
            for attempt in range(self.retries + 1):
                if self._transport is None:
                    raise RadiusTimeout("client closed")
                self._transport.sendto(data, server)
                self.stats.sent += 1
                if attempt:
                    self.stats.retransmits += 1
                try:
                    # shield: a timeout must not cancel the future a late answer may still resolve.
                    response = await asyncio.wait_for(asyncio.shield(future), self.timeout)
                except TimeoutError:
                    continue
                self.stats.answered += 1
                return response
            self.stats.timeouts += 1
            raise RadiusTimeout(f"no answer from {server[0]}:{server[1]} after {self.retries + 1} attempts")
        finally:
            self._pending.pop(identifier, None)
            await self._give_identifier(identifier)

    async def _take_identifier(self) -> int:
        async with self._freed:
            await self._freed.wait_for(lambda: bool(self._free))
            return self._free.popleft()

    async def _give_identifier(self, identifier: int) -> None:
        # Reused last: a late answer to an abandoned request then finds nothing instead of a newer request.
        async with self._freed:
            self._free.append(identifier)
            self._freed.notify()

    # --- asyncio.DatagramProtocol ------------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            packet = radius.decode(data)
        except radius.MalformedPacket:
            self.stats.dropped += 1
            return
        pending = self._pending.get(packet.identifier)
        if (
            pending is None
            or pending.future.done()
            or (addr[0], addr[1]) != pending.server
            or RESPONSE_TO.get(packet.code) is None
            or not radius.verify_response(packet, pending.authenticator, self.secret)
        ):
            self.stats.dropped += 1
            return
        pending.future.set_result(packet)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like: the retransmission timer decides, as for a lost datagram.
        log.debug("RADIUS client socket error: %s", exc)
