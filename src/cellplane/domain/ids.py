"""Resource identifiers: two-letter prefix + 32 hex digits, time-ordered so keyset paging by sid is chronological."""

from __future__ import annotations

import hashlib
import random
import re
import threading
import time
from enum import StrEnum


class Prefix(StrEnum):
    """Sid prefixes of every resource type (DESIGN.md, wire conventions)."""

    ACCOUNT = "AC"
    API_KEY = "SK"
    SUPER_SIM = "HS"
    FLEET = "HF"
    NETWORK_ACCESS_PROFILE = "HA"
    NETWORK = "HW"
    IP_COMMAND = "HG"
    SMS_COMMAND = "HC"
    BILLING_PERIOD = "HB"
    ESIM_PROFILE = "HP"
    SETTINGS_UPDATE = "OB"
    WIRELESS_SIM = "DE"
    RATE_PLAN = "WP"
    WIRELESS_COMMAND = "DC"
    DATA_SESSION = "WN"
    CONNECTION_EVENT = "EV"
    WEBHOOK_DELIVERY = "WD"
    # The private-network surface (/things/v1, THINGS.md): prefixes of its own.
    THING = "TH"
    THINGS_GROUP = "TG"
    PRIVATE_NETWORK = "PN"
    IP_POOL = "PP"
    ROUTE = "PR"
    IP_PROFILE = "PF"
    NAT_RULE = "PT"
    REPORT_DOWNLOAD = "RD"
    API_CLIENT = "OC"
    USER = "US"
    AUDIT_EVENT = "AE"
    BULK_ACTION = "BA"
    IMEI_CHANGE = "IE"
    VPN_TUNNEL = "PV"


# Matched whole (fullmatch): `$` would also match before a trailing newline.
SID_PATTERN = re.compile(r"[A-Z]{2}[0-9a-f]{32}")


class SidFactory:
    """Makes sids whose first 12 hex digits are the creation time in milliseconds.

    The remaining 20 digits are random; a seed makes a run reproducible. A counter keeps sids made
    within the same millisecond strictly increasing, so sid order equals creation order in one process.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._last_ms = 0
        self._last_tail = 0

    def new(self, prefix: Prefix | str, at_ms: int | None = None) -> str:
        with self._lock:
            ms = at_ms if at_ms is not None else int(time.time() * 1000)
            if ms <= self._last_ms:
                ms = self._last_ms
                tail = self._last_tail + 1 + self._random.getrandbits(16)
            else:
                tail = self._random.getrandbits(72)
            tail &= (1 << 80) - 1
            self._last_ms, self._last_tail = ms, tail
        return f"{prefix}{ms:012x}{tail:020x}"


def derived_sid(prefix: Prefix | str, key: str) -> str:
    """A sid that is a pure function of a natural key (e.g. MCC-MNC), stable across installs."""
    return f"{prefix}{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def is_sid(value: str, prefix: Prefix | str | None = None) -> bool:
    if not SID_PATTERN.fullmatch(value):
        return False
    return prefix is None or value.startswith(str(prefix))


_default_factory = SidFactory()


def new_sid(prefix: Prefix | str) -> str:
    """A new sid from the process-wide factory (reseed it with `seed_sids`)."""
    return _default_factory.new(prefix)


def seed_sids(seed: int | None) -> None:
    """Replace the default factory, so that a run with CELLPLANE_SEED makes the same random digits."""
    global _default_factory
    _default_factory = SidFactory(seed)
