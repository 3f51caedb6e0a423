"""The gateway's PDN sessions, in memory: one record per attached device, found by TEID, address or identity.

The user plane looks a session up by its uplink TEID for every packet and bumps four integers on it;
nothing else happens per packet. Counters are of inner IP packets, the T-PDUs (TS 29.281 §3.1), as a
PGW reports them in Acct-Input/Output-Octets (TS 29.061 §16.4.2): the GTP/UDP/IP tunnel headers around
them are transport overhead, not the subscriber's usage.
"""

from __future__ import annotations

import ipaddress
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .policer import Policer

if TYPE_CHECKING:
    from .sgi import SgiPort

DEFAULT_DOMAIN = "default"

Address = tuple[str, int]


@dataclass(slots=True, eq=False)
class Session:
    """One PDN connection (default bearer) on the S5/S8 path."""

    imsi: str
    ue_ip: str
    apn: str
    ebi: int
    control_teid: int  # ours, S5/S8 PGW GTP-C: the SGW puts it in the header of its requests
    user_teid: int  # ours, S5/S8-U PGW GTP-U: uplink G-PDUs carry it
    sgw_control_teid: int
    sgw_user_teid: int
    sgw_control: Address  # where our GTP-C requests go: the address the Create Session Request came from
    sgw_user: Address  # where downlink G-PDUs go: the SGW's S5/S8-U F-TEID address
    acct_session_id: str
    charging_id: int
    imei: str | None = None
    msisdn: str | None = None
    mcc_mnc: str | None = None  # the visited network, "MCCMNC"
    rat_type: int | None = None
    location: bytes | None = None  # 3GPP-User-Location-Info value, when the SGW said where the device is
    classes: tuple[bytes, ...] = ()  # Class attributes of the Access-Accept, echoed in accounting (RFC 2865 §5.25)
    started: float = field(default_factory=time.monotonic)
    started_at: float = field(default_factory=time.time)
    # Cumulative usage of inner IP packets; "input" is from the device (RFC 2866 §5.3, §5.4).
    up_octets: int = 0
    up_packets: int = 0
    down_octets: int = 0
    down_packets: int = 0
    ended: bool = False
    # Set while the AAA throttles the session (policer.py); None otherwise, which is all the fast path looks at.
    policer: Policer | None = None
    # What earlier policers of this session dropped, kept when one is lifted or replaced.
    dropped: dict[str, int] = field(default_factory=dict)
    # The routing domain its packets enter and leave (Cellplane-Routing-Domain of the Access-Accept), and the
    # gateway's end of it; None when the data plane is off (uplink beyond IP Commands is counted and dropped).
    domain: str = DEFAULT_DOMAIN
    sgi: SgiPort | None = None
    ue_key: int = 0  # the address as an integer: how the domain's downlink finds the session

    def limit(self, rate_up: int | None, rate_down: int | None) -> None:
        """Police the session at these rates (bit/s; 0 or None: not limited that way)."""
        if self.policer is not None:
            for name, value in self.policer.view().items():
                if name.startswith("dropped_") and value:
                    self.dropped[name] = self.dropped.get(name, 0) + value
        self.policer = Policer.of(rate_up, rate_down)

    def throttle_view(self) -> dict[str, Any]:
        """Whether the session is throttled, at what rates, and every packet and octet its policers dropped."""
        current = self.policer.view() if self.policer is not None else {}
        dropped = {
            name: self.dropped.get(name, 0) + int(current.get(name) or 0)
            for name in ("dropped_up_packets", "dropped_up_bytes", "dropped_down_packets", "dropped_down_bytes")
        }
        return {
            "throttled": self.policer is not None,
            "rate_up": current.get("rate_up"),
            "rate_down": current.get("rate_down"),
            **dropped,
        }

    @property
    def duration(self) -> int:
        return int(time.monotonic() - self.started)

    def usage(self) -> dict[str, int]:
        return {
            "up_octets": self.up_octets,
            "up_packets": self.up_packets,
            "down_octets": self.down_octets,
            "down_packets": self.down_packets,
        }


def session_counts(session: Session) -> dict[str, int]:
    """A session's packets and octets each way and what its policers dropped (for the gateway's metrics)."""
    view = session.throttle_view()
    return {
        **session.usage(),
        **{name: int(view[name]) for name in ("dropped_up_packets", "dropped_down_packets")},
    }


class SessionTable:
    """Every live session, indexed five ways; TEIDs are allocated here so they are unique among them."""

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)
        self.by_control_teid: dict[int, Session] = {}
        self.by_user_teid: dict[int, Session] = {}
        self.by_ue_ip: dict[str, Session] = {}
        self.by_imsi: dict[str, Session] = {}
        self.by_acct_session_id: dict[str, Session] = {}
        # Boot-unique prefix + counter: Acct-Session-Id must be unique per NAS across restarts (RFC 2866 §5.5).
        self._boot = self._random.getrandbits(32)
        self._counter = 0
        # What ended sessions counted (usage and policer drops), so that the metrics' totals never go back.
        self.retired: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.by_control_teid)

    def __iter__(self) -> Iterator[Session]:
        """A snapshot: ending sessions while iterating is allowed."""
        return iter(list(self.by_control_teid.values()))

    def new_teid(self) -> int:
        """A TEID not used by any session in either direction. Random rather than sequential, so that a
        stray or forged G-PDU is unlikely to hit a live tunnel (TS 33.210 discusses GTP spoofing)."""
        while True:
            teid = self._random.randint(1, 0xFFFFFFFF)  # 0 is reserved for messages without a tunnel
            if teid not in self.by_control_teid and teid not in self.by_user_teid:
                return teid

    def new_accounting_ids(self) -> tuple[str, int]:
        """(Acct-Session-Id, 3GPP-Charging-Id) for a new session."""
        self._counter += 1
        return f"{self._boot:08X}{self._counter:08X}", (self._boot + self._counter) & 0xFFFFFFFF

    def add(self, session: Session) -> None:
        self.by_control_teid[session.control_teid] = session
        self.by_user_teid[session.user_teid] = session
        if session.domain == DEFAULT_DOMAIN:
            # Addresses are unique in the default domain only (private networks may overlap): IP Commands and the
            # platform find Super SIM and Wireless sessions by address here; each domain has its own map.
            self.by_ue_ip[session.ue_ip] = session
        if session.sgi is not None:
            session.sgi.sessions[session.ue_key] = session
        self.by_imsi[session.imsi] = session
        self.by_acct_session_id[session.acct_session_id] = session

    def remove(self, session: Session) -> bool:
        """Forget `session`; False when it was already gone (a teardown races another)."""
        if self.by_control_teid.get(session.control_teid) is not session:
            return False
        session.ended = True
        for name, value in session_counts(session).items():
            self.retired[name] = self.retired.get(name, 0) + value
        del self.by_control_teid[session.control_teid]
        del self.by_user_teid[session.user_teid]
        for index, key in (
            (self.by_ue_ip, session.ue_ip),
            (self.by_imsi, session.imsi),
            (self.by_acct_session_id, session.acct_session_id),
        ):
            if index.get(key) is session:
                del index[key]
        if session.sgi is not None and session.sgi.sessions.get(session.ue_key) is session:
            del session.sgi.sessions[session.ue_key]
        return True

    def find(self, key: str) -> Session | None:
        """The session of an IMSI or of a UE address."""
        return self.by_imsi.get(key) or self.by_ue_ip.get(key)


class AddressPool:
    """Addresses a PGW hands out itself when the AAA names none (TS 29.061 §11.2.1.1: local pool)."""

    def __init__(self, network: str) -> None:
        self._network = ipaddress.IPv4Network(network)
        self._next = 1

    def take(self, in_use: dict[str, Session]) -> str | None:
        size = self._network.num_addresses
        for _ in range(size):
            offset, self._next = self._next, self._next + 1
            if self._next >= size - 1:
                self._next = 1
            if not 0 < offset < size - 1:
                continue
            address = str(self._network.network_address + offset)
            if address not in in_use:
                return address
        return None
