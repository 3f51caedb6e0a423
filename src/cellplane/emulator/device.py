"""An emulated device (modem + SIM): identity, radio state, PDN session, apps and its own usage counters."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .networks import VisitedNetwork
from .states import RAT_LABELS, DeviceState

if TYPE_CHECKING:
    from .apps import App


@dataclass(frozen=True, slots=True)
class DeviceSession:
    """The PDN connection of an attached device, as the SGW knows it."""

    ue_ip: str
    apn: str
    sgw_control_teid: int
    sgw_user_teid: int
    pgw_control_teid: int
    pgw_user_teid: int
    pgw_user: tuple[str, int]  # where uplink G-PDUs go
    started_at: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "ip_address": self.ue_ip,
            "apn": self.apn,
            "started_at": self.started_at,
            "sgw_teid": self.sgw_user_teid,
            "pgw_teid": self.pgw_user_teid,
        }


@dataclass(eq=False)
class Device:
    iccid: str
    imsi: str
    imei: str
    network: VisitedNetwork
    rat: int
    eci: int  # E-UTRAN Cell Identity of the cell it camps on (TS 23.003 §19.6)
    msisdn: str | None = None
    state: DeviceState = DeviceState.DETACHED
    reason: str | None = None  # why the last attach was refused, or why the network ended the session
    code: int | None = None  # the platform's error code for it, when the network gave one
    gtp_cause: int | None = None
    session: DeviceSession | None = None
    apps: dict[int, App] = field(default_factory=dict)
    # Downlink IP packets held by the network while the device is idle (paging) or in eDRX with HLCOM.
    buffered: list[bytes] = field(default_factory=list)
    # Inner IP packet octets and packets: what the device sent and what reached it.
    up_octets: int = 0
    up_packets: int = 0
    down_octets: int = 0
    down_packets: int = 0
    dropped_packets: int = 0  # downlink lost in the visited network (eDRX without HLCOM)
    received: asyncio.Event = field(default_factory=asyncio.Event)
    paging: asyncio.TimerHandle | None = None
    # A TUN carrying the device's packets to and from real programs (device shells, tun_link.py); None: apps only.
    tun_fd: int | None = None

    def view(self) -> DeviceView:
        return DeviceView(
            iccid=self.iccid,
            imsi=self.imsi,
            imei=self.imei,
            msisdn=self.msisdn,
            state=self.state.value,
            reason=self.reason,
            code=self.code,
            gtp_cause=self.gtp_cause,
            network=self.network.key,
            mcc=self.network.mcc,
            mnc=self.network.mnc,
            rat=RAT_LABELS.get(self.rat, str(self.rat)),  # type: ignore[call-overload]
            cell_id=self.eci,
            session=self.session.as_dict() if self.session else None,
            usage={
                "up_bytes": self.up_octets,
                "up_packets": self.up_packets,
                "down_bytes": self.down_octets,
                "down_packets": self.down_packets,
                "dropped_packets": self.dropped_packets,
                "buffered_packets": len(self.buffered),
            },
            apps={port: app.kind for port, app in sorted(self.apps.items())},
        )


@dataclass(frozen=True)
class DeviceView:
    """A snapshot of a device for callers (an HTTP layer renders `as_dict()`); never changes after it is made."""

    iccid: str
    imsi: str
    imei: str
    msisdn: str | None
    state: str
    reason: str | None
    code: int | None
    gtp_cause: int | None
    network: str  # "MCC-MNC"
    mcc: str
    mnc: str
    rat: str
    cell_id: int
    session: dict[str, Any] | None
    usage: dict[str, int]
    apps: dict[int, str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "iccid": self.iccid,
            "imsi": self.imsi,
            "imei": self.imei,
            "msisdn": self.msisdn,
            "state": self.state,
            "reason": self.reason,
            "code": self.code,
            "gtp_cause": self.gtp_cause,
            "network": self.network,
            "mcc": self.mcc,
            "mnc": self.mnc,
            "rat": self.rat,
            "cell_id": self.cell_id,
            "session": dict(self.session) if self.session else None,
            "usage": dict(self.usage),
            "apps": {str(port): kind for port, kind in self.apps.items()},
        }


def luhn_digit(digits: str) -> str:
    """The Luhn check digit of `digits` (TS 23.003 §6.2.1, Annex B: an IMEI's 15th digit)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str((10 - total % 10) % 10)


def now() -> float:
    return time.time()
