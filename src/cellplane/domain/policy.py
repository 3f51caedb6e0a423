"""Who may use data now: the attach policy of a SIM, pure — a snapshot in, a decision with a platform code out.

The AAA holds one `SimPolicy` per claimed SIM in memory and decides every Access-Request from it (issue 3: claimed,
status `ready` or `active`, in a fleet with data enabled, the visited network allowed by the fleet's network access
profile, the data limit of the current billing period not reached). The same rules, minus the attach rate, are
re-checked for live sessions whenever a snapshot changes: a session the rules no longer allow is disconnected.

The reject codes live here and only here (`RejectCode`); the AAA puts them in the Reply-Message as "<code> <text>"
(docs/NETWORK.md) and in connection events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum

from cellplane.domain import things
from cellplane.domain.networks import Network, catalogue
from cellplane.domain.wireless import HOME, INTERNATIONAL_ROAMING, NATIONAL_ROAMING, ZONES, zone

# Super SIM fleet DataLimit is in megabytes of 10^6 bytes (Fleet resource: "1MB (1) ... 2TB (2,000,000)").
BYTES_PER_MB = 1_000_000
# Seed 004 / DESIGN.md: a `ready` SIM becomes `active` by itself after 250 KB of data.
READY_ACTIVATION_BYTES = 250_000
# At most this many attaches from one SIM in ATTACH_WINDOW seconds; more are rejected with 83703.
ATTACH_RATE_LIMIT = 20
ATTACH_WINDOW = 60.0

CONNECTABLE = frozenset({"ready", "active"})
WIRELESS = "wireless"  # sims.product of a Programmable Wireless SIM


class RejectCode(IntEnum):
    """Why an attach is refused or a live session ended: the platform's error codes (83701-83707)."""

    UNKNOWN_SIM = 83701
    NO_FLEET = 83702
    RATE_LIMITED = 83703
    DATA_DISABLED = 83704
    SIM_INACTIVE = 83705
    NETWORK_NOT_ALLOWED = 83706
    DATA_LIMIT_REACHED = 83707
    # Things (THINGS.md, the seed's coverage): outside the Netherlands, Belgium and Luxembourg, or over NB-IoT/5G.
    NOT_COVERED = 83708
    RADIO_NOT_SUPPORTED = 83709
    # A Thing with services.sms false: an SMS to or from it is refused (connection event `sms_refused`).
    SMS_DISABLED = 83710
    # A Thing with imeiLock set attached from another device (THINGS.md "IMEI").
    IMEI_LOCKED = 83711

    @property
    def reason(self) -> str:
        return _REASONS[self]


_REASONS = {
    RejectCode.UNKNOWN_SIM: "Unknown or unclaimed SIM",
    RejectCode.NO_FLEET: "The SIM is not in a Fleet",
    RejectCode.RATE_LIMITED: "Too many attach attempts from this SIM; try again later",
    RejectCode.DATA_DISABLED: "Data is disabled by the SIM's Fleet",
    RejectCode.SIM_INACTIVE: "The SIM is not active",
    RejectCode.NETWORK_NOT_ALLOWED: "The visited network is not allowed by the Fleet's Network Access Profile",
    RejectCode.DATA_LIMIT_REACHED: "The Fleet's data limit for this billing period is reached",
    RejectCode.NOT_COVERED: "Things attach only on networks of the Netherlands, Belgium and Luxembourg",
    RejectCode.RADIO_NOT_SUPPORTED: "Things attach over 2G, 3G, 4G or LTE-M only (NB-IoT is not available yet)",
    RejectCode.SMS_DISABLED: "services.sms is false for this Thing",
    RejectCode.IMEI_LOCKED: "The Thing is locked to another IMEI (imeiLock)",
}


class EventType(StrEnum):
    """Connection event types the network side records (GET /cellplane/v1/ConnectionEvents)."""

    ATTACH_ACCEPTED = "attach_accepted"
    ATTACH_REJECTED = "attach_rejected"
    # Allowed by the rules but not served (no free address in the UE pool): an operator's problem, not the SIM's.
    ATTACH_FAILED = "attach_failed"
    SESSION_STARTED = "session_started"
    SESSION_UPDATED = "session_updated"
    SESSION_ENDED = "session_ended"
    # Outcome of a Disconnect-Request (RFC 5176) the AAA sent: ACKed, NAKed, or never answered.
    DISCONNECT_ACKED = "disconnect_acked"
    DISCONNECT_REFUSED = "disconnect_refused"
    DISCONNECT_FAILED = "disconnect_failed"
    # A Wireless SIM whose `throttle` rate plan reached its data limit: its session goes on (not disconnected).
    SESSION_THROTTLED = "session_throttled"
    # An SMS to or from a Thing refused because its services.sms is false.
    SMS_REFUSED = "sms_refused"
    # The SIM attached from another device than before (any product); a first IMEI is stored, not announced.
    IMEI_CHANGED = "imei_changed"
    # A Things Network's VPN tunnel came up, or went down (its reason: the tunnel's lastError); no SIM of its own.
    VPN_TUNNEL_UP = "vpn_tunnel_up"
    VPN_TUNNEL_DOWN = "vpn_tunnel_down"


class ZoneUsage:
    """Bytes a Wireless SIM used in one billing period per zone (home, national, international roaming).

    Mutable on purpose and shared by every snapshot of the SIM made with `dataclasses.replace`: each accounting batch
    adds its growth in place (a new snapshot per interim would cost every interim). Rebuilt from the recorded usage
    whenever the SIM is loaded from the database (services/network_policy.py), so it survives restarts.
    """

    __slots__ = ("period_sid", "used")

    def __init__(self, period_sid: str | None, used: dict[str, int] | None = None) -> None:
        self.period_sid = period_sid
        self.used: dict[str, int] = dict.fromkeys(ZONES, 0)
        for where, octets in (used or {}).items():
            self.used[where] += octets

    def __repr__(self) -> str:
        return f"ZoneUsage({self.period_sid!r}, {self.used!r})"

    def get(self, where: str) -> int:
        return self.used.get(where, 0)

    def add(self, where: str, octets: int) -> None:
        self.used[where] = self.used.get(where, 0) + octets

    def merge(self, other: ZoneUsage | None) -> None:
        """Keep the larger count of each zone of the same period: usage only grows within a period, so a snapshot
        read from the database a moment before a batch committed loses none of what this process counted."""
        if other is None or other.period_sid != self.period_sid:
            return
        for where, octets in other.used.items():
            if octets > self.used.get(where, 0):
                self.used[where] = octets


@dataclass(frozen=True, slots=True)
class SimPolicy:
    """What the rules need to know about one claimed SIM, as of the moment it was loaded.

    `status` is the status the network acts on: while an update is `scheduled`, the status it is going to
    (the network applies the change; see services/sims.py). `allowed_network_sids` is the fleet's network
    access profile (empty without a fleet). The billing period fields describe the period in force when
    loaded; `period_data_used` counts toward `data_limit_bytes` only while that period covers the moment asked
    (the AAA refreshes it when it reaches the limit, so below the limit it may lag behind the database).
    """

    imsi: str
    sim_sid: str
    iccid: str
    account_sid: str | None
    product: str
    status: str
    fleet_sid: str | None = None
    data_enabled: bool = False
    data_limit_bytes: int = 0
    network_access_profile_sid: str | None = None
    allowed_network_sids: frozenset[str] = field(default_factory=frozenset)
    period_sid: str | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    period_data_used: int = 0
    # Programmable Wireless (product "wireless"): the SIM's rate plan stands where a Super SIM's fleet does;
    # `data_enabled` and `data_limit_bytes` then hold the plan's DataEnabled and DataLimit (the monthly total).
    rate_plan_sid: str | None = None
    national_roaming_enabled: bool = False
    international_data: bool = False  # "data" in the plan's InternationalRoaming
    throttle_at_limit: bool = False  # DataLimitStrategy `throttle` (else `block`)
    # The plan's NationalRoamingDataLimit and InternationalRoamingDataLimit; `data_limit_bytes` is then the home
    # network's (RatePlan.data_limit: "during one month on the home network"). Each zone counts its own usage.
    national_limit_bytes: int = 0
    international_limit_bytes: int = 0
    zone_usage: ZoneUsage | None = field(default=None, compare=False)
    # Things (product "things", THINGS.md): the Network (routing domain) of the Thing's group and that network's
    # pools (CIDRs), the Thing's locked address, and its services.
    things_network_sid: str | None = None
    things_pools: tuple[str, ...] = ()
    locked_ip: str | None = None
    services_data: bool = True
    services_sms: bool = True
    # IMEI monitoring (every product): the last IMEI seen, so that an unchanged one costs no query; a Thing's lock.
    last_imei: str | None = None
    imei_lock: str | None = None

    @property
    def wireless(self) -> bool:
        return self.product == WIRELESS

    @property
    def thing(self) -> bool:
        return self.product == things.PRODUCT

    @property
    def has_data_limit(self) -> bool:
        """Whether a data limit applies: the SIM is in a fleet, or (Wireless) has a rate plan."""
        return self.rate_plan_sid is not None if self.wireless else self.fleet_sid is not None

    def usage_at(self, now: datetime) -> int:
        """Bytes used in the billing period in force at `now` (0 once the loaded period is over)."""
        if self.period_start is None or self.period_end is None:
            return 0
        if self.period_start <= now < self.period_end:
            return self.period_data_used
        return 0

    def zone_limit(self, where: str) -> int:
        """A Wireless SIM's monthly limit in bytes on a network of zone `where`."""
        if where == NATIONAL_ROAMING:
            return self.national_limit_bytes
        if where == INTERNATIONAL_ROAMING:
            return self.international_limit_bytes
        return self.data_limit_bytes

    def zone_used_at(self, where: str, now: datetime) -> int:
        """Bytes used in zone `where` in the billing period in force at `now` (0 once the loaded period is over)."""
        usage = self.zone_usage
        if usage is None or usage.period_sid is None or usage.period_sid != self.period_sid:
            return 0
        if self.period_start is None or self.period_end is None or not self.period_start <= now < self.period_end:
            return 0
        return usage.get(where)


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to an attach (or to "may this session go on?"): `code` and `reason` are set when refused."""

    accepted: bool
    code: RejectCode | None = None
    network: Network | None = None
    # A reason more precise than the code's own text (Wireless: the rate plan rule that refused).
    detail: str | None = None
    # Accepted although the data limit is reached: the rate plan throttles instead of blocking.
    throttled: bool = False

    @property
    def reason(self) -> str | None:
        if self.code is None:
            return None
        return self.detail or self.code.reason

    @property
    def reply_message(self) -> str | None:
        """docs/NETWORK.md: Reply-Message = "<code> <text>"."""
        return f"{int(self.code)} {self.reason}" if self.code is not None else None


def data_limit_bytes(limit_mb: int) -> int:
    return limit_mb * BYTES_PER_MB


def visited_network(mcc: str | None, mnc: str | None) -> Network | None:
    """The catalogue entry of a visited PLMN, or None when it is not a network a SIM can roam to."""
    if not mcc or not mnc:
        return None
    return catalogue().by_code(mcc, mnc)


def split_plmn(plmn: str | None) -> tuple[str | None, str | None]:
    """ "MCCMNC" (5 or 6 digits, as in 3GPP-SGSN-MCC-MNC, TS 29.061 §16.4.7.2) into (MCC, MNC)."""
    if plmn is None or not plmn.isdigit() or len(plmn) not in (5, 6):
        return None, None
    return plmn[:3], plmn[3:]


def decide_attach(
    policy: SimPolicy | None,
    mcc: str | None,
    mnc: str | None,
    now: datetime,
    *,
    recent_attaches: int = 0,
    radio_link: str | None = None,
) -> Decision:
    """May this SIM attach on the visited network (mcc, mnc) at `now`?

    `recent_attaches` counts this SIM's attaches in the current rate window, this one included
    (`AttachRateLimiter.hit`). The rules are checked from the most to the least fundamental, so the code
    names the first thing the user has to fix.
    """
    if policy is None or policy.account_sid is None:
        return Decision(False, RejectCode.UNKNOWN_SIM)
    if recent_attaches > ATTACH_RATE_LIMIT:
        return Decision(False, RejectCode.RATE_LIMITED)
    return check_session(policy, visited_network(mcc, mnc), now, radio_link=radio_link)


def check_session(
    policy: SimPolicy | None,
    network: Network | None,
    now: datetime,
    *,
    network_known: bool = True,
    radio_link: str | None = None,
) -> Decision:
    """The attach rules without the rate limit: whether a SIM may have (or keep) a data session on `network`.

    With `network_known` False (a live session whose accounting never named its visited network) the network
    rule is skipped rather than failed: the attach that opened the session passed it.
    """
    if policy is None or policy.account_sid is None:
        return Decision(False, RejectCode.UNKNOWN_SIM, network)
    if policy.thing:
        return _check_thing(policy, network, network_known, radio_link)
    if policy.status not in CONNECTABLE:
        return Decision(False, RejectCode.SIM_INACTIVE, network)
    if policy.wireless:
        return _check_wireless(policy, network, now, network_known)
    if policy.fleet_sid is None:
        return Decision(False, RejectCode.NO_FLEET, network)
    if not policy.data_enabled:
        return Decision(False, RejectCode.DATA_DISABLED, network)
    if network_known and (network is None or network.sid not in policy.allowed_network_sids):
        return Decision(False, RejectCode.NETWORK_NOT_ALLOWED, network)
    if policy.usage_at(now) >= policy.data_limit_bytes:
        return Decision(False, RejectCode.DATA_LIMIT_REACHED, network)
    return Decision(True, None, network)


def _check_thing(policy: SimPolicy, network: Network | None, network_known: bool, radio_link: str | None) -> Decision:
    """A Thing (THINGS.md): only ACTIVE attaches, with `services.data` on, in a group with a Network, on a covered
    network and radio. A Thing has no data limit (the platform bills per MB)."""
    if policy.status != "active":
        return Decision(False, RejectCode.SIM_INACTIVE, network, "The Thing is not ACTIVE")
    if not policy.services_data:
        return Decision(False, RejectCode.DATA_DISABLED, network, "services.data is false for this Thing")
    if policy.things_network_sid is None:
        return Decision(False, RejectCode.NO_FLEET, network, "The Thing is in no Things Group")
    if network_known and (network is None or not things.covered(network.iso_country)):
        return Decision(False, RejectCode.NOT_COVERED, network)
    if not things.radio_supported(radio_link):
        return Decision(False, RejectCode.RADIO_NOT_SUPPORTED, network, f"{radio_link} is not available to Things")
    return Decision(True, None, network)


def _check_wireless(policy: SimPolicy, network: Network | None, now: datetime, network_known: bool) -> Decision:
    """A Wireless SIM's rate plan (seed 003, RatePlan resource): data enabled, the visited network's zone allowed
    (home network always; elsewhere in the home country with NationalRoamingEnabled; abroad with "data" in
    InternationalRoaming), and the monthly limit of the visited network's zone (DataLimit on the home network,
    NationalRoamingDataLimit, InternationalRoamingDataLimit), each against that zone's usage: at it, `block` refuses
    and `throttle` lets the session on (slowed down by the gateway)."""
    if policy.rate_plan_sid is None:
        return Decision(False, RejectCode.NO_FLEET, network, "The SIM has no Rate Plan")
    if not policy.data_enabled:
        return Decision(False, RejectCode.DATA_DISABLED, network, "Data is disabled by the SIM's Rate Plan")
    if network_known:
        if network is None:
            return Decision(False, RejectCode.NETWORK_NOT_ALLOWED, None, "The visited network is unknown")
        where = zone(network.sid, network.iso_country)
        if where == NATIONAL_ROAMING and not policy.national_roaming_enabled:
            detail = "National roaming is not enabled by the SIM's Rate Plan"
            return Decision(False, RejectCode.NETWORK_NOT_ALLOWED, network, detail)
        if where == INTERNATIONAL_ROAMING and not policy.international_data:
            detail = "International roaming for data is not enabled by the SIM's Rate Plan"
            return Decision(False, RejectCode.NETWORK_NOT_ALLOWED, network, detail)
    where = zone(network.sid, network.iso_country) if network is not None else HOME
    if policy.zone_used_at(where, now) >= policy.zone_limit(where):
        if policy.throttle_at_limit:
            return Decision(True, None, network, throttled=True)
        return Decision(False, RejectCode.DATA_LIMIT_REACHED, network, _LIMIT_DETAIL[where])
    return Decision(True, None, network)


# Which of the rate plan's three monthly limits refused: DataLimit (home), NationalRoamingDataLimit,
# InternationalRoamingDataLimit.
_LIMIT_DETAIL = {
    HOME: "The Rate Plan's data limit for this billing period is reached",
    NATIONAL_ROAMING: "The Rate Plan's national roaming data limit for this billing period is reached",
    INTERNATIONAL_ROAMING: "The Rate Plan's international roaming data limit for this billing period is reached",
}


def crossed_limit(policy: SimPolicy, before: int, after: int) -> bool:
    """Whether period usage going from `before` to `after` bytes reached the data limit (fleet or rate plan)."""
    return policy.has_data_limit and before < policy.data_limit_bytes <= after


class AttachRateLimiter:
    """Attaches per SIM in fixed windows of `window` seconds (a retransmitted request is not a new attach:
    the AAA answers those from its duplicate cache before asking here)."""

    def __init__(self, window: float = ATTACH_WINDOW) -> None:
        self.window = window
        self._counts: dict[str, tuple[float, int]] = {}
        self._swept = float("-inf")

    def hit(self, key: str, now: float) -> int:
        """Count one attach of `key` at `now` (monotonic seconds); returns the count in its window."""
        started, count = self._counts.get(key, (now, 0))
        if now - started >= self.window:
            started, count = now, 0
        count += 1
        self._counts[key] = (started, count)
        return count

    def sweep(self, now: float) -> None:
        """Forget windows that are over, so memory follows the SIMs attaching now, not every SIM ever seen
        (at most once a window: it walks every entry)."""
        if now - self._swept < self.window:
            return
        self._swept = now
        expired = [key for key, (started, _) in self._counts.items() if now - started >= self.window]
        for key in expired:
            del self._counts[key]
