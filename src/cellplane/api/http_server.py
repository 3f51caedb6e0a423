"""uvicorn's httptools protocol, with each response's head and body leaving in one write, and limits that keep a
client from starving the server (issue 22).

Why: uvicorn writes the status line and headers when the app sends `http.response.start`, and the body when it
sends `http.response.body`; uvloop writes each at once, so every response costs two send() calls and, on
loopback, two wake-ups of the client. Holding the head until the body (or the end of the current loop turn,
whichever comes first) sends both together: about 9 us less CPU a request for a bare ASGI app under wrk here,
a quarter of its cost (bench/RESULTS.md).

Limits (HttpLimits; uvicorn has none of them for httptools): a connection must finish its request head within
`head_timeout` of being opened (or of its previous response), its body may not stall longer than `body_timeout`
between two reads, and the head may not exceed `max_header_bytes` (431). At `max_connections` open connections, a
new one pushes out the oldest connection still waiting for its request head (a stalled one, most likely), so
connections that send nothing cannot shut out clients that do; with none to push out, the new one gets a 503.

The deadlines are kept by one sweep over the open connections a few times per deadline, not by a timer per
request: a request pays for two clock reads, not for arming and cancelling timers (bench/RESULTS.md).
"""

from __future__ import annotations

import asyncio
import logging
import resource
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("cellplane.http")
FD_RESERVE = 64  # descriptors kept for what is not an HTTP connection: database, UDP elements, logs, callbacks


@dataclass(frozen=True)
class HttpLimits:
    """What one client may hold of the server; seconds and bytes (CELLPLANE_HTTP_* settings)."""

    head_timeout: float = 10.0
    body_timeout: float = 30.0
    max_header_bytes: int = 32 * 1024
    max_connections: int = 1000

    def connection_cap(self) -> int:
        """`max_connections`, lowered to what the process's descriptor limit leaves for HTTP connections."""
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        return max(8, min(self.max_connections, soft - FD_RESERVE))


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head past the limit (llhttp turns it into a parser error)."""


class _CoalescingTransport:
    """A transport that holds a response head (bytes ending in a blank line) until the next write or the end of
    this loop turn: a head never waits for anything but its own response's next step."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif data.endswith(b"\r\n\r\n") and data.startswith(b"HTTP/"):
            self._held = data
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    """For `uvicorn.run(http=HttpProtocol.with_limits(limits))` (or `http=HttpProtocol`: the default limits)."""

    limits: ClassVar[HttpLimits] = HttpLimits()
    cap: ClassVar[int] = 0  # computed once per class from limits and the descriptor limit

    @classmethod
    def with_limits(cls, limits: HttpLimits) -> type[HttpProtocol]:
        return type("HttpProtocol", (cls,), {"limits": limits, "cap": limits.connection_cap()})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._opened = self.loop.time()
        self._head_since: float | None = self._opened  # waiting for a request head since then; None: not waiting
        self._in_head = False  # the parser is inside a request head
        self._head_bytes = 0  # bytes of chunks read inside the current head (the one it began in not counted)
        self._chunk = 0  # size of the chunk being parsed
        self._last_read = self._opened

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        cap = type(self).cap or self.limits.connection_cap()
        if len(self.connections) >= cap and not self._evict_one():
            self.transport = transport  # for connection_lost; this connection never joins the server's set
            transport.write(_reply(503, "Too many connections"))
            transport.close()
            return
        super().connection_made(_CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
        _Sweeper.ensure(self)

    def _evict_one(self) -> bool:
        """Close the oldest connection waiting for a request head, one that never sent any first; False if none."""
        waiting = [c for c in self.connections if isinstance(c, HttpProtocol) and c._head_since is not None]
        if not waiting:
            return False
        oldest = min(waiting, key=lambda c: (c.cycle is not None, c._opened))
        oldest.connections.discard(oldest)
        oldest.transport.close()
        return True

    # --- parsing ---

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        self._last_read = self.loop.time()
        self._chunk = len(data)
        try:
            self.parser.feed_data(data)
        except _HeadTooLarge:
            self._refuse_large_head()
            return
        except httptools.HttpParserUpgrade:  # as uvicorn answers an upgrade request
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as error:
            if isinstance(error.__context__, _HeadTooLarge):
                self._refuse_large_head()
            else:
                log.info("invalid HTTP request from %s", _peer(self))
                self.send_400_response("Invalid HTTP request received.")
            return
        if self._in_head:
            self._head_bytes += len(data)  # the head goes on past this chunk: all of it was head
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse_large_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # Part of this chunk may be the previous request's body: it is not counted (never a 431 for a head that is
        # not too large; at worst one chunk more of head is let in before the head ends).
        self._in_head, self._head_bytes = True, -self._chunk

    def on_headers_complete(self) -> None:
        if (
            max(self._head_bytes, 0) + self._chunk > self.limits.max_header_bytes
            and self._head_size() > self.limits.max_header_bytes
        ):
            raise _HeadTooLarge()  # only measured exactly when the bytes read could hold a head that large
        self._head_since, self._in_head, self._head_bytes = None, False, 0
        super().on_headers_complete()

    def _head_size(self) -> int:
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers) + 16

    def on_response_complete(self) -> None:
        if not self.pipeline:  # the next request's head is due from now (a pipelined one is already here)
            self._head_since = self.loop.time()
        super().on_response_complete()

    def _refuse_large_head(self) -> None:
        log.info("refusing a request head over %d bytes from %s", self.limits.max_header_bytes, _peer(self))
        self.transport.write(_reply(431, "Request Header Fields Too Large"))
        self.transport.close()

    # --- deadlines, checked by the sweeper ---

    def check_deadlines(self, now: float) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if self._head_since is not None:
            if now - self._head_since > self.limits.head_timeout > 0:
                log.info("closing a connection from %s: no complete request head in time", _peer(self))
                self.transport.write(_reply(408, "Request head not received in time"))
                self.transport.close()
            return
        cycle = self.cycle
        if cycle is None or not cycle.more_body or cycle.response_complete or self.flow.read_paused:
            return  # no body due from the client (or the application is not reading it: not the client's stall)
        if now - self._last_read > self.limits.body_timeout > 0:
            log.info("closing a connection from %s: its request body stalled", _peer(self))
            self.transport.close()  # the application's receive() gets http.disconnect


class _Sweeper:
    """One per server: every few tenths of the shortest deadline, checks every open connection's deadlines; it
    stops when no connection is left and starts again with the next."""

    def __init__(self, protocol: HttpProtocol) -> None:
        self.loop = protocol.loop
        self.connections = protocol.connections
        shortest = min(t for t in (protocol.limits.head_timeout, protocol.limits.body_timeout, 4.0) if t > 0)
        self.period = min(1.0, max(0.05, shortest / 4))
        self.handle: asyncio.TimerHandle | None = None

    @staticmethod
    def ensure(protocol: HttpProtocol) -> None:
        state = protocol.server_state
        sweeper: _Sweeper | None = getattr(state, "_cellplane_sweeper", None)
        if sweeper is None:
            sweeper = _Sweeper(protocol)
            state._cellplane_sweeper = sweeper  # type: ignore[attr-defined]
        if sweeper.handle is None:
            sweeper.handle = sweeper.loop.call_later(sweeper.period, sweeper.sweep)

    def sweep(self) -> None:
        self.handle = None
        now = self.loop.time()
        for connection in list(self.connections):
            if isinstance(connection, HttpProtocol):
                connection.check_deadlines(now)
        if self.connections:
            self.handle = self.loop.call_later(self.period, self.sweep)


def _reply(status: int, message: str) -> bytes:
    phrase = {408: "Request Timeout", 431: "Request Header Fields Too Large", 503: "Service Unavailable"}[status]
    body = message.encode()
    return (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


def _peer(protocol: HttpToolsProtocol) -> str:
    client = protocol.client
    return f"{client[0]}:{client[1]}" if client else "unknown"
