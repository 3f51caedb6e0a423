"""The emulated SGW's GTP-U endpoint (S5/S8-U): tunnels device packets up, hands downlink G-PDUs to devices."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

from cellplane.protocols.datagram import SOCKET_BUFFER, DatagramSocket
from cellplane.protocols.gtp import GtpError
from cellplane.protocols.gtp.gtpu import (
    GtpuType,
    encode_echo_response,
    encode_error_indication,
    encode_gpdu,
    parse_error_indication,
    parse_gtpu_full,
)

from .device import Device
from .states import DeviceState

log = logging.getLogger("cellplane.emulator.gtpu")

_HEADER = struct.Struct("!BBHI")
_ATTACHED = DeviceState.ATTACHED
Downlink = Callable[[Device, bytes], None]
TunnelLost = Callable[[int], None]  # an Error Indication named our TEID... of the gateway's tunnel


@dataclass
class SgwUserStats:
    malformed: int = 0
    unknown_teid: int = 0
    error_indications: int = 0


class SgwUser(asyncio.DatagramProtocol):
    """`devices` maps our (SGW) user-plane TEID to the device it serves; the emulator keeps it current."""

    def __init__(self, host: str, devices: dict[int, Device], on_downlink: Downlink, on_lost: TunnelLost) -> None:
        self._host = host
        self._devices = devices
        self._on_downlink = on_downlink
        self._on_lost = on_lost
        self._transport: asyncio.DatagramTransport | None = None
        self.stats = SgwUserStats()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a datagram endpoint's transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def open(self, sock: socket.socket, buffer: int = SOCKET_BUFFER) -> None:
        """Serve GTP-U on `sock` (bound, UDP), drained in batches on the running loop (protocols/datagram.py), with
        socket buffers of `buffer` octets."""

        def received(view: memoryview, addr: tuple[str, int]) -> None:
            self.datagram_received(view, addr)  # looked up each time: a test may wrap it

        endpoint = DatagramSocket(
            sock, received, buffer=buffer, on_error=lambda error: log.error("GTP-U failed", exc_info=error)
        )
        endpoint.start()
        self._transport = endpoint  # type: ignore[assignment]  # the transport methods this class uses

    @property
    def address(self) -> tuple[str, int]:
        if self._transport is None:
            raise RuntimeError("SGW GTP-U endpoint not started")
        host, port = self._transport.get_extra_info("sockname")[:2]
        return host, port

    def send(self, device: Device, packet: bytes) -> bool:
        """Tunnel one uplink IP packet of `device` to the gateway; False when it has no session."""
        session = device.session
        if session is None or self._transport is None:
            return False
        self._transport.sendto(encode_gpdu(session.pgw_user_teid, packet), session.pgw_user)
        device.up_octets += len(packet)
        device.up_packets += 1
        return True

    def send_raw(self, datagram: memoryview, to: tuple[str, int]) -> bool:
        """A G-PDU already framed (device TUNs frame theirs in place, tun_link.py)."""
        if self._transport is None:
            return False
        self._transport.sendto(datagram, to)
        return True

    def datagram_received(self, data: bytes | memoryview, addr: tuple[str, int]) -> None:  # type: ignore[override]
        # Fast path: a plain G-PDU (TS 29.281 §5.1, no optional fields) for a connected device with a TUN (a device
        # shell) goes straight to it, from the datagram as received; anything else takes the full parse below.
        if len(data) > 8 and data[0] & 0xF7 == 0x30 and data[1] == 255:
            _flags, _type, length, teid = _HEADER.unpack_from(data)
            device = self._devices.get(teid)
            if (
                device is not None
                and device.tun_fd is not None
                and device.state is _ATTACHED
                and length + 8 == len(data)
            ):
                device.down_octets += length
                device.down_packets += 1
                try:
                    os.write(device.tun_fd, memoryview(data)[8:])
                except OSError:
                    device.dropped_packets += 1
                return
        try:
            packet = parse_gtpu_full(bytes(data))
        except GtpError:
            self.stats.malformed += 1
            return
        if packet.msg_type == GtpuType.G_PDU:
            device = self._devices.get(packet.teid)
            if device is None:
                # TS 29.281 §7.3.1: we hold no such tunnel; the gateway should drop its end.
                self.stats.unknown_teid += 1
                self._send(encode_error_indication(packet.teid, self._host, udp_port=addr[1]), addr)
                return
            try:
                self._on_downlink(device, bytes(packet.payload))
            except Exception:
                log.exception("downlink to device %s failed", device.iccid)
        elif packet.msg_type == GtpuType.ECHO_REQUEST:
            self._send(encode_echo_response(packet.seq or 0), addr)
        elif packet.msg_type == GtpuType.ERROR_INDICATION:
            self.stats.error_indications += 1
            try:
                self._on_lost(parse_error_indication(packet).teid)
            except GtpError:
                self.stats.malformed += 1

    def _send(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._transport is not None:
            self._transport.sendto(data, addr)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
