"""Apps on a device's UDP ports: echo, log, and a bridge to a real UDP socket on the host.

An app receives the UDP datagrams that reach its port inside the device's tunnel and may answer through
`send(src_port, dst_ip, dst_port, payload)`, which sends uplink from the device. The bridge is how real
device code runs against the emulator: datagrams to the device port are forwarded to a host socket
(`deliver_to`), and datagrams a program sends to the bridge's own host socket go up from the device,
by default to 100.64.0.1 where the gateway takes them as IP Commands from the SIM.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

# Sends a datagram uplink from the device: (device port, destination address, destination port, payload).
Send = Callable[[int, str, int, bytes], bool]
COMMANDS_ADDRESS = "100.64.0.1"
LOG_LIMIT = 1000  # datagrams a log app keeps (oldest dropped first)


@dataclass(frozen=True, slots=True)
class Datagram:
    """One UDP datagram as a device app saw it."""

    src: str
    src_port: int
    dst_port: int
    payload: bytes
    at: float


class App(Protocol):
    kind: str

    def receive(self, datagram: Datagram) -> None: ...

    def close(self) -> None: ...


class EchoApp:
    """Sends every datagram back to where it came from (RFC 862 over UDP)."""

    kind = "echo"

    def __init__(self, port: int, send: Send) -> None:
        self._port = port
        self._send = send

    def receive(self, datagram: Datagram) -> None:
        self._send(self._port, datagram.src, datagram.src_port, datagram.payload)

    def close(self) -> None:
        pass


class LogApp:
    """Keeps the datagrams it receives, for a test or a person to read."""

    kind = "log"

    def __init__(self) -> None:
        self.datagrams: list[Datagram] = []

    def receive(self, datagram: Datagram) -> None:
        self.datagrams.append(datagram)
        if len(self.datagrams) > LOG_LIMIT:
            del self.datagrams[0]

    def close(self) -> None:
        pass


class BridgeApp(asyncio.DatagramProtocol):
    """Joins a device port to real UDP sockets on 127.0.0.1 (issue 4's device bridge)."""

    kind = "bridge"

    def __init__(
        self,
        port: int,
        send: Send,
        deliver_to: tuple[str, int],
        *,
        uplink_to: tuple[str, int] | None = None,
    ) -> None:
        self._port = port
        self._send = send
        self.deliver_to = deliver_to
        # Where datagrams from the host go inside the tunnel: 100.64.0.1 on the device port by default.
        self.uplink_to = uplink_to or (COMMANDS_ADDRESS, port)
        self._transport: asyncio.DatagramTransport | None = None
        self.datagrams: list[Datagram] = []

    async def open(self, listen: tuple[str, int] = ("127.0.0.1", 0)) -> tuple[str, int]:
        """Bind the host-side socket (it also sends the deliveries); returns its address."""
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=listen)
        host, port = self._transport.get_extra_info("sockname")[:2]
        return host, port

    @property
    def listen(self) -> tuple[str, int] | None:
        if self._transport is None:
            return None
        host, port = self._transport.get_extra_info("sockname")[:2]
        return host, port

    def receive(self, datagram: Datagram) -> None:
        self.datagrams.append(datagram)
        if len(self.datagrams) > LOG_LIMIT:
            del self.datagrams[0]
        if self._transport is not None:
            self._transport.sendto(datagram.payload, self.deliver_to)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        """A host program speaks as the device: its datagram goes up the tunnel."""
        self._send(self._port, self.uplink_to[0], self.uplink_to[1], data)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None


def stamp(src: str, src_port: int, dst_port: int, payload: bytes) -> Datagram:
    return Datagram(src, src_port, dst_port, payload, time.time())
