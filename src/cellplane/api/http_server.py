"""uvicorn's httptools protocol, with each response's head and body leaving in one write, and limits that keep a
client from starving the server (issue 22).

Why: uvicorn writes the status line and headers when the app sends `http.response.start`, and the body when it
sends `http.response.body`; uvloop writes each at once, so every response costs two send() calls and, on
loopback, two wake-ups of the client. Holding the head until the body (or the end of the current loop turn,
whichever comes first) sends both together: about 9 us less CPU a request for a bare ASGI app under wrk here,
a quarter of its cost (bench/RESULTS.md).

Limits (HttpLimits; uvicorn has none of them for httptools): a connection must finish its request head within
`head_timeout` of its first byte (or of being opened), its body may not stall longer than `body_timeout` between
two reads, and the head may not exceed `max_header_bytes` (431). At `max_connections` open connections, a new
one pushes out the oldest connection still waiting for its request head (a stalled one, most likely), so
connections that send nothing cannot shut out clients that do; with none to push out, the new one gets a 503.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
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
        self._in_head = True  # between the end of a request (or the connection's start) and a complete head
        self._head_bytes = 0  # raw bytes received in this head so far (an upper bound until the head completes)
        self._exact = 0  # bytes of this head's request line and headers, as parsed
        self._opened = time.monotonic()
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        cap = type(self).cap or self.limits.connection_cap()
        if len(self.connections) >= cap and not self._evict_one():
            self.transport = transport  # for connection_lost; this connection never joins the server's set
            transport.write(_reply(503, "Too many connections"))
            transport.close()
            return
        super().connection_made(_CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
        self._arm(self.limits.head_timeout, self._head_timed_out)

    def _evict_one(self) -> bool:
        """Close the oldest connection that has not sent a whole request head yet; False if there is none."""
        waiting = [c for c in self.connections if isinstance(c, HttpProtocol) and c._in_head and c.cycle is None]
        if not waiting:  # then idle keep-alive connections (their last response sent, no new request yet)
            waiting = [
                c
                for c in self.connections
                if isinstance(c, HttpProtocol)
                and c._in_head
                and c._exact == 0
                and c.cycle
                and c.cycle.response_complete
            ]
        if not waiting:
            return False
        oldest = min(waiting, key=lambda c: c._opened)
        oldest.connections.discard(oldest)
        oldest.transport.close()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    # --- deadlines ---

    def _arm(self, seconds: float, handler: Any) -> None:
        self._disarm()
        if seconds > 0:
            self._deadline = self.loop.call_later(seconds, handler)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _head_timed_out(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            log.info("closing a connection from %s: no complete request head within the deadline", _peer(self))
            self.transport.write(_reply(408, "Request head not received in time"))
            self.transport.close()

    def _body_stalled(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self.cycle is None or not self.cycle.more_body:
            return
        if self.flow.read_paused:  # the application is not reading: not the client's stall
            self._arm(self.limits.body_timeout, self._body_stalled)
            return
        log.info("closing a connection from %s: its request body stalled", _peer(self))
        self.transport.close()  # the application's receive() gets http.disconnect

    # --- parsing ---

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
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
        if self._in_head and not self.transport.is_closing():
            self._head_bytes += len(data)  # still in a head after this chunk: all of it was head
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse_large_head()

    def _refuse_large_head(self) -> None:
        log.info("refusing a request head over %d bytes from %s", self.limits.max_header_bytes, _peer(self))
        self.transport.write(_reply(431, "Request Header Fields Too Large"))
        self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes, self._exact = True, 0, 0
        if self._deadline is None:  # a keep-alive connection's next request: its head is due in time too
            self._arm(self.limits.head_timeout, self._head_timed_out)

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count(self, size: int) -> None:
        self._exact += size
        if self._exact > self.limits.max_header_bytes:
            raise _HeadTooLarge()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.more_body:
            self._arm(self.limits.body_timeout, self._body_stalled)

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        if self._deadline is not None:
            self._arm(self.limits.body_timeout, self._body_stalled)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self._in_head = True
        super().on_response_complete()


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
