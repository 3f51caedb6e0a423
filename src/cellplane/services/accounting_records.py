"""What an accounting batch takes in and gives back (services/data_sessions.py), and the rows made from them.

The AAA builds `AccountingRecord`s from Accounting-Requests and `NetworkEvent`s from its decisions; a batch
answers with `BatchEffects`, whose `LiveSession`s feed its registry of live sessions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from cellplane.domain.ids import Prefix, new_sid
from cellplane.domain.policy import SimPolicy
from cellplane.store.repositories.accounting import OPEN


class RecordKind(StrEnum):
    """Acct-Status-Type values we act on (RFC 2866 §5.1): a session's Start/Interim-Update/Stop, a NAS restarting."""

    START = "start"
    INTERIM = "interim"
    STOP = "stop"
    NAS_ON = "nas_on"
    NAS_OFF = "nas_off"


@dataclass(slots=True)
class AccountingRecord:
    """One Accounting-Request, translated: counters are cumulative for the session, Gigawords folded in;
    `bytes_up` is from the device (Acct-Input-Octets, docs/NETWORK.md)."""

    kind: RecordKind
    nas_id: str
    acct_session_id: str = ""
    nas_address: str | None = None
    imsi: str | None = None
    ue_ip: str | None = None
    apn: str | None = None
    mcc: str | None = None
    mnc: str | None = None
    radio_link: str | None = None
    cell_id: str | None = None
    imei: str | None = None
    bytes_up: int = 0
    bytes_down: int = 0
    packets_up: int = 0
    packets_down: int = 0
    session_time: int | None = None
    terminate_cause: str | None = None


@dataclass(slots=True)
class NetworkEvent:
    """A connection event decided outside accounting (attach accepted or rejected, a disconnect's outcome)."""

    event_type: str
    timestamp: datetime
    imsi: str | None = None
    sim_sid: str | None = None
    account_sid: str | None = None
    iccid: str | None = None
    fleet_sid: str | None = None
    network_sid: str | None = None
    mcc: str | None = None
    mnc: str | None = None
    radio_link: str | None = None
    imei: str | None = None
    ip_address: str | None = None
    data_session_sid: str | None = None
    reason: str | None = None
    error_code: int | None = None
    bytes_up: int | None = None
    bytes_down: int | None = None
    # imei_changed: the IMEI seen before (None on a SIM's first); `rejected` when an IMEI lock refused the attach.
    previous_imei: str | None = None
    rejected: bool = False


@dataclass(slots=True)
class LiveSession:
    """What the AAA keeps of a session in memory: enough to send it a Disconnect-Request (RFC 5176 §3) and to
    re-check it against the SIM's policy."""

    sid: str
    sim_sid: str
    imsi: str
    nas_id: str
    nas_address: str | None
    acct_session_id: str
    ue_ip: str | None
    network_sid: str | None
    mcc: str | None
    mnc: str | None
    open: bool = True

    def event(self, event_type: str, timestamp: datetime, reason: str, error_code: int | None = None) -> NetworkEvent:
        """A connection event about this session (a disconnect's outcome, a throttle), as the AAA records it."""
        return NetworkEvent(
            event_type=event_type,
            timestamp=timestamp,
            imsi=self.imsi,
            sim_sid=self.sim_sid,
            network_sid=self.network_sid,
            mcc=self.mcc,
            mnc=self.mnc,
            ip_address=self.ue_ip,
            data_session_sid=self.sid,
            reason=reason,
            error_code=error_code,
        )


@dataclass
class BatchEffects:
    """What a batch changed that the AAA must act on.

    `sessions`: sessions opened, closed or given their address (for the live registry and the address pool);
    `period_usage`: SIM sid -> (period sid, bytes used in it now); `over_limit`: SIMs at or past their fleet's data
    limit (their sessions get disconnected); `policies`: fresh snapshots by IMSI (SIMs that were not cached, that
    turned active, or whose billing period rolled over); `period_stamp`: the date_updated this batch gave the
    periods it added usage to (it is the batch's `now`; the cache's poller skips those changes, it knows them);
    `ignored`: records of no known SIM, acknowledged and dropped; `zone_growth`: Wireless SIM sid -> zone (home,
    national or international roaming, of each session's visited network) -> bytes this batch added, for the
    per-zone data limits of its rate plan; `session_rows`: every session row the batch read or wrote, as it left it.
    """

    sessions: list[LiveSession] = field(default_factory=list)
    period_usage: dict[str, tuple[str, int]] = field(default_factory=dict)
    over_limit: set[str] = field(default_factory=set)
    policies: dict[str, SimPolicy | None] = field(default_factory=dict)
    period_stamp: datetime | None = None
    ignored: int = 0
    zone_growth: dict[str, dict[str, int]] = field(default_factory=dict)
    # (nas_id, acct_session_id) -> the session's row as the batch left it (services/data_sessions.KnownSessions).
    session_rows: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


LENGTHS = {
    "nas_id": 64,
    "nas_address": 64,
    "acct_session_id": 64,
    "ue_ip": 45,
    "apn": 64,
    "radio_link": 16,
    "cell_id": 32,
    "imei": 16,
    "terminate_cause": 32,
    "operator_name": 128,
}


def clip(name: str, value: str | None) -> str | None:
    """Column widths (PostgreSQL enforces them): a NAS's overlong text must not fail a whole batch."""
    return value[: LENGTHS[name]] if value is not None else None


def live(row: Mapping[str, Any]) -> LiveSession:
    return LiveSession(
        sid=row["sid"],
        sim_sid=row["sim_sid"],
        imsi=row["imsi"],
        nas_id=row["nas_id"],
        nas_address=row["nas_address"],
        acct_session_id=row["acct_session_id"],
        ue_ip=row["ue_ip"],
        network_sid=row["network_sid"],
        mcc=row["mcc"],
        mnc=row["mnc"],
        open=row["status"] == OPEN,
    )


def session_event(
    event_type: str, row: Mapping[str, Any], policy: SimPolicy | None, now: datetime, reason: str | None = None
) -> tuple[Any, ...]:
    # The columns of repo.EVENT_INSERT.
    return (
        new_sid(Prefix.CONNECTION_EVENT),
        row["account_sid"],
        row["sim_sid"],
        policy.iccid if policy else None,
        row["imsi"],
        row["fleet_sid"],
        event_type,
        row["network_sid"],
        row["mcc"],
        row["mnc"],
        row["radio_link"],
        row["imei"],
        row["ue_ip"],
        row["sid"],
        reason,
        None,
        row["bytes_up"],
        row["bytes_down"],
        now,
    )


def event_row(event: NetworkEvent) -> tuple[Any, ...]:
    return (
        new_sid(Prefix.CONNECTION_EVENT),
        event.account_sid,
        event.sim_sid,
        event.iccid,
        event.imsi[:15] if event.imsi else None,
        event.fleet_sid,
        event.event_type,
        event.network_sid,
        event.mcc,
        event.mnc,
        clip("radio_link", event.radio_link),
        clip("imei", event.imei),
        clip("ue_ip", event.ip_address),
        event.data_session_sid,
        event.reason[:256] if event.reason else None,
        event.error_code,
        event.bytes_up,
        event.bytes_down,
        event.timestamp,
    )
