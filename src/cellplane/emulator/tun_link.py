"""A device's IP stack on the host: a TUN whose packets the emulated SGW carries in GTP-U (device shells).

The descriptor comes from whoever made the TUN (cli/device_shell.py: in a namespace of the device's own). Uplink:
the TUN is drained in batches into one buffer with 8 octets kept in front, the G-PDU header is packed there and the
buffer goes to the gateway as is (one copy in, one out). A device that is idle or in eDRX wakes up to send, as a
modem does (Service Request). Downlink arrives through Radio.deliver, which writes to the TUN when a device has one,
so paging, eDRX buffering or loss, and throttling act on real programs' packets.
"""

from __future__ import annotations

import asyncio
import os
import struct

from .device import Device
from .radio import Radio
from .states import DeviceState

_HEADER = struct.Struct("!BBHI")
BATCH = 256


class DeviceTun:
    """Reads `device`'s uplink packets from `fd` and tunnels them while it has a session (others are dropped)."""

    def __init__(self, radio: Radio, device: Device, fd: int) -> None:
        self._radio = radio
        self._device = device
        self.fd = fd
        self._buffer = bytearray(8 + 65535)
        self._view = memoryview(self._buffer)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.dropped = 0

    def start(self) -> None:
        self._device.tun_fd = self.fd
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.fd, self._drain)

    def stop(self) -> None:
        if self._device.tun_fd == self.fd:
            self._device.tun_fd = None
        if self._loop is not None:
            self._loop.remove_reader(self.fd)
            self._loop = None

    def _drain(self) -> None:
        device, buffer, view = self._device, self._buffer, self._view
        inbox = [view[8:]]
        user = self._radio.user
        for _ in range(BATCH):
            try:
                length = os.readv(self.fd, inbox)
            except BlockingIOError:
                return
            except OSError:
                self.stop()
                return
            session = device.session
            if session is None:
                self.dropped += 1  # no PDN connection: the modem has nowhere to send it
                continue
            if device.state != DeviceState.ATTACHED:
                self._radio.wake(device)
            _HEADER.pack_into(buffer, 0, 0x30, 255, length, session.pgw_user_teid)
            if user.send_raw(view[: 8 + length], session.pgw_user):
                device.up_octets += length
                device.up_packets += 1
