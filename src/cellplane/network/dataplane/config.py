"""What the data plane needs to know, handed in by the runtime (it never reads settings itself)."""

from __future__ import annotations

import enum
import ipaddress
import secrets
import string
from dataclasses import dataclass, field

LINK_RANGE = ipaddress.IPv4Network("198.18.0.0/15")  # RFC 2544 benchmarking range: never a real destination
_ALPHABET = string.ascii_lowercase + string.digits


class DataPlaneMode(enum.StrEnum):
    OFF = "off"
    AUTO = "auto"  # on where the process holds CAP_NET_ADMIN, off (and said so) elsewhere
    ON = "on"  # refuse to start without CAP_NET_ADMIN


def new_instance() -> str:
    """A short random instance name (4 characters): several platforms on one host never share names."""
    return secrets.choice(string.ascii_lowercase) + "".join(secrets.choice(_ALPHABET) for _ in range(3))


def random_link_subnet() -> str:
    """A random /24 of 198.18.0.0/15 (512 of them): parallel platforms rarely draw the same one, and the data plane
    checks the host's addresses before it takes one."""
    index = secrets.randbelow(LINK_RANGE.num_addresses // 256)
    return str(ipaddress.IPv4Network((int(LINK_RANGE.network_address) + index * 256, 24)))


@dataclass(frozen=True)
class DataPlaneConfig:
    """One platform instance's data plane: its name prefix, link subnet, default pools and internet access."""

    instance: str = field(default_factory=new_instance)
    # Host ends of the domains' uplinks take /30s of it (host .1, namespace .2 of each).
    link_subnet: str = field(default_factory=random_link_subnet)
    # Whether link_subnet was drawn at random: then a clash with an address on the host draws another.
    link_subnet_random: bool = True
    # The default domain's device pools (Super SIM and Wireless sessions), routed to its TUN.
    default_pools: tuple[str, ...] = ("10.64.0.0/10",)
    # Forward to the host's own default route (devices reach the internet): explicit only.
    internet: bool = False
