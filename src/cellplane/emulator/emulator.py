"""The emulated radio network's API: devices that power on, attach, roam, sleep and make traffic.

    emulator = Emulator(EmulatorConfig(gateway_gtpc_port=..., gateway_gtpu_port=...), sim_lookup=lookup)
    await emulator.start()
    device = await emulator.power_on("8988...", mcc="310", mnc="410", rat="LTE-M")
    device.state, device.session["ip_address"]
    await emulator.traffic("8988...", up=1000, down=5000)    # octets of inner IP packets
    await emulator.set_state("8988...", "idle")
    await emulator.roam("8988...", mcc="234", mnc="15")

Every call takes and returns plain values (ICCIDs, numbers, DeviceView snapshots with `as_dict()`) and
raises EmulatorError subclasses naming the parameter at fault, so an HTTP layer maps it one to one.
The emulator speaks to the gateway only through GTP; it learns a SIM's IMSI through `sim_lookup`, given
by whoever runs it, and asks for downlink traffic through `downlink_source` (the "internet" side).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cellplane.protocols.gtp import EchoRequest, EchoResponse
from cellplane.protocols.ipv4 import Ipv4Error, build_udp, packet_sizes

from .apps import App, BridgeApp, Datagram, EchoApp, LogApp
from .config import EmulatorConfig
from .device import Device, DeviceView, luhn_digit
from .errors import InvalidState, InvalidValue, UnknownDevice
from .networks import Networks
from .radio import REACTIVATION_REASON, Radio
from .states import CONNECTED, DeviceState, parse_rat, parse_state
from .tun_link import DeviceTun


@dataclass(frozen=True)
class SimRecord:
    """What the emulator needs to know of a SIM it is handed by ICCID."""

    iccid: str
    imsi: str
    msisdn: str | None = None


SimLookup = Callable[[str], Awaitable[SimRecord | None]]
# Makes `octets` of downlink IP packets towards the device with this IMSI; returns the packet count.
DownlinkSource = Callable[[str, int], Awaitable[int]]

_ICCID = re.compile(r"[0-9]{18,22}")
_IMSI = re.compile(r"[0-9]{6,15}")
_IMEI = re.compile(r"[0-9]{14,16}")
TRAFFIC_HOST = "198.51.100.1"  # TEST-NET-2 (RFC 5737): the "internet" uplink traffic goes to, and is dropped
TRAFFIC_PORT = 9  # RFC 863 discard
_DEVICE_TRAFFIC_PORT = 40000
_APP_KINDS = ("echo", "log", "bridge")


def _check(pattern: re.Pattern[str], value: object, parameter: str, what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidValue(f"{parameter} must be {what}, not {value!r}", parameter)
    return value


def _port(value: object, parameter: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 0xFFFF:
        raise InvalidValue(f"{parameter} must be a UDP port from 1 to 65535, not {value!r}", parameter)
    return value


def _sizes(total: object, parameter: str) -> list[int]:
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise InvalidValue(f"{parameter} must be a non-negative number of bytes, not {total!r}", parameter)
    try:
        return packet_sizes(total)
    except Ipv4Error as error:
        raise InvalidValue(f"{parameter}: {error}", parameter) from None


class Emulator:
    """RAN/SGW and devices in one object; a component with start()/stop()."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        sim_lookup: SimLookup | None = None,
        downlink_source: DownlinkSource | None = None,
    ) -> None:
        self.config = config or EmulatorConfig()
        self._random = random.Random(self.config.seed)
        self._sim_lookup = sim_lookup
        self.downlink_source = downlink_source
        self.networks = Networks()
        self.radio = Radio(self.config, self._random)
        self._devices: dict[str, Device] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._transports: list[asyncio.BaseTransport] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.radio.on_reactivation = self._reactivate
        self._session_watchers: dict[str, Callable[[DeviceView], None]] = {}

    # --- component ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: self.radio.control, local_addr=(self.config.host, self.config.gtpc_port)
        )
        self._transports.append(transport)
        # GTP-U: a socket of our own, drained in batches (protocols/datagram.py), not a transport.
        user = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            user.bind((self.config.host, self.config.gtpu_port))
        except OSError:
            user.close()
            raise
        self.radio.user.open(user, self.config.user_plane_buffer)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        # Detach everyone (Delete Session), but do not wait on a gateway that is already gone.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.config.t3 * 2):
                await self.reset()
        self._devices.clear()
        for transport in self._transports:
            transport.close()
        self._transports.clear()
        self.radio.user.close()

    @property
    def gtpc_address(self) -> tuple[str, int]:
        return self.radio.control.address

    @property
    def gtpu_address(self) -> tuple[str, int]:
        return self.radio.user.address

    # --- devices --------------------------------------------------------------------------------------------

    async def power_on(
        self,
        iccid: str,
        *,
        mcc: str,
        mnc: str,
        rat: str | int = "LTE-M",
        imsi: str | None = None,
        imei: str | None = None,
        msisdn: str | None = None,
    ) -> DeviceView:
        """Switch a device on and attach it to the visited network MCC-MNC; returns it attached or rejected.
        A device already on is detached first, then attaches with the new values."""
        _check(_ICCID, iccid, "Iccid", "18 to 22 digits")
        network = self.networks.get(mcc, mnc)
        rat_type = parse_rat(rat)
        if imei is not None:
            _check(_IMEI, imei, "Imei", "an IMEI of 15 digits (or 14 without check digit, 16 for an IMEISV)")
            if len(imei) == 14:  # the TAC and serial alone: the device's IMEI has its check digit too (GTP's MEI)
                imei += luhn_digit(imei)
        if imsi is None:
            record = await self._lookup(iccid)
            imsi, msisdn = record.imsi, msisdn or record.msisdn
        _check(_IMSI, imsi, "Imsi", "6 to 15 digits")
        async with self._lock(iccid):
            device = self._devices.get(iccid)
            if device is not None:
                await self.radio.detach(device)
                device.imsi, device.network, device.rat = imsi, network, rat_type
                device.imei = imei or device.imei
                device.msisdn = msisdn
            else:
                device = Device(
                    iccid=iccid,
                    imsi=imsi,
                    imei=imei or self._new_imei(),
                    network=network,
                    rat=rat_type,
                    eci=self._random.randint(1, 0x0FFFFFFF),
                    msisdn=msisdn,
                )
                self._devices[iccid] = device
            await self.radio.attach(device)
            return device.view()

    async def set_state(
        self, iccid: str, state: str, *, mcc: str | None = None, mnc: str | None = None, rat: str | int | None = None
    ) -> DeviceView:
        """Move a device to `state` (attached, idle, edrx, detached). Asking for `attached` attaches a detached
        or rejected device (on MCC-MNC when given); a network given with an attached device is a roam."""
        wanted = parse_state(state)
        device = self._get(iccid)
        if (mcc is None) != (mnc is None):
            raise InvalidValue("give both Mcc and Mnc, or neither", "Mnc" if mnc is None else "Mcc")
        if mcc is not None and mnc is not None:
            network = self.networks.get(mcc, mnc)
            if wanted == DeviceState.ATTACHED and (network is not device.network or rat is not None):
                return await self.roam(iccid, mcc=mcc, mnc=mnc, rat=rat)
            device.network = network
        if rat is not None:
            device.rat = parse_rat(rat)
        async with self._lock(iccid):
            if wanted == DeviceState.DETACHED:
                await self.radio.detach(device)
            elif device.state in CONNECTED:
                if wanted == DeviceState.ATTACHED:
                    self.radio.wake(device)
                else:
                    self.radio.sleep(device, wanted)
            elif wanted == DeviceState.ATTACHED:
                await self.radio.attach(device)
            else:
                raise InvalidState(f"a {device.state} device cannot go {wanted}: attach it first", "State")
            return device.view()

    async def roam(self, iccid: str, *, mcc: str, mnc: str, rat: str | int | None = None) -> DeviceView:
        """Move to another visited network: detach where it is, attach on the new one (a new session there)."""
        device = self._get(iccid)
        network = self.networks.get(mcc, mnc)
        rat_type = parse_rat(rat) if rat is not None else device.rat
        async with self._lock(iccid):
            await self.radio.detach(device)
            device.network, device.rat = network, rat_type
            device.eci = self._random.randint(1, 0x0FFFFFFF)  # a cell of the new network
            await self.radio.attach(device)
            return device.view()

    async def power_off(self, iccid: str) -> None:
        """Detach (if attached) and forget the device."""
        device = self._get(iccid)
        async with self._lock(iccid):
            await self.radio.detach(device)
            for app in device.apps.values():
                app.close()
            self._devices.pop(iccid, None)
            self._locks.pop(iccid, None)

    def attach_tun(
        self, iccid: str, fd: int, on_session_change: Callable[[DeviceView], None] | None = None
    ) -> DeviceTun:
        """Carry the device's packets to and from a TUN (`fd`, made by the caller): real programs behind it use the
        device's session. `on_session_change` is called with the device each time it gains or loses its session
        (its address may change). Stop with the returned DeviceTun's stop()."""
        device = self._get(iccid)
        link = DeviceTun(self.radio, device, fd)
        link.start()
        if on_session_change is not None:
            if not self._session_watchers:
                previous = self.radio.on_session_change

                def changed(changed_device: Device) -> None:
                    previous(changed_device)
                    watcher = self._session_watchers.get(changed_device.iccid)
                    if watcher is not None:
                        watcher(changed_device.view())

                # One dispatcher for every TUN-linked device (a fleet's thousand would otherwise nest a thousand deep).
                self.radio.on_session_change = changed
            self._session_watchers[iccid] = on_session_change
        return link

    def device(self, iccid: str) -> DeviceView:
        return self._get(iccid).view()

    async def check_gateway(self) -> str | None:
        """Send the gateway a GTP Echo (TS 29.274 §7.1.1), as an SGW watches its path to a PGW. When the gateway does
        not answer (path failure) or answers with another restart counter (it restarted), every session through it
        is gone: they are dropped here, the devices end detached, and the reason is returned (None: all is well, or
        there was no session to lose)."""
        control = self.radio.control
        response = await control.request(EchoRequest(seq=control.next_seq(), recovery=0))
        known = self.radio.gateway_recovery
        if not isinstance(response, EchoResponse):
            reason = "the gateway does not answer GTP Echo (path failure)"
        elif known is not None and response.recovery != known:
            reason = f"the gateway restarted (GTP Recovery {known} -> {response.recovery})"
            self.radio.gateway_recovery = response.recovery
        else:
            self.radio.gateway_recovery = response.recovery
            return None
        async with contextlib.AsyncExitStack() as locks:
            for iccid in sorted(self._devices):
                await locks.enter_async_context(self._lock(iccid))
            lost = self.radio.lose_sessions(reason)
        return reason if lost else None

    def devices(self) -> list[DeviceView]:
        return [device.view() for _, device in sorted(self._devices.items())]

    def configure_network(self, mcc: str, mnc: str, *, hlcom: bool | None = None) -> dict[str, Any]:
        """Set what a visited network offers (HLCOM buffering for eDRX sleepers); returns its settings."""
        return self.networks.configure(mcc, mnc, hlcom=hlcom).as_dict()

    async def reset(self) -> None:
        """Back to an empty network: every device detached and forgotten, network settings cleared."""
        devices = list(self._devices)
        if devices:
            await asyncio.gather(*(self.power_off(iccid) for iccid in devices), return_exceptions=True)
        self._devices.clear()
        self._locks.clear()
        self.networks.clear()

    # --- traffic and apps -----------------------------------------------------------------------------------

    async def traffic(self, iccid: str, up: int = 0, down: int = 0) -> dict[str, int]:
        """Make `up` octets of uplink and `down` octets of downlink inner IP packets (exactly: usage counted on
        them equals these numbers, unless the network throttles the session and drops some). A sleeping device wakes
        up to send. Returns what the device counted."""
        up_sizes = _sizes(up, "UploadBytes")
        _sizes(down, "DownloadBytes")
        device = self._get(iccid)
        if device.state not in CONNECTED or device.session is None:
            raise InvalidState(f"device {iccid} is {device.state}: it needs a data session for traffic")
        if down and self.downlink_source is None:
            raise InvalidState("this emulator has no downlink traffic source", "DownloadBytes")
        self.radio.wake(device)  # a device with data to send asks for radio resources (Service Request)
        start = (device.up_octets, device.up_packets, device.down_octets, device.down_packets)
        ue_ip = device.session.ue_ip
        for index, size in enumerate(up_sizes):
            packet = build_udp(ue_ip, TRAFFIC_HOST, _DEVICE_TRAFFIC_PORT, TRAFFIC_PORT, bytes(size - 28))
            if not self.radio.user.send(device, packet):
                break
            if index % 32 == 31:  # let the receiving side drain its socket between bursts
                await asyncio.sleep(0 if index % 1024 else 0.001)
        if down and self.downlink_source is not None:
            # The source answers with the octets it sent: fewer than asked when the network throttles the session.
            sent = await self.downlink_source(device.imsi, down)
            await self._received(device, start[2] + min(down, sent))
        return {
            "up_bytes": device.up_octets - start[0],
            "up_packets": device.up_packets - start[1],
            "down_bytes": device.down_octets - start[2],
            "down_packets": device.down_packets - start[3],
        }

    async def _received(self, device: Device, target: int) -> None:
        """Wait until `device` has received `target` octets in all, or the downlink timeout passes."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.config.downlink_timeout):
                while device.down_octets < target:
                    device.received.clear()
                    await device.received.wait()

    def send_udp(self, iccid: str, src_port: int, dst: str, dst_port: int, payload: bytes) -> bool:
        """The device sends one UDP datagram (to 100.64.0.1 it is an IP Command); False without a session."""
        device = self._get(iccid)
        _port(src_port, "SourcePort")
        _port(dst_port, "DestinationPort")
        if device.state not in CONNECTED or device.session is None:
            return False
        self.radio.wake(device)
        try:
            packet = build_udp(device.session.ue_ip, dst, src_port, dst_port, payload)
        except Ipv4Error as error:
            raise InvalidValue(str(error), "Payload") from None
        return self.radio.user.send(device, packet)

    async def open_app(
        self,
        iccid: str,
        port: int,
        kind: str,
        *,
        deliver_to: tuple[str, int] | None = None,
        listen: tuple[str, int] = ("127.0.0.1", 0),
        uplink_to: tuple[str, int] | None = None,
    ) -> dict[str, Any]:
        """Run an app on a device UDP port: "echo", "log", or "bridge" (needs `deliver_to`, a host socket).
        Returns the app's description (a bridge's host-side `listen` address included)."""
        device = self._get(iccid)
        _port(port, "DevicePort")
        if kind not in _APP_KINDS:
            raise InvalidValue(f"app must be one of {', '.join(_APP_KINDS)}, not {kind!r}", "App")

        def send(src_port: int, dst: str, dst_port: int, payload: bytes) -> bool:
            return self.send_udp(iccid, src_port, dst, dst_port, payload)

        app: App
        described: dict[str, Any] = {"port": port, "kind": kind}
        if kind == "echo":
            app = EchoApp(port, send)
        elif kind == "log":
            app = LogApp()
        else:
            if deliver_to is None:
                raise InvalidValue("a bridge needs the host address to deliver to", "DeliverTo")
            bridge = BridgeApp(port, send, deliver_to, uplink_to=uplink_to)
            described["listen"] = await bridge.open(listen)
            described["deliver_to"] = deliver_to
            app = bridge
        old = device.apps.pop(port, None)
        if old is not None:
            old.close()
        device.apps[port] = app
        return described

    def close_app(self, iccid: str, port: int) -> None:
        app = self._get(iccid).apps.pop(port, None)
        if app is not None:
            app.close()

    def datagrams(self, iccid: str, port: int) -> list[Datagram]:
        """What the log or bridge app on `port` has received, oldest first."""
        app = self._get(iccid).apps.get(port)
        if not isinstance(app, LogApp | BridgeApp):
            raise InvalidValue(f"no log or bridge app on port {port}", "DevicePort")
        return list(app.datagrams)

    async def wait_for(self, iccid: str, *states: str, timeout: float = 5.0) -> DeviceView:
        """Wait until the device is in one of `states` (the network may move it: a page, a disconnect)."""
        async with asyncio.timeout(timeout):
            while self._get(iccid).state not in states:
                await asyncio.sleep(0.005)
        return self.device(iccid)

    # --- internals ------------------------------------------------------------------------------------------

    def _reactivate(self, device: Device) -> None:
        """The network ended the device's session asking for a new one (a connectivity reset): attach again."""
        task = asyncio.get_running_loop().create_task(self._attach_again(device), name=f"reattach-{device.iccid}")
        self._tasks.add(task)  # keep a reference until done (asyncio holds tasks weakly)
        task.add_done_callback(self._tasks.discard)

    async def _attach_again(self, device: Device) -> None:
        async with self._lock(device.iccid):
            # Powered off, reset, or moved on by a caller meanwhile: the device has other plans.
            moved_on = device.state != DeviceState.DETACHED or device.reason != REACTIVATION_REASON
            if self._devices.get(device.iccid) is not device or moved_on:
                return
            await self.radio.attach(device)

    def _get(self, iccid: str) -> Device:
        device = self._devices.get(iccid)
        if device is None:
            raise UnknownDevice(f"no device with ICCID {iccid!r} is powered on", "Iccid")
        return device

    def _lock(self, iccid: str) -> asyncio.Lock:
        lock = self._locks.get(iccid)
        if lock is None:
            lock = self._locks[iccid] = asyncio.Lock()
        return lock

    async def _lookup(self, iccid: str) -> SimRecord:
        if self._sim_lookup is None:
            raise InvalidValue("give the IMSI: this emulator has no SIM lookup", "Imsi")
        record = await self._sim_lookup(iccid)
        if record is None:
            raise UnknownDevice(f"no SIM with ICCID {iccid}", "Iccid")
        return record

    def _new_imei(self) -> str:
        """A well-formed IMEI: an 8-digit TAC, a 6-digit serial and the Luhn check digit (TS 23.003 §6.2)."""
        body = "35" + "".join(str(self._random.randint(0, 9)) for _ in range(12))
        return body + luhn_digit(body)
