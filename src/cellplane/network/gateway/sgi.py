"""The gateway's SGi side: its end of each routing domain's TUN (network/dataplane builds the domains).

Uplink: the GTP-U endpoint writes a session's inner packet straight from the datagram it received (a memoryview
past the 8-octet header: the kernel's copy into the TUN is the only one). Downlink: the TUN is drained in batches
into one preallocated buffer that keeps 8 octets in front of the packet, the G-PDU header is packed there in place,
and the same buffer goes to the SGW: one copy in, one copy out, no buffer allocated per packet. The session is
found by its address within this domain only (two private networks may use the same addresses), then policed and
counted exactly as on the uplink: accounting and policy stay in the gateway.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

from .sessions import Session

log = logging.getLogger("cellplane.gateway.sgi")

_HEADER = struct.Struct("!BBHI")
_ADDRESS = struct.Struct("!I")
_GPDU_FLAGS = 0x30  # version 1, PT 1, no optional fields (TS 29.281 §5.1)
_GPDU = 255
BATCH = 256  # packets per wake-up before the loop gets a turn
_MAX_PACKET = 65535


def address_key(packed: bytes) -> int:
    return int.from_bytes(packed, "big")


@dataclass
class SgiStats:
    up_packets: int = 0
    up_dropped: int = 0  # the TUN's queue was full, or the domain is going away
    down_packets: int = 0
    down_no_session: int = 0  # to an address of the domain without a session: dropped (nothing is paged here)
    down_policed: int = 0


class SgiPort:
    """One routing domain's TUN, as the gateway sees it: sessions by address, packets both ways."""

    def __init__(self, name: str, fd: int, sock: socket.socket | None) -> None:
        self.name = name
        self.fd = fd
        self.sock = sock  # the GTP-U socket downlink G-PDUs leave from
        self.sessions: dict[int, Session] = {}
        self.stats = SgiStats()
        # Ends the flows of an address in the domain (its conntrack entries; the runtime sets it): blocking, run in
        # a worker thread when a session ends (manager.py).
        self.end_flows: Callable[[str], object] | None = None
        self._buffer = bytearray(8 + _MAX_PACKET)
        self._view = memoryview(self._buffer)
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.fd, self._drain)

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.fd)
            self._loop = None

    def write(self, packet: memoryview) -> None:
        """An uplink packet into the domain."""
        try:
            os.write(self.fd, packet)
        except OSError:  # EAGAIN (queue full) or the domain is gone: a router drops, it does not wait
            self.stats.up_dropped += 1
            return
        self.stats.up_packets += 1

    def _drain(self) -> None:
        """Downlink: up to BATCH packets from the TUN, each tunnelled to its session's SGW."""
        fd, buffer, view, sock = self.fd, self._buffer, self._view, self.sock
        inbox = [view[8:]]
        sessions = self.sessions
        stats = self.stats
        readv, unpack_address, pack_header = os.readv, _ADDRESS.unpack_from, _HEADER.pack_into
        for _ in range(BATCH):
            try:
                length = readv(fd, inbox)
            except BlockingIOError:
                return
            except OSError:
                self.stop()
                return
            if length < 20:
                continue
            session = sessions.get(unpack_address(buffer, 24)[0])  # the inner destination: 8 + 16
            if session is None:
                stats.down_no_session += 1
                continue
            policer = session.policer
            if policer is not None and not policer.pass_down(length):
                stats.down_policed += 1
                continue
            pack_header(buffer, 0, _GPDU_FLAGS, _GPDU, length, session.sgw_user_teid)
            try:
                sock.sendto(view[: 8 + length], session.sgw_user)  # type: ignore[union-attr]
            except OSError:
                continue  # a full socket buffer drops the packet, as a router would; it is not usage
            session.down_octets += length
            session.down_packets += 1
            stats.down_packets += 1
