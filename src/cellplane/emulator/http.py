"""The emulated network's control API (`/cellplane/v1/Emulator/...`): power devices on and off, move them between
states and networks, make traffic, run apps on their ports, configure visited networks — over HTTP, with the
platform's wire conventions.

The router is built around an Emulator and three seams given by whoever serves it, so that this package never
reads the platform's store: `authenticate(request)` gives a caller (or raises), `owns(caller, iccids)` says
which of those SIMs the caller may drive (its account's and its subaccounts'), and `resolve_network(text)`
turns a Network parameter (HW sid, "MCC-MNC" or "MCCMNC") into a PLMN. `after_traffic(imsi)`, optional, runs
once traffic has been made (in-process, the runtime has the gateway report the usage at once).
`is_operator(request)` says whether the request carries the operator credential: settings of a visited network
change what every tenant's devices see, so only the operator may change them (and reset them); without that seam
nobody may.
`network_session(imsi)`, optional, tells what the network side knows of the device's session (in-process: the
gateway's counters, whether it is throttled, what its policer dropped); it is shown as the session's `network`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from .apps import COMMANDS_ADDRESS, Datagram
from .device import DeviceView
from .emulator import Emulator
from .errors import InvalidState
from .http_wire import Params, WireError, answered, base_url, form, invalid, iso, list_body, missing, not_found, query
from .states import CONNECTED, DeviceState

PREFIX = "/cellplane/v1/Emulator"
MAX_TRAFFIC = 100_000_000  # octets per request and direction: a test's worth, not a load generator
MAX_PAYLOAD = 1472  # a UDP payload in one 1500-octet IPv4 packet
_ICCID = re.compile(r"[0-9]{18,22}")
_PLMN = re.compile(r"^(\d{3})[-\s]?(\d{2,3})\Z")
_IPV4 = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\Z")
_APPS = ("echo", "log")


@dataclass(frozen=True)
class NetworkRef:
    """A visited network as the API names it: its PLMN and, when it is in the platform's catalogue, its sid."""

    mcc: str
    mnc: str
    sid: str | None = None

    @property
    def key(self) -> str:
        return f"{self.mcc}-{self.mnc}"


Authenticate = Callable[[Request], Awaitable[Any]]
Ownership = Callable[[Any, Sequence[str]], Awaitable[Collection[str]]]
ResolveNetwork = Callable[[str], NetworkRef | None]
AfterTraffic = Callable[[str], Awaitable[None]]
NetworkSession = Callable[[str], dict[str, Any] | None]
IsOperator = Callable[[Request], bool]
OPERATOR_ONLY = (
    "Network-wide emulator settings are the operator's: use the operator credential (Basic admin:<admin token>)"
)


def parse_network(text: str) -> NetworkRef | None:
    """ "310-260" or "310260" (no catalogue here: sids need the resolver the platform gives)."""
    match = _PLMN.match(text.strip())
    return NetworkRef(match.group(1), match.group(2)) if match else None


def router(
    emulator: Emulator,
    authenticate: Authenticate,
    owns: Ownership,
    *,
    resolve_network: ResolveNetwork = parse_network,
    after_traffic: AfterTraffic | None = None,
    network_session: NetworkSession | None = None,
    is_operator: IsOperator | None = None,
    prefix: str = PREFIX,
) -> APIRouter:
    api = APIRouter(prefix=prefix, tags=["cellplane v1 emulator"])
    drive = _Driver(emulator, owns, resolve_network, network_session)

    def operator(request: Request) -> bool:
        return is_operator is not None and is_operator(request)

    async def require_operator(request: Request) -> None:
        """A tenant learns it is not the operator (403) only once it is known (401 before); then nothing is read."""
        if not operator(request):
            await authenticate(request)
            raise WireError(403, 20403, OPERATOR_ONLY)

    @api.post("/Devices")
    @answered
    async def power_on(request: Request) -> Response:
        """Power a device on (the SIM `Iccid`) and attach it to `Network`; 201 with it attached or rejected."""
        caller = await authenticate(request)
        params = await form(request)
        iccid = _iccid(params.string("Iccid", required=True, max_length=22) or "")
        network = drive.network(params, required=True)
        imei = params.string("Imei", max_length=16)
        rat = params.string("RatType", max_length=16) or "LTE-M"
        await drive.check(caller, iccid)
        assert network is not None
        view = await emulator.power_on(iccid, mcc=network.mcc, mnc=network.mnc, rat=rat, imei=imei or None)
        return JSONResponse(drive.render(request, view), status_code=201)

    @api.get("/Devices")
    @answered
    async def list_devices(request: Request) -> Response:
        caller = await authenticate(request)
        params = query(request)
        state = params.string("State", max_length=16)
        if state is not None and state not in set(DeviceState):
            raise invalid("State", f"State must be one of {', '.join(DeviceState)}")
        network = drive.network(params)
        devices = [
            d
            for d in emulator.devices()
            if (state is None or d.state == state) and (network is None or d.network == network.key)
        ]
        mine = set(await owns(caller, [d.iccid for d in devices])) if devices else set()
        visible = [d for d in devices if d.iccid in mine]
        body = list_body(request, params, "devices", visible, lambda d: d.iccid, lambda d: drive.render(request, d))
        return JSONResponse(body)

    @api.get("/Devices/{iccid}")
    @answered
    async def fetch_device(request: Request, iccid: str) -> Response:
        await drive.check(await authenticate(request), iccid)
        return JSONResponse(drive.render(request, emulator.device(iccid)))

    @api.post("/Devices/{iccid}")
    @answered
    async def update_device(request: Request, iccid: str) -> Response:
        """`State` (attached, idle, edrx, detached) and/or `Network` (a roam when attached) and/or `RatType`.
        Without State the device is to be attached: on the new Network if one is given."""
        caller = await authenticate(request)
        params = await form(request)
        state = params.string("State", max_length=16)
        network = drive.network(params)
        rat = params.string("RatType", max_length=16)
        if state is None and network is None and rat is None:
            raise missing("State")
        await drive.check(caller, iccid)
        view = await emulator.set_state(
            iccid,
            state or DeviceState.ATTACHED,
            mcc=network.mcc if network else None,
            mnc=network.mnc if network else None,
            rat=rat,
        )
        return JSONResponse(drive.render(request, view))

    @api.delete("/Devices/{iccid}")
    @answered
    async def power_off(request: Request, iccid: str) -> Response:
        await drive.check(await authenticate(request), iccid)
        await emulator.power_off(iccid)
        return Response(status_code=204)

    @api.post("/Devices/{iccid}/Traffic")
    @answered
    async def traffic(request: Request, iccid: str) -> Response:
        """`UploadBytes` and `DownloadBytes` of inner IP packets, exactly: the usage the platform records."""
        caller = await authenticate(request)
        params = await form(request)
        up = params.integer("UploadBytes", minimum=0, maximum=MAX_TRAFFIC)
        down = params.integer("DownloadBytes", minimum=0, maximum=MAX_TRAFFIC)
        if up is None and down is None:
            raise missing("UploadBytes")
        await drive.check(caller, iccid)
        made = await emulator.traffic(iccid, up=up or 0, down=down or 0)
        view = emulator.device(iccid)
        if after_traffic is not None and view.state in CONNECTED:
            await after_traffic(view.imsi)
        return JSONResponse(
            {
                "iccid": iccid,
                "upload_bytes": made["up_bytes"],
                "upload_packets": made["up_packets"],
                "download_bytes": made["down_bytes"],
                "download_packets": made["down_packets"],
                "device": drive.render(request, view),
            }
        )

    @api.post("/Devices/{iccid}/Apps")
    @answered
    async def open_app(request: Request, iccid: str) -> Response:
        """Run `App` (echo or log) on the device's UDP port `DevicePort` (a bridge needs `cellplane device bridge`)."""
        caller = await authenticate(request)
        params = await form(request)
        port = params.integer("DevicePort", minimum=1, maximum=0xFFFF)
        if port is None:
            raise missing("DevicePort")
        kind = params.string("App", required=True, max_length=8)
        if kind not in _APPS:
            raise invalid("App", f"App must be one of {', '.join(_APPS)}")
        await drive.check(caller, iccid)
        await emulator.open_app(iccid, port, kind)
        return JSONResponse(drive.render_app(request, iccid, port, kind), status_code=201)

    @api.delete("/Devices/{iccid}/Apps/{port}")
    @answered
    async def close_app(request: Request, iccid: str, port: str) -> Response:
        await drive.check(await authenticate(request), iccid)
        emulator.close_app(iccid, _path_port(port))
        return Response(status_code=204)

    @api.get("/Devices/{iccid}/Apps/{port}/Datagrams")
    @answered
    async def received(request: Request, iccid: str, port: str) -> Response:
        """What the log app on a port received, oldest first."""
        caller = await authenticate(request)
        params = query(request)
        await drive.check(caller, iccid)
        numbered = list(enumerate(emulator.datagrams(iccid, _path_port(port))))
        body = list_body(request, params, "datagrams", numbered, lambda item: f"{item[0]:08d}", _render_datagram)
        return JSONResponse(body)

    @api.post("/Devices/{iccid}/Datagrams")
    @answered
    async def send(request: Request, iccid: str) -> Response:
        """The device sends one UDP datagram; to 100.64.0.1 (the default) it is an IP Command from the SIM."""
        caller = await authenticate(request)
        params = await form(request)
        source = params.integer("SourcePort", minimum=1, maximum=0xFFFF)
        port = params.integer("DestinationPort", minimum=1, maximum=0xFFFF)
        if source is None:
            raise missing("SourcePort")
        destination = _ipv4(params.string("Destination", max_length=15) or COMMANDS_ADDRESS)
        payload = _payload(params)
        await drive.check(caller, iccid)
        if not emulator.send_udp(iccid, source, destination, port or source, payload):
            raise InvalidState(f"device {iccid} has no data session to send from")
        return JSONResponse(
            {"iccid": iccid, "source_port": source, "destination": destination, "destination_port": port or source},
            status_code=201,
        )

    @api.get("/Networks")
    @answered
    async def list_networks(request: Request) -> Response:
        if not operator(request):
            await authenticate(request)
        params = query(request)
        networks = [drive.render_network(request, n.as_dict()) for n in emulator.networks.all()]
        return JSONResponse(list_body(request, params, "networks", networks, lambda n: n["network"], lambda n: n))

    @api.post("/Networks/{network}")
    @answered
    async def configure_network(request: Request, network: str) -> Response:
        """`Hlcom`: whether this visited network buffers downlink for eDRX sleepers (TS 23.682 §4.5.7). Every
        tenant's devices on that network see it: the operator's."""
        await require_operator(request)
        params = await form(request)
        ref = drive.resolve("Network", network)
        settings = emulator.configure_network(ref.mcc, ref.mnc, hlcom=params.boolean("Hlcom"))
        return JSONResponse(drive.render_network(request, settings))

    @api.post("/Reset")
    @answered
    async def reset(request: Request) -> Response:
        """A tenant: power off every device of its SIMs (another account's devices, and the networks' settings,
        are never touched). The operator: the whole emulated network back to its start, every device powered off
        and every network's settings to defaults."""
        if operator(request):
            count = len(emulator.devices())
            await emulator.reset()
            return JSONResponse({"devices_powered_off": count, "devices_left": 0, "networks_reset": True})
        caller = await authenticate(request)
        iccids = [d.iccid for d in emulator.devices()]
        mine = sorted(set(await owns(caller, iccids))) if iccids else []
        for iccid in mine:
            await emulator.power_off(iccid)
        return JSONResponse(
            {"devices_powered_off": len(mine), "devices_left": len(emulator.devices()), "networks_reset": False}
        )

    return api


class _Driver:
    """What every endpoint shares: ownership checks, Network parameters, rendering."""

    def __init__(
        self,
        emulator: Emulator,
        owns: Ownership,
        resolve_network: ResolveNetwork,
        network_session: NetworkSession | None = None,
    ) -> None:
        self.network_session = network_session
        self.emulator = emulator
        self.owns = owns
        self.resolve_network = resolve_network

    async def check(self, caller: Any, iccid: str) -> None:
        """A SIM of another account is as unknown as no SIM at all (nothing leaks across accounts)."""
        if iccid not in await self.owns(caller, [iccid]):
            raise not_found("Sim", iccid)

    def resolve(self, parameter: str, text: str) -> NetworkRef:
        ref = self.resolve_network(text) if text.isprintable() and len(text) <= 34 else None
        if ref is None:
            raise invalid(parameter, f"{parameter} must be a Network sid (HW...) or an MCC-MNC such as 310-260")
        return ref

    def network(self, params: Params, *, required: bool = False) -> NetworkRef | None:
        text = params.string("Network", required=required, max_length=34)
        return self.resolve("Network", text) if text else None

    def render(self, request: Request, view: DeviceView) -> dict[str, Any]:
        ref = self.resolve_network(view.network)
        session = view.session
        return {
            "iccid": view.iccid,
            "imsi": view.imsi,
            "imei": view.imei,
            "msisdn": view.msisdn,
            "state": view.state,
            "reason": view.reason,
            "error_code": view.code,
            "gtp_cause": view.gtp_cause,
            "network": view.network,
            "network_sid": ref.sid if ref else None,
            "mcc": view.mcc,
            "mnc": view.mnc,
            "rat_type": view.rat,
            "cell_id": view.cell_id,
            "ip_address": session["ip_address"] if session else None,
            "session": (
                {
                    "ip_address": session["ip_address"],
                    "apn": session["apn"],
                    "started_at": iso(session["started_at"]),
                    "network": self.network_session(view.imsi) if self.network_session is not None else None,
                }
                if session
                else None
            ),
            "usage": dict(view.usage),
            "apps": [{"device_port": port, "app": kind} for port, kind in view.apps.items()],
            "url": f"{base_url(request)}{PREFIX}/Devices/{view.iccid}",
        }

    def render_app(self, request: Request, iccid: str, port: int, kind: str) -> dict[str, Any]:
        url = f"{base_url(request)}{PREFIX}/Devices/{iccid}/Apps/{port}"
        return {"iccid": iccid, "device_port": port, "app": kind, "url": url, "datagrams_url": f"{url}/Datagrams"}

    def render_network(self, request: Request, settings: dict[str, Any]) -> dict[str, Any]:
        ref = self.resolve_network(f"{settings['mcc']}-{settings['mnc']}")
        key = f"{settings['mcc']}-{settings['mnc']}"
        return {
            "network": key,
            "network_sid": ref.sid if ref else None,
            "mcc": settings["mcc"],
            "mnc": settings["mnc"],
            "hlcom": settings["hlcom"],
            "url": f"{base_url(request)}{PREFIX}/Networks/{key}",
        }


def _iccid(value: str) -> str:
    if not _ICCID.fullmatch(value):
        raise invalid("Iccid", "Iccid must be 18 to 22 digits")
    return value


def _path_port(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) <= 0xFFFF:
        raise invalid("DevicePort", "DevicePort must be a UDP port from 1 to 65535")
    return int(value)


def _ipv4(value: str) -> str:
    match = _IPV4.match(value)
    if match is None or any(int(part) > 255 for part in match.groups()):
        raise invalid("Destination", "Destination must be an IPv4 address")
    return value


def _payload(params: Params) -> bytes:
    text = params.string("Payload", required=True, max_length=2 * MAX_PAYLOAD) or ""
    kind = params.string("PayloadType", max_length=8) or "text"
    if kind == "text":
        data = text.encode("utf-8")
    elif kind == "binary":
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise invalid("Payload", "Payload must be base64 when PayloadType is binary") from None
    else:
        raise invalid("PayloadType", "PayloadType must be text or binary")
    if len(data) > MAX_PAYLOAD:
        raise invalid("Payload", f"Payload must be at most {MAX_PAYLOAD} bytes")
    return data


def _render_datagram(item: tuple[int, Datagram]) -> dict[str, Any]:
    _, datagram = item
    try:
        text, kind = datagram.payload.decode("utf-8"), "text"
        if not text.isprintable():
            raise UnicodeDecodeError("utf-8", datagram.payload, 0, 1, "not printable")
    except UnicodeDecodeError:
        text, kind = base64.b64encode(datagram.payload).decode(), "binary"
    return {
        "source_ip": datagram.src,
        "source_port": datagram.src_port,
        "device_port": datagram.dst_port,
        "payload": text,
        "payload_type": kind,
        "size": len(datagram.payload),
        "date_received": iso(datagram.at),
    }
