"""An emulated radio network in the test process, attached to a running platform's gateway over GTP only.

It stands where a real RAN/SGW would: the platform (`cellplane up` in a subprocess) sees Create Session
requests and G-PDUs on its GTP ports and nothing else. The emulator runs on an event loop in a thread so
that the synchronous twilio SDK and the asynchronous emulator share a test. Every G-PDU that reaches the
emulated SGW is kept, for an independent decoder to read.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cellplane.emulator import DeviceView, Emulator, EmulatorConfig, SimRecord
from tests.support.server import Server

T = TypeVar("T")


class LoopThread:
    """An event loop in a thread; `run` waits for a coroutine on it from the test's thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="radio", daemon=True)
        self._thread.start()

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


@dataclass
class Radio:
    """The emulator pointed at `server`'s gateway; SIMs are made known to it with `attach`."""

    server: Server
    thread: LoopThread = field(default_factory=LoopThread)
    sims: dict[str, SimRecord] = field(default_factory=dict)
    downlink: list[bytes] = field(default_factory=list)  # every G-PDU the SGW received, as bytes
    emulator: Emulator | None = None

    def start(self) -> Radio:
        async def lookup(iccid: str) -> SimRecord | None:
            return self.sims.get(iccid)

        config = EmulatorConfig(
            gateway_gtpc_port=int(self.server.env["CELLPLANE_GTPC_PORT"]),
            gateway_gtpu_port=int(self.server.env["CELLPLANE_GTPU_PORT"]),
            t3=2.0,
            n3=1,
        )
        self.emulator = Emulator(config, sim_lookup=lookup)
        self.thread.run(self.emulator.start())
        user = self.emulator.radio.user
        received = user.datagram_received

        def capture(data: bytes, addr: tuple[str, int]) -> None:
            self.downlink.append(bytes(data))
            received(data, addr)

        user.datagram_received = capture  # type: ignore[method-assign]
        return self

    def close(self) -> None:
        if self.emulator is not None:
            self.thread.run(self.emulator.stop())
        self.thread.close()

    @property
    def em(self) -> Emulator:
        assert self.emulator is not None
        return self.emulator

    def call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """A synchronous emulator method, called on the emulator's own loop."""

        async def _call() -> Any:
            return function(*args, **kwargs)

        return self.thread.run(_call())

    def attach(self, iccid: str, imsi: str, mcc: str = "310", mnc: str = "260", timeout: float = 8.0) -> DeviceView:
        """Power the device on until the platform accepts it: its AAA learns of a claim or an activation
        within about a second (its policy cache polls the database), and a modem simply retries."""
        self.sims[iccid] = SimRecord(iccid, imsi)
        device = self.thread.run(self.em.power_on(iccid, mcc=mcc, mnc=mnc, rat="LTE-M"))
        deadline = time.monotonic() + timeout
        while device.state != "attached" and time.monotonic() < deadline:
            time.sleep(0.2)
            device = self.thread.run(self.em.set_state(iccid, "attached", mcc=mcc, mnc=mnc))
        assert device.state == "attached", (device.reason, device.code, device.gtp_cause)
        return device

    def set_state(self, iccid: str, state: str) -> DeviceView:
        return self.thread.run(self.em.set_state(iccid, state))

    def device(self, iccid: str) -> DeviceView:
        view: DeviceView = self.call(self.em.device, iccid)
        return view

    def send(self, iccid: str, src_port: int, dst: str, dst_port: int, payload: bytes) -> bool:
        sent: bool = self.call(self.em.send_udp, iccid, src_port, dst, dst_port, payload)
        return sent

    def hlcom(self, mcc: str, mnc: str, enabled: bool) -> None:
        self.call(self.em.configure_network, mcc, mnc, hlcom=enabled)

    def bridge(self, iccid: str, port: int) -> HostSocket:
        """A bridge app on the device's `port`, delivering to a real UDP socket of the test on 127.0.0.1."""
        host = HostSocket()
        described = self.thread.run(self.em.open_app(iccid, port, "bridge", deliver_to=host.address))
        host.bridge = tuple(described["listen"])
        return host


class HostSocket:
    """A plain UDP socket on 127.0.0.1: where a bridge delivers, and what speaks to the bridge as the device."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.bridge: tuple[str, int] | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()[:2]
        return host, port

    def receive(self, timeout: float = 5.0) -> bytes | None:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(65535)
        except TimeoutError:
            return None

    def send_as_device(self, payload: bytes) -> None:
        assert self.bridge is not None
        self.sock.sendto(payload, self.bridge)

    def close(self) -> None:
        self.sock.close()
