"""The emulated SGW's GTPv2-C endpoint (S5/S8 towards the gateway): our requests out, the gateway's in.

Our requests (Create Session, Delete Session) are retransmitted every T3 seconds up to N3 times and
matched to their response by sequence number (TS 29.274 §7.6). The gateway's requests are Echo and
Delete Bearer (a network-initiated detach); a retransmitted one gets the response already sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from cellplane.protocols.gtp import (
    Cause,
    DeleteBearerRequest,
    DeleteBearerResponse,
    EchoRequest,
    EchoResponse,
    GtpcMessage,
    GtpError,
    decode,
)
from cellplane.protocols.gtp.header import MAX_SEQ

log = logging.getLogger("cellplane.emulator.gtpc")

Address = tuple[str, int]
# Called with each new Delete Bearer Request; returns the PGW control TEID of the session it deleted, or None.
BearerDeleted = Callable[[DeleteBearerRequest], int | None]


class SgwControl(asyncio.DatagramProtocol):
    def __init__(self, gateway: Address, *, t3: float, n3: int, on_delete_bearer: BearerDeleted) -> None:
        self.gateway = gateway
        self._t3 = t3
        self._n3 = n3
        self._on_delete_bearer = on_delete_bearer
        self._transport: asyncio.DatagramTransport | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._answered: dict[tuple[Address, int, int], bytes] = {}
        self._seq = 0
        self.malformed = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a datagram endpoint's transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    @property
    def address(self) -> Address:
        if self._transport is None:
            raise RuntimeError("SGW GTP-C endpoint not started")
        host, port = self._transport.get_extra_info("sockname")[:2]
        return host, port

    def next_seq(self) -> int:
        self._seq = self._seq + 1 if self._seq < MAX_SEQ else 1
        return self._seq

    async def request(self, message: GtpcMessage) -> GtpcMessage | None:
        """Send a request to the gateway; its response, or None when it never came."""
        data = message.encode()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[message.seq] = future
        try:
            for _ in range(self._n3 + 1):
                if self._transport is None:
                    return None
                self._transport.sendto(data, self.gateway)
                try:
                    response: GtpcMessage = await asyncio.wait_for(asyncio.shield(future), self._t3)
                    return response
                except TimeoutError:
                    continue
            return None
        finally:
            self._pending.pop(message.seq, None)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        peer = (addr[0], addr[1])
        try:
            message = decode(data)
        except GtpError:
            self.malformed += 1
            return
        if isinstance(message, EchoRequest):
            self._send(EchoResponse(seq=message.seq, recovery=0).encode(), peer)
        elif isinstance(message, DeleteBearerRequest):
            key = (peer, message.message_type, message.seq)
            answer = self._answered.get(key)
            if answer is None:
                pgw_teid = self._on_delete_bearer(message)
                # TS 29.274 §7.2.10.2: the header carries the PGW's control TEID; 0 with Context Not Found.
                cause = Cause.CONTEXT_NOT_FOUND if pgw_teid is None else Cause.REQUEST_ACCEPTED
                answer = DeleteBearerResponse(
                    seq=message.seq, teid=pgw_teid or 0, cause=cause, lbi=message.lbi
                ).encode()
                if len(self._answered) > 1024:
                    self._answered.clear()
                self._answered[key] = answer
            self._send(answer, peer)
        else:
            future = self._pending.get(message.seq)
            if future is not None and not future.done():
                future.set_result(message)

    def _send(self, data: bytes, peer: Address) -> None:
        if self._transport is not None:
            self._transport.sendto(data, peer)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
