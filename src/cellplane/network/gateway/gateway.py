"""The gateway component (PGW/UPF role): binds GTPv2-C, GTP-U and Dynamic Authorization, runs accounting.

gateway = Gateway(GatewayConfig(...))
await gateway.start()
gateway.on_mo_datagram = hook               # IP Commands from SIMs (uplink to 100.64.0.1)
gateway.send_to_device(imsi, 4000, 5683, b"...")   # an IP Command to a SIM
await gateway.report_usage()                # Interim-Update now, instead of at the next interval
await gateway.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from typing import Any

from cellplane.protocols.gtp import MessageType
from cellplane.protocols.radius import AcctTerminateCause

from ..radius_client import RadiusClient
from . import metrics
from .aaa import AaaLink
from .config import GatewayConfig
from .control import ControlPlane
from .dae import DynamicAuthorizationServer
from .dispatcher import Dispatcher
from .handlers import CreateSessionHandler, DeleteSessionHandler, EchoHandler
from .manager import SessionManager
from .sessions import AddressPool, Session, SessionTable
from .sgi import SgiPort
from .user_plane import COMMANDS_ADDRESS, DISCARD_PORT, MoHandler, UserPlane

log = logging.getLogger("cellplane.gateway")


class Gateway:
    """One PGW: sessions in memory, usage to the AAA over RADIUS, user packets in GTP-U tunnels."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.recovery = config.recovery if config.recovery is not None else int(time.time()) % 256
        self.sessions = SessionTable(config.seed)
        secret = config.radius_secret.encode()
        self.radius = RadiusClient(
            secret, bind=config.host, timeout=config.radius_timeout, retries=config.radius_retries
        )
        self.aaa = AaaLink(self.radius, config)
        self.manager = SessionManager(self.sessions, self.aaa)
        # The SGi side: routing domain name -> the gateway's end of its TUN (empty while the data plane is off).
        self.domains: dict[str, SgiPort] = {}
        self._gtpu_socket: socket.socket | None = None
        # Its `missing_domain` hook makes a domain on first need (the runtime wires the Things Networks').
        self.create_session = CreateSessionHandler(
            self.manager, self.aaa, AddressPool(config.ue_ip_pool), config.host, self.recovery, self.domains
        )
        handlers: dict[int, Any] = {
            MessageType.ECHO_REQUEST: EchoHandler(self.recovery),
            MessageType.CREATE_SESSION_REQUEST: self.create_session,
            MessageType.DELETE_SESSION_REQUEST: DeleteSessionHandler(self.manager, self.recovery),
        }
        self.dispatcher = Dispatcher(handlers, self.sessions, self.recovery)
        self.control = ControlPlane(self.dispatcher, t3=config.t3, n3=config.n3)
        self.user_plane = UserPlane(self.sessions, config.host)
        self.user_plane.on_path_error = self._path_error
        self.dae = DynamicAuthorizationServer(
            self.manager, secret, config.dae_clients, config.host, config.nas_identifier
        )
        self.manager.requester = self.control.request
        self.manager.next_seq = self.control.next_seq
        self._transports: list[asyncio.BaseTransport] = []
        self._interim: asyncio.Task[None] | None = None
        metrics.watch(self)

    # --- component ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await self.radius.start()
        # GTP-U on a socket of our own: the SGi side sends downlink G-PDUs on it directly (sgi.py).
        self._gtpu_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._gtpu_socket.setblocking(False)
        self._gtpu_socket.bind((self.config.host, self.config.gtpu_port))
        self.user_plane.open(self._gtpu_socket)  # read in batches (protocols/datagram.py), not by a transport
        for protocol, port in ((self.control, self.config.gtpc_port), (self.dae, self.config.dae_port)):
            transport, _ = await loop.create_datagram_endpoint(
                lambda protocol=protocol: protocol,  # type: ignore[misc]
                local_addr=(self.config.host, port),
            )
            self._transports.append(transport)
        for sgi in self.domains.values():
            sgi.sock = self._gtpu_socket
            sgi.start()
        self._interim = asyncio.ensure_future(self._interim_loop())
        log.info(
            "gateway on %s: GTP-C %d, GTP-U %d, DAE %d",
            self.config.host,
            self.control.address[1],
            self.user_plane.address[1],
            self.dae_address[1],
        )

    async def stop(self) -> None:
        if self._interim is not None:
            self._interim.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._interim
            self._interim = None
        # Accounting Stop for whatever is still open, with a bounded wait: a dead AAA must not hang shutdown.
        await self.manager.close(timeout=self.config.radius_timeout * (self.config.radius_retries + 1))
        await self.control.close()
        for sgi in self.domains.values():
            sgi.stop()
        for transport in self._transports:
            transport.close()
        self._transports.clear()
        self.user_plane.close()
        if self._gtpu_socket is not None:
            self._gtpu_socket.close()
            self._gtpu_socket = None
        await self.radius.close()

    @property
    def gtpc_address(self) -> tuple[str, int]:
        return self.control.address

    @property
    def gtpu_address(self) -> tuple[str, int]:
        return self.user_plane.address

    @property
    def dae_address(self) -> tuple[str, int]:
        transport = self._transports[1]
        host, port = transport.get_extra_info("sockname")[:2]
        return host, port

    # --- routing domains (network/dataplane makes them; the runtime hands their TUNs over) ---

    def add_domain(self, name: str, tun_fd: int) -> SgiPort:
        """Sessions whose Access-Accept names `name` (the default domain: none named) go through this TUN."""
        sgi = SgiPort(name, tun_fd, self._gtpu_socket)
        self.domains[name] = sgi
        if self._gtpu_socket is not None:
            sgi.start()
        return sgi

    def remove_domain(self, name: str) -> None:
        """The domain goes away: its sessions end (Lost-Service, the SGW told), its TUN is no longer read."""
        sgi = self.domains.pop(name, None)
        if sgi is None:
            return
        sgi.stop()
        for session in list(sgi.sessions.values()):
            self.manager.end(session, AcctTerminateCause.LOST_SERVICE, notify_sgw=True)

    # --- the platform's handles -----------------------------------------------------------------------------

    @property
    def on_mo_datagram(self) -> MoHandler:
        """Called as hook(session, src_port, dst_port, payload) for each IP Command a SIM sends (issue 4)."""
        return self.user_plane.on_mo_datagram

    @on_mo_datagram.setter
    def on_mo_datagram(self, hook: MoHandler) -> None:
        self.user_plane.on_mo_datagram = hook

    def session(self, imsi_or_ue_ip: str) -> Session | None:
        return self.sessions.find(imsi_or_ue_ip)

    def send_to_device(self, imsi_or_ue_ip: str, src_port: int, dst_port: int, payload: bytes) -> bool:
        """An IPv4/UDP datagram from 100.64.0.1 to the device, through its tunnel; False if it has no session."""
        session = self.sessions.find(imsi_or_ue_ip)
        if session is None:
            return False
        self.user_plane.send_udp(session, COMMANDS_ADDRESS, src_port, dst_port, payload)
        return True

    async def generate_downlink(self, imsi_or_ue_ip: str, total: int, port: int = DISCARD_PORT) -> int:
        """Downlink traffic of `total` octets of inner IP packets to the device; returns the octets sent (less than
        `total` when the session is throttled: its policer drops the excess). LookupError if the device has no
        session; protocols.ipv4.Ipv4Error if `total` is 1 to 27."""
        session = self.sessions.find(imsi_or_ue_ip)
        if session is None:
            raise LookupError(f"no session for {imsi_or_ue_ip}")
        return await self.user_plane.generate(session, total, port)

    async def report_usage(self, imsi_or_ue_ip: str | None = None) -> int:
        """Interim-Update now for one device (or all); returns how many sessions were reported, once the AAA
        has answered (or the reports were given up)."""
        if imsi_or_ue_ip is None:
            reports = self.manager.interim()
        else:
            session = self.sessions.find(imsi_or_ue_ip)
            reports = self.manager.interim([session] if session is not None else [])
        if reports:
            await asyncio.gather(*reports)
        return len(reports)

    def disconnect(self, imsi_or_ue_ip: str) -> bool:
        """End a session from the network side (as a Disconnect-Request would); False if there is none."""
        session = self.sessions.find(imsi_or_ue_ip)
        return session is not None and self.manager.end(session, AcctTerminateCause.ADMIN_RESET, notify_sgw=True)

    # --- internals ------------------------------------------------------------------------------------------

    def _path_error(self, session: Session) -> None:
        # TS 23.007 §20: an Error Indication from the SGW means it lost the tunnel: the session is gone.
        self.manager.end(session, AcctTerminateCause.LOST_SERVICE, notify_sgw=False)

    async def _interim_loop(self) -> None:
        """Interim-Update for each session every `interim_interval` seconds (RFC 2869 §2.1)."""
        interval = self.config.interim_interval
        if interval <= 0:
            return
        while True:
            await asyncio.sleep(interval)
            due = time.monotonic() - interval / 2
            self.manager.interim([s for s in self.sessions if s.started <= due])
