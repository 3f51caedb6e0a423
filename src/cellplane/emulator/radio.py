"""The emulated RAN/SGW's procedures: attach, detach, idle and eDRX, paging, and downlink delivery.

A device's PDN connection is a Create Session at the gateway (TS 23.401 §5.3.2.1 folded down to the S5/S8
leg we speak). Idle and eDRX are ours alone, as they are an MME's and SGW's in a real network: the gateway
keeps the session and keeps sending downlink, and this side decides what happens to it (TS 23.401
§5.3.4.3 paging; TS 23.682 §4.5.7 HLCOM buffering for eDRX, or loss where the network has none).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Callable

from cellplane.protocols.gtp import (
    Cause,
    CreateSessionRequest,
    CreateSessionResponse,
    DeleteBearerRequest,
    DeleteSessionRequest,
    Fteid,
    InterfaceType,
    UserLocation,
)
from cellplane.protocols.gtp import private as gtp_private
from cellplane.protocols.ipv4 import Ipv4Error, parse_udp

from .apps import stamp
from .config import EmulatorConfig
from .device import Device, DeviceSession, now
from .sgw_control import SgwControl
from .sgw_user import SgwUser
from .states import DeviceState

log = logging.getLogger("cellplane.emulator")
REACTIVATION_REASON = "reactivation requested by the network"


def cause_name(cause: int) -> str:
    try:
        return Cause(cause).name.replace("_", " ").capitalize()
    except ValueError:
        return f"GTP cause {cause}"


class Radio:
    """Devices' radio procedures over one SGW (a GTP-C and a GTP-U endpoint)."""

    def __init__(self, config: EmulatorConfig, rng: random.Random) -> None:
        self.config = config
        self._random = rng
        self.by_user_teid: dict[int, Device] = {}  # our S5/S8-U TEID -> device
        self.by_control_teid: dict[int, Device] = {}  # our S5/S8-C TEID -> device
        gateway = (config.gateway_host, config.gateway_gtpc_port)
        self.control = SgwControl(gateway, t3=config.t3, n3=config.n3, on_delete_bearer=self._bearer_deleted)
        self.user = SgwUser(config.host, self.by_user_teid, self.downlink, self._tunnel_lost)
        # Called with a device whose session the network ended asking it to attach again (set by the Emulator).
        self.on_reactivation: Callable[[Device], None] = lambda device: None
        # Called when a device gains or loses its session (a device shell's TUN follows its address).
        self.on_session_change: Callable[[Device], None] = lambda device: None
        # The gateway's restart counter (Recovery IE) as last heard; another value means it restarted and holds none
        # of our sessions any more (TS 23.007 §18).
        self.gateway_recovery: int | None = None

    def _new_teid(self) -> int:
        while True:
            teid = self._random.randint(1, 0xFFFFFFFF)
            if teid not in self.by_user_teid and teid not in self.by_control_teid:
                return teid

    # --- attach and detach ----------------------------------------------------------------------------------

    async def attach(self, device: Device) -> None:
        """Create Session for `device`; it ends attached or rejected (with the reason the network gave)."""
        device.state = DeviceState.ATTACHING
        device.reason = device.code = device.gtp_cause = None
        control_teid, user_teid = self._new_teid(), self._new_teid()
        network = device.network
        request = CreateSessionRequest(
            seq=self.control.next_seq(),
            imsi=device.imsi,
            apn=self.config.apn,
            sender_fteid=Fteid(InterfaceType.S5S8_SGW_GTPC, control_teid, self.config.host),
            bearer_fteid=Fteid(InterfaceType.S5S8_SGW_GTPU, user_teid, self.config.host),
            msisdn=device.msisdn,
            mei=device.imei,
            serving_network=network.plmn,
            uli=UserLocation(network.plmn, network.tac, device.eci),
            rat_type=device.rat,
            recovery=0,
            # Our GTP-U port is not 2152: say where downlink goes (protocols/gtp/private.py).
            private_extension=gtp_private.gtpu_port_extension(self.user.address[1]),
        )
        response = await self.control.request(request)
        if device.state != DeviceState.ATTACHING:  # powered off or reset meanwhile
            if isinstance(response, CreateSessionResponse) and response.accepted and response.pgw_fteid:
                await self._delete_session(response.pgw_fteid.teid)
            return
        if not isinstance(response, CreateSessionResponse):
            self._refused(device, Cause.REMOTE_PEER_NOT_RESPONDING, "the gateway did not answer")
            return
        if not response.accepted or response.pgw_fteid is None or response.bearer_fteid is None:
            self._refused(device, response.cause, gtp_private.reason_of(response.private_extension))
            return
        if response.recovery is not None:
            self.gateway_recovery = response.recovery
        device.session = DeviceSession(
            ue_ip=response.paa_ipv4 or "0.0.0.0",
            apn=self.config.apn,
            sgw_control_teid=control_teid,
            sgw_user_teid=user_teid,
            pgw_control_teid=response.pgw_fteid.teid,
            pgw_user_teid=response.bearer_fteid.teid,
            pgw_user=(response.bearer_fteid.ipv4 or self.config.gateway_host, self.config.gateway_gtpu_port),
            started_at=now(),
        )
        self.by_control_teid[control_teid] = device
        self.by_user_teid[user_teid] = device
        device.state = DeviceState.ATTACHED
        log.info("device %s attached on %s with %s", device.iccid, network.key, device.session.ue_ip)
        self._changed(device)

    def _refused(self, device: Device, cause: int, reason: str | None) -> None:
        device.state = DeviceState.REJECTED
        device.gtp_cause = int(cause)
        if reason:
            device.code, device.reason = gtp_private.split_reason(reason)
        else:
            device.code, device.reason = None, cause_name(cause)
        log.info("device %s refused: %s (%s)", device.iccid, device.reason, device.code)

    async def detach(self, device: Device, *, reason: str | None = None) -> None:
        """Delete Session (if it has one) and forget its tunnels; the device ends detached."""
        session = self._drop_session(device)
        device.state = DeviceState.DETACHED
        device.reason, device.code, device.gtp_cause = reason, None, None
        if session is not None:
            await self._delete_session(session.pgw_control_teid)

    async def _delete_session(self, pgw_control_teid: int) -> None:
        request = DeleteSessionRequest(seq=self.control.next_seq(), teid=pgw_control_teid, ebi=5)
        if await self.control.request(request) is None:
            log.warning("the gateway did not answer a Delete Session Request")

    def _drop_session(self, device: Device) -> DeviceSession | None:
        session, device.session = device.session, None
        if device.paging is not None:
            device.paging.cancel()
            device.paging = None
        device.buffered.clear()
        if session is not None:
            self.by_control_teid.pop(session.sgw_control_teid, None)
            self.by_user_teid.pop(session.sgw_user_teid, None)
            self._changed(device)
        return session

    def _changed(self, device: Device) -> None:
        try:
            self.on_session_change(device)
        except Exception:
            log.exception("session change hook failed for device %s", device.iccid)

    def _bearer_deleted(self, request: DeleteBearerRequest) -> int | None:
        """The gateway ended the session (Delete Bearer Request, TS 29.274 §7.2.9.2)."""
        device = self.by_control_teid.get(request.teid)
        if device is None or device.session is None:
            return None
        session = self._drop_session(device)
        device.state = DeviceState.DETACHED
        device.reason, device.code, device.gtp_cause = "disconnected by the network", None, request.cause
        if request.cause == Cause.REACTIVATION_REQUESTED:
            # TS 24.301 §6.4.4.2: the MME passes it on as ESM cause #39 and the UE re-establishes the PDN connection
            # (the platform's connectivity reset, docs/NETWORK.md).
            device.reason = REACTIVATION_REASON
            self.on_reactivation(device)
        log.info("device %s %s", device.iccid, device.reason)
        return session.pgw_control_teid if session else None

    def lose_sessions(self, reason: str) -> list[Device]:
        """The gateway no longer holds our sessions (it restarted, or the path to it failed): forget them here,
        without a Delete Session it could not answer; the devices end detached with `reason`."""
        lost = []
        for device in {id(d): d for d in self.by_control_teid.values()}.values():
            if device.session is not None:
                self._drop_session(device)
                device.state = DeviceState.DETACHED
                device.reason, device.code, device.gtp_cause = reason, None, None
                lost.append(device)
        return lost

    def _tunnel_lost(self, pgw_user_teid: int) -> None:
        """An Error Indication: the gateway holds no tunnel we send to, so the session is gone."""
        for device in list(self.by_user_teid.values()):
            if device.session is not None and device.session.pgw_user_teid == pgw_user_teid:
                self._drop_session(device)
                device.state = DeviceState.DETACHED
                device.reason, device.code, device.gtp_cause = "the gateway lost the session", None, None

    # --- connected, idle, eDRX ------------------------------------------------------------------------------

    def wake(self, device: Device) -> None:
        """Back to ECM-CONNECTED (Service Request, after a page or on the device's own uplink): buffered
        downlink is delivered."""
        if device.state not in (DeviceState.IDLE, DeviceState.EDRX, DeviceState.ATTACHED):
            return
        device.state = DeviceState.ATTACHED
        if device.paging is not None:
            device.paging.cancel()
            device.paging = None
        held, device.buffered = device.buffered, []
        for packet in held:
            self.deliver(device, packet)

    def sleep(self, device: Device, state: DeviceState) -> None:
        """To idle or eDRX; the session stays at the gateway."""
        device.state = state

    def downlink(self, device: Device, packet: bytes) -> None:
        state = device.state
        if state == DeviceState.ATTACHED:
            self.deliver(device, packet)
        elif state == DeviceState.IDLE:
            device.buffered.append(packet)
            if device.paging is None:
                device.paging = asyncio.get_running_loop().call_later(self.config.paging_delay, self._paged, device)
        elif state == DeviceState.EDRX and device.network.hlcom:
            device.buffered.append(packet)
        else:
            device.dropped_packets += 1

    def _paged(self, device: Device) -> None:
        device.paging = None
        if device.state == DeviceState.IDLE:
            self.wake(device)

    def deliver(self, device: Device, packet: bytes) -> None:
        """The packet reaches the device: counted, then given to the app on its UDP port (if any)."""
        device.down_octets += len(packet)
        device.down_packets += 1
        device.received.set()
        if device.tun_fd is not None:
            try:
                os.write(device.tun_fd, packet)  # to the real programs behind the device's TUN
            except OSError:
                device.dropped_packets += 1
            return
        try:
            datagram = parse_udp(packet)
        except Ipv4Error:
            return  # not UDP, or damaged: a modem's stack drops it
        if device.session is None or datagram.dst != device.session.ue_ip:
            return  # not addressed to this device
        app = device.apps.get(datagram.dport)
        if app is not None:
            app.receive(stamp(datagram.src, datagram.sport, datagram.dport, bytes(datagram.payload)))
