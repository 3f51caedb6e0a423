"""A UDP socket read in batches on the event loop and written without a transport: the GTP-U fast path's endpoint.

An asyncio datagram transport allocates a bytes object and an address per datagram, and its 4 MB socket buffers (once
the host allows them) let an overloaded path queue seconds of packets. Here each readiness of the socket drains up to
`batch` datagrams with recvfrom_into into one preallocated buffer and hands each to `on_datagram(view, addr)`, `view`
a memoryview of the buffer valid only during the call (copy what you keep). `sendto` never queues in user space: a
full socket buffer drops the datagram, as a router does. Small socket buffers bound the queue in the kernel too, so
overload drops packets instead of delaying all of them. It offers what callers used of a transport (sendto,
get_extra_info, close), so code written against one keeps working.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import Any

Handler = Callable[[memoryview, tuple[str, int]], None]
BATCH = 256  # datagrams per wake-up before other callbacks get a turn
# Requested; Linux doubles it. About 500 small or 200 full-size packets: tens of milliseconds at line rate, not
# the seconds a 4 MB buffer holds once the path falls behind.
SOCKET_BUFFER = 256 << 10
_MAX_DATAGRAM = 65535


class DatagramSocket:
    """`sock` (bound, UDP) read on the running loop once `start`ed; `on_datagram(view, addr)` per datagram."""

    def __init__(
        self,
        sock: socket.socket,
        on_datagram: Handler,
        *,
        batch: int = BATCH,
        buffer: int = SOCKET_BUFFER,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        sock.setblocking(False)
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, option, buffer)
        self.sock = sock
        self.on_datagram = on_datagram
        self.on_error = on_error
        self.batch = batch
        self.dropped = 0  # datagrams sendto could not hand to the kernel (full buffer, no route)
        self._buffer = bytearray(_MAX_DATAGRAM)
        self._view = memoryview(self._buffer)
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.sock.fileno(), self._drain)

    def _drain(self) -> None:
        receive, view, handle = self.sock.recvfrom_into, self._view, self.on_datagram
        for _ in range(self.batch):
            try:
                length, addr = receive(view)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error for an earlier send (ECONNREFUSED ...): that datagram is lost, go on
                continue
            try:
                handle(view[:length], addr)
            except Exception as error:  # a bug must cost one datagram, never the endpoint
                if self.on_error is not None:
                    self.on_error(error)

    def sendto(self, data: Any, addr: tuple[str, int] | None = None) -> None:
        try:
            if addr is None:
                self.sock.send(data)
            else:
                self.sock.sendto(data, addr)
        except OSError:
            self.dropped += 1

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "socket":
            return self.sock
        if name == "sockname":
            return self.sock.getsockname()
        return default

    def is_closing(self) -> bool:
        return self.sock.fileno() < 0

    def close(self) -> None:
        if self._loop is not None and self.sock.fileno() >= 0:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self.sock.fileno())
        self._loop = None
        self.sock.close()
