"""Peers for gateway tests: a RADIUS server built on pyrad (a third-party implementation, standing in for the
AAA until ours lands, and an independent check of what the gateway sends), a capture of the datagrams our
endpoints send, and a stack that runs the real gateway and the real emulator over UDP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from pyrad import packet as pyrad
from pyrad.dictionary import Dictionary

from cellplane.emulator import Emulator, EmulatorConfig
from cellplane.network.gateway import Gateway, GatewayConfig
from cellplane.protocols import radius

SECRET = b"gateway-test-secret"
DICTIONARY = Dictionary(str(radius.DICTIONARY))


def first(packet: pyrad.Packet, name: str) -> Any:
    values = packet.get(name)
    return values[0] if values else None


@dataclass
class Verdict:
    """What the stand-in AAA answers for one IMSI: an address, a rejection message, or silence."""

    address: str | None = None
    reject: str | None = None
    silent: bool = False
    session_timeout: int | None = None
    klass: bytes | None = None
    domain: str | None = None  # Cellplane-Routing-Domain


@dataclass
class PyradAaa:
    """Access and accounting servers decoding and answering with pyrad; records what it received."""

    verdicts: dict[str, Verdict] = field(default_factory=dict)
    access: list[pyrad.AuthPacket] = field(default_factory=list)
    accounting: list[pyrad.AcctPacket] = field(default_factory=list)
    raw_access: list[bytes] = field(default_factory=list)
    bad: int = 0
    _next_host: int = 2
    _transports: list[asyncio.DatagramTransport] = field(default_factory=list)
    accounting_arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for handler in (self._on_access, self._on_accounting):
            transport, _ = await loop.create_datagram_endpoint(
                lambda handler=handler: _Endpoint(handler), local_addr=("127.0.0.1", 0)
            )
            self._transports.append(transport)

    def close(self) -> None:
        for transport in self._transports:
            transport.close()

    @property
    def auth_port(self) -> int:
        return int(self._transports[0].get_extra_info("sockname")[1])

    @property
    def acct_port(self) -> int:
        return int(self._transports[1].get_extra_info("sockname")[1])

    def _on_access(self, data: bytes, addr: tuple[str, int], transport: asyncio.DatagramTransport) -> None:
        request = pyrad.AuthPacket(packet=data, secret=SECRET, dict=DICTIONARY)
        if request.message_authenticator is None or not request.verify_message_authenticator():
            self.bad += 1
            return
        self.access.append(request)
        self.raw_access.append(data)
        imsi = first(request, "User-Name")
        verdict = self.verdicts.get(imsi) or Verdict()
        if verdict.silent:
            return
        reply = request.CreateReply()
        reply.add_message_authenticator()
        if verdict.reject is not None:
            reply.code = pyrad.AccessReject
            reply["Reply-Message"] = verdict.reject
        else:
            reply.code = pyrad.AccessAccept
            if verdict.address is None:
                verdict.address = f"10.64.0.{self._next_host}"
                self._next_host += 1
                self.verdicts[imsi] = verdict
            reply["Framed-IP-Address"] = verdict.address
            if verdict.session_timeout:
                reply["Session-Timeout"] = verdict.session_timeout
            if verdict.klass:
                reply["Class"] = verdict.klass
            if verdict.domain:
                reply["Cellplane-Routing-Domain"] = verdict.domain
        transport.sendto(reply.ReplyPacket(), addr)

    def _on_accounting(self, data: bytes, addr: tuple[str, int], transport: asyncio.DatagramTransport) -> None:
        request = pyrad.AcctPacket(packet=data, secret=SECRET, dict=DICTIONARY)
        if not request.VerifyAcctRequest():
            self.bad += 1
            return
        self.accounting.append(request)
        self.accounting_arrived.set()
        transport.sendto(request.CreateReply().ReplyPacket(), addr)

    def records(self, status: str | None = None, session_id: str | None = None) -> list[pyrad.AcctPacket]:
        return [
            r
            for r in self.accounting
            if (status is None or first(r, "Acct-Status-Type") == status)
            and (session_id is None or first(r, "Acct-Session-Id") == session_id)
        ]

    async def wait_accounting(self, status: str, count: int = 1, timeout: float = 5.0) -> list[pyrad.AcctPacket]:
        async with asyncio.timeout(timeout):
            while len(self.records(status)) < count:
                self.accounting_arrived.clear()
                await self.accounting_arrived.wait()
        return self.records(status)


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, handler: Callable[[bytes, tuple[str, int], asyncio.DatagramTransport], None]) -> None:
        self._handler = handler
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a datagram endpoint's transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self._transport is not None
        self._handler(data, addr, self._transport)


async def disconnect(
    dae: tuple[str, int], secret: bytes = SECRET, code: int = pyrad.DisconnectRequest, **attributes: Any
) -> pyrad.Packet | None:
    """Send a Disconnect-Request (or, with `code`, a CoA-Request) built by pyrad; the verified reply, or None if none
    came within a second."""
    request = pyrad.CoAPacket(code=code, secret=secret, dict=DICTIONARY)
    for name, value in attributes.items():
        request[name.replace("_", "-")] = value
    data = request.RequestPacket()
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[bytes] = loop.create_future()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, reply: bytes, addr: tuple[str, int]) -> None:
            if not answer.done():
                answer.set_result(reply)

    transport, _ = await loop.create_datagram_endpoint(Client, local_addr=("127.0.0.1", 0))
    try:
        transport.sendto(data, dae)
        try:
            raw = await asyncio.wait_for(answer, 1.0)
        except TimeoutError:
            return None
    finally:
        transport.close()
    reply = pyrad.Packet(packet=raw, secret=secret, dict=DICTIONARY)
    assert request.VerifyReply(reply, raw), "the Disconnect reply does not verify"
    return reply


@dataclass
class Capture:
    """Every datagram our endpoints send, recorded at their transports' sendto: (who, data, destination)."""

    sent: list[tuple[str, bytes, tuple[str, int]]] = field(default_factory=list)

    def wrap(self, name: str, transport: Any) -> None:
        original = transport.sendto

        def sendto(data: bytes, addr: tuple[str, int] | None = None) -> None:
            self.sent.append((name, bytes(data), addr if addr is not None else ("", 0)))
            original(data, addr)

        transport.sendto = sendto

    def of(self, name: str) -> list[bytes]:
        return [data for who, data, _ in self.sent if who == name]


@dataclass
class Stack:
    aaa: PyradAaa
    gateway: Gateway
    emulator: Emulator
    capture: Capture


def gateway_config(aaa: PyradAaa, **changes: Any) -> GatewayConfig:
    settings: dict[str, Any] = {
        "gtpc_port": 0,
        "gtpu_port": 0,
        "dae_port": 0,
        "aaa_auth_port": aaa.auth_port,
        "aaa_acct_port": aaa.acct_port,
        "radius_secret": SECRET.decode(),
        "radius_timeout": 0.2,
        "radius_retries": 1,
        "interim_interval": 0,
        "t3": 0.2,
        "n3": 2,
        "seed": 7,
        **changes,
    }
    return GatewayConfig(**settings)


@contextlib.asynccontextmanager
async def running_stack(
    gateway_changes: dict[str, Any] | None = None, emulator_changes: dict[str, Any] | None = None
) -> AsyncIterator[Stack]:
    """The stand-in AAA, the real gateway and the real emulator, each on its own 127.0.0.1 ports."""
    aaa = PyradAaa()
    await aaa.start()
    gateway = Gateway(gateway_config(aaa, **(gateway_changes or {})))
    await gateway.start()
    emulator = Emulator(
        EmulatorConfig(
            gateway_gtpc_port=gateway.gtpc_address[1],
            gateway_gtpu_port=gateway.gtpu_address[1],
            t3=1.0,
            n3=1,
            downlink_timeout=3.0,
            seed=11,
            **(emulator_changes or {}),
        ),
        downlink_source=gateway.generate_downlink,
    )
    await emulator.start()
    capture = Capture()
    capture.wrap("pgw-c", gateway.control._transport)
    capture.wrap("pgw-u", gateway.user_plane._transport)
    capture.wrap("sgw-c", emulator.radio.control._transport)
    capture.wrap("sgw-u", emulator.radio.user._transport)
    try:
        yield Stack(aaa, gateway, emulator, capture)
    finally:
        await emulator.stop()
        await gateway.stop()
        aaa.close()


class Peer(asyncio.DatagramProtocol):
    """A bare UDP socket on 127.0.0.1 for sending hand-made datagrams and reading what comes back."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.put_nowait((data, addr))

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(data, addr)

    async def next(self, timeout: float = 1.0) -> bytes | None:
        try:
            data, _ = await asyncio.wait_for(self.received.get(), timeout)
        except TimeoutError:
            return None
        return data

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


@contextlib.asynccontextmanager
async def peer() -> AsyncIterator[Peer]:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
    try:
        yield protocol
    finally:
        protocol.close()


async def eventually(check: Callable[[], object], timeout: float = 2.0) -> None:
    """Wait until `check()` is truthy (datagrams in flight on loopback take a few loop turns)."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.005)
