"""Independent RADIUS peers for the AAA tests: a PGW built on pyrad, FreeRADIUS's radclient, and a NAS that
listens for Disconnect-Requests (decoded and checked by pyrad, not by our codec).

Shared by tests/unit/network and tests/e2e/test_aaa_*.py.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pyrad import packet as pyrad_packet
from pyrad.client import Client
from pyrad.dictionary import Dictionary

from cellplane.domain.networks import network_sid
from cellplane.protocols import radius
from tests.support.system_packages import install as install_packages

FRANCE = ("208", "01")
USA = ("310", "260")
UK = ("234", "15")
FRANCE_SID = network_sid(*FRANCE)
USA_SID = network_sid(*USA)
UK_SID = network_sid(*UK)

_DICTIONARY: Dictionary | None = None


def dictionary() -> Dictionary:
    """The package's dictionary file, parsed by pyrad (once)."""
    global _DICTIONARY
    if _DICTIONARY is None:
        _DICTIONARY = Dictionary(str(radius.DICTIONARY))
    return _DICTIONARY


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Pgw:
    """A packet gateway as a third party would build it: pyrad's client, the TS 29.061 attributes."""

    auth_port: int
    acct_port: int
    secret: bytes = b"cellplane"
    nas_identifier: str = "pgw-test"
    timeout: float = 2.0
    retries: int = 3

    def client(self) -> Client:
        client = Client(
            server="127.0.0.1",
            authport=self.auth_port,
            acctport=self.acct_port,
            secret=self.secret,
            dict=dictionary(),
            retries=self.retries,
            timeout=self.timeout,
        )
        return client

    def access_request(self, imsi: str, plmn: tuple[str, str] = FRANCE, **extra: Any) -> pyrad_packet.AuthPacket:
        client = self.client()
        request = client.CreateAuthPacket(code=pyrad_packet.AccessRequest)
        attributes: dict[str, Any] = {
            "User-Name": imsi,
            "3GPP-IMSI": imsi,
            "3GPP-IMEISV": "3526860000123401",
            "3GPP-SGSN-MCC-MNC": "".join(plmn),
            "3GPP-RAT-Type": 9,
            "Called-Station-Id": "super",
            "NAS-IP-Address": "127.0.0.1",
            "NAS-Identifier": self.nas_identifier,
            "Framed-Protocol": 7,
            **extra,
        }
        for name, value in attributes.items():
            request[name] = value
        request["User-Password"] = request.PwCrypt(imsi)
        return request

    def accounting_request(
        self,
        status: int,
        imsi: str,
        session_id: str,
        *,
        up: int = 0,
        down: int = 0,
        plmn: tuple[str, str] = FRANCE,
        address: str | None = None,
        **extra: Any,
    ) -> pyrad_packet.AcctPacket:
        client = self.client()
        request = client.CreateAcctPacket()
        attributes: dict[str, Any] = {
            "Acct-Status-Type": status,
            "Acct-Session-Id": session_id,
            "User-Name": imsi,
            "3GPP-IMSI": imsi,
            "3GPP-SGSN-MCC-MNC": "".join(plmn),
            "3GPP-RAT-Type": 8,
            "3GPP-IMEISV": "3526860000123401",
            "3GPP-User-Location-Info": bytes.fromhex("8202f8100001") + bytes.fromhex("02f810") + (4242).to_bytes(4),
            "Called-Station-Id": "super",
            "NAS-IP-Address": "127.0.0.1",
            "NAS-Identifier": self.nas_identifier,
            # RFC 2869 §5.1-5.2: the high 32 bits go to Gigawords.
            "Acct-Input-Octets": up & 0xFFFFFFFF,
            "Acct-Input-Gigawords": up >> 32,
            "Acct-Output-Octets": down & 0xFFFFFFFF,
            "Acct-Output-Gigawords": down >> 32,
            "Acct-Input-Packets": up // 100,
            "Acct-Output-Packets": down // 100,
            **extra,
        }
        if address:
            attributes["Framed-IP-Address"] = address
        for name, value in attributes.items():
            request[name] = value
        return request

    def send(self, request: pyrad_packet.Packet) -> pyrad_packet.Packet:
        """Send with pyrad's own retransmissions; raises pyrad.client.Timeout when nobody answers."""
        return self.client().SendPacket(request)

    async def asend(self, request: pyrad_packet.Packet) -> pyrad_packet.Packet:
        return await asyncio.to_thread(self.send, request)

    def access(self, imsi: str, plmn: tuple[str, str] = FRANCE, **extra: Any) -> pyrad_packet.Packet:
        return self.send(self.access_request(imsi, plmn, **extra))

    async def aaccess(self, imsi: str, plmn: tuple[str, str] = FRANCE, **extra: Any) -> pyrad_packet.Packet:
        return await asyncio.to_thread(self.access, imsi, plmn, **extra)

    async def aaccounting(self, status: int, imsi: str, session_id: str, **kwargs: Any) -> pyrad_packet.Packet:
        return await self.asend(self.accounting_request(status, imsi, session_id, **kwargs))


def reply_message(reply: pyrad_packet.Packet) -> str:
    return str(reply["Reply-Message"][0]) if "Reply-Message" in reply else ""


def framed_ip(reply: pyrad_packet.Packet) -> str:
    return str(reply["Framed-IP-Address"][0])


@dataclass
class NasListener(asyncio.DatagramProtocol):
    """A NAS's Dynamic Authorization server (RFC 5176): records each Disconnect-Request, as pyrad decodes and
    verifies it, and answers ACK (or `answer`: "nak", or "silent" to answer nothing)."""

    secret: bytes = b"cellplane"
    answer: str = "ack"
    received: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    transport: asyncio.DatagramTransport | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport, whatever its class

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        self.raw.append(data)
        request = pyrad_packet.CoAPacket(packet=data, secret=self.secret, dict=dictionary())
        assert request.code == pyrad_packet.DisconnectRequest
        assert request.VerifyCoARequest(), "bad Request Authenticator on a Disconnect-Request"
        # pyrad decodes attribute names only through keys(); iterating the packet gives raw codes.
        self.received.append({key: request[key][0] for key in request.keys()})  # noqa: SIM118
        self.arrived.set()
        if self.answer == "silent":
            return
        reply = request.CreateReply()
        if self.answer == "nak":
            reply.code = pyrad_packet.DisconnectNAK
            reply["Error-Cause"] = 503
        assert self.transport is not None
        self.transport.sendto(reply.ReplyPacket(), addr)

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.received) < count and loop.time() < deadline:
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), max(0.01, deadline - loop.time()))
            except TimeoutError:
                break
        return self.received

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class ThreadedNas:
    """The same NAS for synchronous tests: a UDP socket served by a thread, bound before the platform starts so
    its port can be configured as the gateway's Dynamic Authorization port."""

    def __init__(self, secret: bytes = b"cellplane") -> None:
        self.secret = secret
        self.received: list[dict[str, Any]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = int(self._sock.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="test-nas", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self._sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            request = pyrad_packet.CoAPacket(packet=data, secret=self.secret, dict=dictionary())
            if request.code != pyrad_packet.DisconnectRequest or not request.VerifyCoARequest():
                continue
            self.received.append({key: request[key][0] for key in request.keys()})  # noqa: SIM118
            self._sock.sendto(request.CreateReply().ReplyPacket(), addr)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.received

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()


async def start_nas(port: int = 0, **kwargs: Any) -> tuple[NasListener, int]:
    loop = asyncio.get_running_loop()
    listener = NasListener(**kwargs)
    transport, _ = await loop.create_datagram_endpoint(lambda: listener, local_addr=("127.0.0.1", port))
    return listener, int(transport.get_extra_info("sockname")[1])


# --- FreeRADIUS's radclient ---------------------------------------------------------------------------------------


def radclient_path() -> str | None:
    """radclient, installed on the fly (Debian freeradius-utils) in CI or as root; None when it cannot be had."""
    found = shutil.which("radclient")
    if found:
        return found
    install_packages("freeradius-utils")
    return shutil.which("radclient")


def require_radclient() -> str:
    path = radclient_path()
    if path is None:
        pytest.skip("FreeRADIUS radclient is not installed and could not be installed (apt-get freeradius-utils)")
    return path


def radclient(
    binary: str, port: int, kind: str, body: str, secret: str = "cellplane", count: int = 1
) -> subprocess.CompletedProcess[str]:
    """One radclient run (`kind` is auth or acct) with `body` as its attribute list, on the package's dictionary
    (`-D`: radclient reads the file "dictionary" of that directory); its output shows the reply."""
    return subprocess.run(
        [binary, "-x", "-r", "2", "-t", "3", "-c", str(count), "-D", str(radius.DICTIONARY.parent),
         f"127.0.0.1:{port}", kind, secret],
        input=body,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip


def imsis(start: int, count: int) -> Iterator[str]:
    for offset in range(count):
        yield f"90153{start + offset:010d}"
