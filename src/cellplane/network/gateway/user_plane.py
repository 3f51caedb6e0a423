"""The gateway's GTP-U endpoint (TS 29.281 on S5/S8-U): counts every G-PDU and carries IP Commands both ways.

The socket is drained in batches into one preallocated buffer (protocols/datagram.py: no bytes object per datagram,
small socket buffers so that overload drops rather than queues). The hot path is `datagram_received` for a plain
G-PDU, given a view of that buffer: one struct unpack, one dict lookup by TEID, one check for
a policer (set only on sessions the AAA throttles: their packets over the rate are dropped before they count as
usage, policer.py), four integer bumps; uplink packets to 100.64.0.1 are IP Commands from the SIM and go to
`on_mo_datagram`; any other uplink packet is counted and dropped, because there is no internet behind this
gateway, and device addresses exist only inside the tunnels (nothing here ever routes to them on the host).
Downlink packets are built here (`send_udp`) and tunnelled to the SGW. No await, no database, no log line per packet.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from socket import inet_aton

from cellplane.protocols.datagram import DatagramSocket
from cellplane.protocols.gtp import GtpError
from cellplane.protocols.gtp.gtpu import (
    ErrorIndication,
    GtpuType,
    encode_echo_response,
    encode_error_indication,
    encode_gpdu,
    parse_error_indication,
    parse_gtpu_full,
)
from cellplane.protocols.ipv4 import Ipv4Error, build_udp, packet_sizes, parse_udp

from .sessions import Session, SessionTable

log = logging.getLogger("cellplane.gateway.gtpu")

COMMANDS_ADDRESS = "100.64.0.1"  # where a device sends IP Commands (Super SIM IP Commands documentation)
_COMMANDS_PACKED = inet_aton(COMMANDS_ADDRESS)
# The "internet" host that generated downlink traffic comes from: TEST-NET-2 (RFC 5737), never routed.
TRAFFIC_SOURCE = "198.51.100.1"
DISCARD_PORT = 9  # RFC 863
_HEADER = struct.Struct("!BBHI")
_unpack = _HEADER.unpack_from
_ADDRESS = struct.Struct("!I")
_GPDU = GtpuType.G_PDU
# Where the inner IPv4 destination address sits in a G-PDU without optional fields: 8 + 16.
_DST = slice(24, 28)
_SOCKET_BUFFER = 4 << 20
_ERROR_INDICATIONS_PER_SECOND = 100

MoHandler = Callable[[Session, int, int, bytes], None]
PathErrorHandler = Callable[[Session], None]


@dataclass
class UserPlaneStats:
    malformed: int = 0  # not GTP-U, or an inner packet to 100.64.0.1 that is not valid IPv4/UDP
    unknown_teid: int = 0
    spoofed: int = 0  # uplink packets (IP Commands, or for a domain) whose source is not the session's address
    mo_datagrams: int = 0
    dropped_uplink: int = 0  # uplink packets for the internet without a data plane: counted in usage, then dropped
    echo_requests: int = 0
    error_indications: int = 0


def _no_mo(session: Session, src_port: int, dst_port: int, payload: bytes) -> None:
    """Default IP Command hook: nothing yet (issue 4 delivers them to the platform)."""


def tune(transport: asyncio.BaseTransport) -> None:
    """Larger socket buffers: bursts of user packets should wait in the kernel, not be dropped there."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, _SOCKET_BUFFER)
        except OSError:
            pass


class UserPlane(asyncio.DatagramProtocol):
    """GTP-U on one UDP socket; sessions come from the shared SessionTable."""

    def __init__(self, sessions: SessionTable, host: str) -> None:
        self._by_teid = sessions.by_user_teid
        self._host = host
        self._transport: asyncio.DatagramTransport | None = None
        self.on_mo_datagram: MoHandler = _no_mo
        self.on_path_error: PathErrorHandler | None = None
        self.stats = UserPlaneStats()
        self._indications_second = 0
        self._indications_sent = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a datagram endpoint's transport
        tune(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def open(self, sock: socket.socket) -> None:
        """Serve GTP-U on `sock` (bound, UDP), read in batches on the running loop."""
        endpoint = DatagramSocket(sock, self.datagram_received, on_error=self._failed)
        endpoint.start()
        self._transport = endpoint  # type: ignore[assignment]  # the transport methods this class uses

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def _failed(self, error: BaseException) -> None:
        log.error("GTP-U datagram failed", exc_info=error)
        self.stats.malformed += 1

    # --- uplink ---------------------------------------------------------------------------------------------

    def datagram_received(self, data: bytes | memoryview, addr: tuple[str, int]) -> None:  # type: ignore[override]
        """One datagram; `data` may be a view of the endpoint's buffer, valid only during the call."""
        try:
            flags, msg_type, length, teid = _unpack(data)
        except struct.error:
            self.stats.malformed += 1
            return
        # The common case (TS 29.281 §5.1): version 1, PT=1, no optional fields (the spare bit is ignored).
        if flags & 0xF7 == 0x30 and msg_type == _GPDU and length + 8 == len(data):
            session = self._by_teid.get(teid)
            if session is None:
                self._unknown_teid(teid, addr)
                return
            policer = session.policer
            if policer is not None and not policer.pass_up(length):
                return
            session.up_octets += length
            session.up_packets += 1
            if data[_DST] == _COMMANDS_PACKED:
                self._command(session, memoryview(data)[8:])
            elif session.sgi is not None:
                self._to_domain(session, data, 8)
            else:
                self.stats.dropped_uplink += 1
            return
        try:
            self._slow_path(bytes(data), addr)
        except (GtpError, Ipv4Error):
            self.stats.malformed += 1
        except Exception:  # a bug must cost one datagram, never the endpoint
            log.exception("GTP-U datagram from %s:%s failed", *addr[:2])
            self.stats.malformed += 1

    def _command(self, session: Session, packet: memoryview) -> None:
        try:
            datagram = parse_udp(packet)
        except Ipv4Error:
            self.stats.malformed += 1
            return
        if datagram.src != session.ue_ip:
            self.stats.spoofed += 1  # TS 29.061 §11.2.1.5: a PGW drops uplink packets with a foreign source
            return
        self.stats.mo_datagrams += 1
        try:
            self.on_mo_datagram(session, datagram.sport, datagram.dport, bytes(datagram.payload))
        except Exception:
            log.exception("IP Command hook failed for IMSI %s", session.imsi)

    def _to_domain(self, session: Session, data: bytes | memoryview, offset: int) -> None:
        """The inner packet into the session's routing domain, if its source is the session's address (TS 29.061
        §11.2.1.5: a PGW drops uplink packets with a foreign source; they were counted, as the radio carried them)."""
        if len(data) < offset + 20 or _ADDRESS.unpack_from(data, offset + 12)[0] != session.ue_key:
            self.stats.spoofed += 1
            return
        session.sgi.write(memoryview(data)[offset:])  # type: ignore[union-attr]

    def _slow_path(self, data: bytes, addr: tuple[str, int]) -> None:
        packet = parse_gtpu_full(data)
        if packet.msg_type == GtpuType.G_PDU:
            session = self._by_teid.get(packet.teid)
            if session is None:
                self._unknown_teid(packet.teid, addr)
                return
            if session.policer is not None and not session.policer.pass_up(len(packet.payload)):
                return
            session.up_octets += len(packet.payload)
            session.up_packets += 1
            if bytes(packet.payload[16:20]) == _COMMANDS_PACKED:
                self._command(session, packet.payload)
            elif session.sgi is not None:
                self._to_domain(session, data, len(data) - len(packet.payload))
            else:
                self.stats.dropped_uplink += 1
        elif packet.msg_type == GtpuType.ECHO_REQUEST:
            # TS 29.281 §7.2.1: answer with the request's sequence number, whatever the TEID.
            self.stats.echo_requests += 1
            self._send(encode_echo_response(packet.seq or 0), addr)
        elif packet.msg_type == GtpuType.ERROR_INDICATION:
            self.stats.error_indications += 1
            self._error_indication(parse_error_indication(packet), addr)
        # Echo Response, End Marker, Supported Extension Headers Notification: nothing to do.

    def _unknown_teid(self, teid: int, addr: tuple[str, int]) -> None:
        """TS 29.281 §7.3.1: tell the sender we hold no such tunnel; rate-limited, so that a flood of forged
        G-PDUs does not make us a reflector."""
        self.stats.unknown_teid += 1
        second = int(asyncio.get_running_loop().time())
        if second != self._indications_second:
            self._indications_second, self._indications_sent = second, 0
        if self._indications_sent >= _ERROR_INDICATIONS_PER_SECOND:
            return
        self._indications_sent += 1
        self._send(encode_error_indication(teid, self._host, udp_port=addr[1]), addr)

    def _error_indication(self, indication: ErrorIndication, addr: tuple[str, int]) -> None:
        """The SGW lost a tunnel we send to: the session is gone on its side (TS 23.007 §20)."""
        teid, peer = indication.teid, indication.peer
        for session in list(self._by_teid.values()):
            if session.sgw_user_teid == teid and session.sgw_user[0] == peer:
                if self.on_path_error is not None:
                    self.on_path_error(session)
                return

    # --- downlink -------------------------------------------------------------------------------------------

    def _send(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._transport is not None:
            self._transport.sendto(data, addr)

    def send_packet(self, session: Session, packet: bytes) -> bool:
        """Tunnel one inner IP packet to the device of `session`, and count it; False when it is not sent (the
        session's policer dropped it, or the endpoint is closed)."""
        if self._transport is None:
            return False
        if session.policer is not None and not session.policer.pass_down(len(packet)):
            return False
        self._transport.sendto(encode_gpdu(session.sgw_user_teid, packet), session.sgw_user)
        session.down_octets += len(packet)
        session.down_packets += 1
        return True

    def send_udp(self, session: Session, src: str, src_port: int, dst_port: int, payload: bytes) -> bool:
        """A UDP datagram from `src` to the device, as a real IPv4/UDP packet with both checksums."""
        return self.send_packet(session, build_udp(src, session.ue_ip, src_port, dst_port, payload))

    async def generate(self, session: Session, total: int, port: int = DISCARD_PORT) -> int:
        """Downlink traffic of `total` octets of inner IP packets, from the TEST-NET "internet" host to the device's
        `port`; returns the octets sent (all of them unless the session is throttled or ends). Paced so a loopback
        receiver keeps up."""
        sizes = packet_sizes(total)
        sent = 0
        for index, size in enumerate(sizes):
            if session.ended:
                break
            if self.send_udp(session, TRAFFIC_SOURCE, DISCARD_PORT, port, bytes(size - 28)):
                sent += size
            if index % 32 == 31:
                await asyncio.sleep(0)
        return sent

    @property
    def address(self) -> tuple[str, int]:
        if self._transport is None:
            raise RuntimeError("GTP-U endpoint not started")
        host, port = self._transport.get_extra_info("sockname")[:2]
        return host, port
