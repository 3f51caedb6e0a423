"""Hostile input at the gateway's sockets (hypothesis): random and mutated GTP-C, GTP-U and RADIUS datagrams
never crash or wedge it, and it still answers a valid Echo afterwards.

The gateway runs in its own thread and event loop, as in production, and the test throws real datagrams at
it over 127.0.0.1; every error it logs or its loop reports is collected and must stay empty.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyrad import packet as pyrad

from cellplane.network.gateway import Gateway
from cellplane.protocols.gtp import (
    CreateSessionResponse,
    DeleteSessionRequest,
    EchoRequest,
    EchoResponse,
    decode,
)
from cellplane.protocols.gtp.gtpu import (
    encode_echo_request,
    encode_echo_response,
    encode_error_indication,
    encode_gpdu,
)
from cellplane.protocols.ipv4 import build_udp
from tests.unit.network.gateway_support import DICTIONARY, SECRET, PyradAaa, gateway_config
from tests.unit.network.test_gateway_attach import raw_request

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass
class Running:
    gateway: Gateway
    loop: asyncio.AbstractEventLoop
    sock: socket.socket
    errors: list[str] = field(default_factory=list)
    valid: dict[str, list[bytes]] = field(default_factory=dict)

    def send(self, plane: str, data: bytes) -> None:
        address = {
            "c": self.gateway.gtpc_address,
            "u": self.gateway.gtpu_address,
            "dae": self.gateway.dae_address,
        }[plane]
        self.sock.sendto(data, address)

    def exchange(self, plane: str, data: bytes, accept: Callable[[bytes], bool]) -> bytes:
        """Send, then read (past the answers to earlier fuzz) until `accept` takes a datagram."""
        self.send(plane, data)
        while True:
            answer = self.sock.recv(65535)
            if accept(answer):
                return answer


class _Collect(logging.Handler):
    def __init__(self, errors: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.errors = errors

    def emit(self, record: logging.LogRecord) -> None:
        self.errors.append(record.getMessage())


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    loop = asyncio.new_event_loop()
    errors: list[str] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(str(context.get("message"))))
    handler = _Collect(errors)
    logging.getLogger("cellplane").addHandler(handler)
    started: dict[str, Any] = {}

    async def boot() -> None:
        aaa = PyradAaa()
        await aaa.start()
        gateway = Gateway(gateway_config(aaa))
        await gateway.start()
        started.update(aaa=aaa, gateway=gateway)

    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(boot())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="gateway", daemon=True)
    thread.start()
    assert ready.wait(10), "the gateway did not start"
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2.0)
    state = Running(started["gateway"], loop, sock, errors)
    # One live session, so that mutated G-PDUs and teardowns reach real tunnels.
    answer = state.exchange("c", raw_request(sock.getsockname()[1], seq=1).encode(), lambda data: data[1] == 33)
    response = decode(answer)
    assert isinstance(response, CreateSessionResponse) and response.accepted and response.bearer_fteid
    teid = response.bearer_fteid.teid
    disconnect = pyrad.CoAPacket(code=pyrad.DisconnectRequest, secret=SECRET, dict=DICTIONARY)
    disconnect["User-Name"] = "310410000000099"
    state.valid = {
        "c": [
            raw_request(sock.getsockname()[1], seq=2, imsi="310410000000098").encode(),
            DeleteSessionRequest(seq=3, teid=response.pgw_fteid.teid if response.pgw_fteid else 0).encode(),
            EchoRequest(seq=4, recovery=1).encode(),
        ],
        "u": [
            encode_gpdu(teid, build_udp(response.paa_ipv4 or "", "100.64.0.1", 1000, 2000, b"mo payload")),
            encode_gpdu(teid, build_udp(response.paa_ipv4 or "", "192.0.2.1", 1000, 2000, b"internet")),
            encode_echo_request(5),
            encode_error_indication(0x1111, "127.0.0.1", udp_port=2152),
        ],
        "dae": [disconnect.RequestPacket()],
    }
    try:
        yield state
    finally:
        sock.close()
        asyncio.run_coroutine_threadsafe(started["gateway"].stop(), loop).result(10)
        loop.call_soon_threadsafe(started["aaa"].close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        logging.getLogger("cellplane").removeHandler(handler)
        loop.close()


def mutate(data: bytes, draw: st.DrawFn) -> bytes:
    """Flip, cut, insert or overwrite a few octets of a valid datagram."""
    buffer = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "cut", "insert", "set"]))
        at = draw(st.integers(0, max(len(buffer) - 1, 0)))
        if action == "flip" and buffer:
            buffer[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "cut":
            del buffer[at:]
        elif action == "insert":
            buffer[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif buffer:
            buffer[at] = draw(st.integers(0, 255))
    return bytes(buffer)


@st.composite
def mutated(draw: st.DrawFn, running: Running) -> tuple[str, bytes]:
    plane = draw(st.sampled_from(sorted(running.valid)))
    return plane, mutate(draw(st.sampled_from(running.valid[plane])), draw)


def test_arbitrary_datagrams(running: Running) -> None:
    @FUZZ
    @given(plane=st.sampled_from(["c", "u", "dae"]), data=st.binary(max_size=300))
    def throw(plane: str, data: bytes) -> None:
        running.send(plane, data)

    throw()
    assert_still_serving(running)


def test_mutated_datagrams(running: Running) -> None:
    @FUZZ
    @given(data=st.data())
    def throw(data: st.DataObject) -> None:
        plane, datagram = data.draw(mutated(running))
        running.send(plane, datagram)

    throw()
    assert_still_serving(running)


def assert_still_serving(running: Running) -> None:
    echo = EchoResponse(seq=0xABCDE, recovery=running.gateway.recovery).encode()
    assert running.exchange("c", EchoRequest(seq=0xABCDE, recovery=0).encode(), lambda data: data == echo)
    answer = encode_echo_response(0x4242)
    assert running.exchange("u", encode_echo_request(0x4242), lambda data: data == answer)
    # The fuzz reached the endpoints (a test that sent nothing would pass too).
    assert running.gateway.control.malformed and running.gateway.user_plane.stats.malformed
    assert running.gateway.dae.stats.dropped
    assert running.errors == []
