"""The gateway's GTPv2-C endpoint (TS 29.274 on S5/S8): receives requests, answers them, sends its own.

Transport rules of TS 29.274 §7.6 live here, apart from what the messages mean (the dispatcher and its
handlers): a response goes to the address and port its request came from; a retransmitted request (same
peer, type and sequence number) gets the response already sent, or nothing while the first copy is still
being worked on, so a slow AAA never causes two sessions for one Create Session; our own requests are
retransmitted every T3 seconds up to N3 times and matched to their response by sequence number.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from cellplane.protocols.gtp import GtpcMessage, GtpError, decode
from cellplane.protocols.gtp.header import MAX_SEQ

from .dispatcher import Dispatcher, is_request
from .user_plane import tune

log = logging.getLogger("cellplane.gateway.gtpc")

Address = tuple[str, int]


class ControlPlane(asyncio.DatagramProtocol):
    def __init__(self, dispatcher: Dispatcher, *, t3: float, n3: int) -> None:
        self._dispatcher = dispatcher
        self._t3 = t3
        self._n3 = n3
        self._transport: asyncio.DatagramTransport | None = None
        # (peer, message type, sequence) -> the encoded response, kept for the time a peer retransmits.
        self._answered: dict[tuple[Address, int, int], tuple[float, bytes | None]] = {}  # None: in progress
        self._keep = t3 * (n3 + 1) * 2 + 5
        self._outgoing: dict[tuple[int, Address], asyncio.Future[Any]] = {}
        self._seq = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.malformed = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a datagram endpoint's transport
        tune(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def next_seq(self) -> int:
        self._seq = self._seq + 1 if self._seq < MAX_SEQ else 1
        return self._seq

    @property
    def address(self) -> Address:
        if self._transport is None:
            raise RuntimeError("GTP-C endpoint not started")
        host, port = self._transport.get_extra_info("sockname")[:2]
        return host, port

    # --- incoming -------------------------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        peer = (addr[0], addr[1])
        try:
            message = decode(data)
        except GtpError as error:
            self.malformed += 1
            self._answer_error(error, peer)
            return
        except Exception:  # a codec bug must cost one datagram, never the endpoint
            self.malformed += 1
            log.exception("GTP-C datagram from %s:%s could not be decoded", *peer)
            return
        if not is_request(message):
            future = self._outgoing.get((message.seq, peer))
            if future is not None and not future.done():
                future.set_result(message)
            return
        key = (peer, message.message_type, message.seq)
        seen = self._answered.get(key)
        if seen is not None:
            if seen[1] is not None:
                self._send(seen[1], peer)  # TS 29.274 §7.6: a retransmitted request gets the same response
            return
        self._prune()
        self._answered[key] = (time.monotonic(), None)
        task = asyncio.ensure_future(self._handle(message, peer, key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, message: GtpcMessage, peer: Address, key: tuple[Address, int, int]) -> None:
        try:
            response = await self._dispatcher.dispatch(message, peer)
        except Exception:
            log.exception("GTP-C %s from %s:%s failed", type(message).__name__, *peer)
            response = self._dispatcher.failure(message)
        if response is None:
            self._answered.pop(key, None)
            return
        data = response.encode()
        self._answered[key] = (time.monotonic(), data)
        self._send(data, peer)

    def _answer_error(self, error: GtpError, peer: Address) -> None:
        """TS 29.274 §7.7: a request we could not read is answered with the cause the codec found, when the
        header said enough (type and sequence) to answer it; anything else is discarded."""
        try:
            response = self._dispatcher.rejection(error)
            if response is not None:
                self._send(response.encode(), peer)
        except Exception:
            log.exception("could not answer a malformed GTP-C request from %s:%s", *peer)

    def _prune(self) -> None:
        if len(self._answered) < 1024:
            return
        horizon = time.monotonic() - self._keep
        for key in [k for k, (at, data) in self._answered.items() if at < horizon and data is not None]:
            del self._answered[key]

    # --- outgoing -------------------------------------------------------------------------------------------

    def _send(self, data: bytes, peer: Address) -> None:
        if self._transport is not None:
            self._transport.sendto(data, peer)

    async def request(self, message: GtpcMessage, peer: Address) -> GtpcMessage | None:
        """Send a request of ours and wait for its response: T3 seconds per try, N3 retransmissions."""
        data = message.encode()
        key = (message.seq, peer)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._outgoing[key] = future
        try:
            for _ in range(self._n3 + 1):
                self._send(data, peer)
                try:
                    result: GtpcMessage = await asyncio.wait_for(asyncio.shield(future), self._t3)
                    return result
                except TimeoutError:
                    continue
            return None
        finally:
            self._outgoing.pop(key, None)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks))
        if self._transport is not None:
            self._transport.close()
