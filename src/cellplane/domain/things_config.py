"""The private-network configuration rules of THINGS.md, pure: CIDRs, pools, port ranges, firewall rules, NAT rules.

Every check raises InvalidParameter naming the wire field at fault (`cidr`, `outbound[2].remotePorts`), so a
request is refused whole before anything is written.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cellplane.domain.errors import InvalidParameter

ACTIONS = ("allow", "deny")
RULE_PROTOCOLS = ("any", "tcp", "udp", "icmp")
NAT_PROTOCOLS = ("tcp", "udp")
ROUTE_UPLINK = "uplink"
# A pool holds at least two devices (a /30) and at most a /16: a network's devices live in one routing domain.
POOL_PREFIXES = range(16, 31)
RULE_FIELDS = frozenset({"action", "protocol", "remoteCidr", "remotePorts"})


def parse_cidr(value: Any, field: str, *, prefixes: Iterable[int] | None = None) -> ipaddress.IPv4Network:
    """An IPv4 network in CIDR notation with no host bits set ("10.0.0.0/24", not "10.0.0.1/24")."""
    if not isinstance(value, str) or "/" not in value:
        raise InvalidParameter(field, f"{field} must be an IPv4 network in CIDR notation, e.g. 10.10.0.0/24")
    try:
        network = ipaddress.IPv4Network(value.strip(), strict=True)
    except ValueError as exc:
        raise InvalidParameter(field, f"{field} is not a valid IPv4 CIDR: {exc}") from None
    if prefixes is not None and network.prefixlen not in prefixes:
        allowed = list(prefixes)
        raise InvalidParameter(field, f"{field} must have a prefix length from /{allowed[0]} to /{allowed[-1]}")
    return network


def parse_address(value: Any, field: str) -> ipaddress.IPv4Address:
    if not isinstance(value, str):
        raise InvalidParameter(field, f"{field} must be an IPv4 address")
    try:
        return ipaddress.IPv4Address(value.strip())
    except ValueError:
        raise InvalidParameter(field, f"{field} is not a valid IPv4 address") from None


def parse_port(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise InvalidParameter(field, f"{field} must be an integer port from 1 to 65535")
    return value


def parse_ports(value: Any, field: str) -> tuple[int, int]:
    """ "80" or "8000-8100" (inclusive, low ≤ high, 1-65535)."""
    if not isinstance(value, str) or not value:
        raise InvalidParameter(field, f'{field} must be a port or a range such as "80" or "8000-8100"')
    low_text, sep, high_text = value.partition("-")
    if not low_text.isdigit() or (sep and not high_text.isdigit()):
        raise InvalidParameter(field, f'{field} must be a port or a range such as "80" or "8000-8100"')
    low, high = int(low_text), int(high_text) if sep else int(low_text)
    if not (1 <= low <= 65535 and 1 <= high <= 65535):
        raise InvalidParameter(field, f"{field} ports must be from 1 to 65535")
    if low > high:
        raise InvalidParameter(field, f"{field} must go from the lower port to the higher one")
    return low, high


def choice(value: Any, field: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise InvalidParameter(field, f"{field} must be one of {', '.join(allowed)}")
    return str(value)


@dataclass(frozen=True)
class Rule:
    """One firewall rule of an IP Profile, checked; `remote_ports` None means every port (or not applicable)."""

    action: str
    protocol: str = "any"
    remote_cidr: str = "0.0.0.0/0"
    remote_ports: str | None = None

    def wire(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "protocol": self.protocol,
            "remoteCidr": self.remote_cidr,
            "remotePorts": self.remote_ports,
        }


def parse_rule(value: Any, field: str) -> Rule:
    if not isinstance(value, Mapping):
        raise InvalidParameter(field, f"{field} must be an object with action, protocol, remoteCidr, remotePorts")
    unknown = sorted(set(value) - RULE_FIELDS)
    if unknown:
        raise InvalidParameter(f"{field}.{unknown[0]}", f"{field}.{unknown[0]} is not a field of a rule")
    action = choice(value.get("action"), f"{field}.action", ACTIONS)
    protocol = choice(value.get("protocol", "any"), f"{field}.protocol", RULE_PROTOCOLS)
    cidr = str(parse_cidr(value.get("remoteCidr", "0.0.0.0/0"), f"{field}.remoteCidr", prefixes=range(0, 33)))
    ports = value.get("remotePorts")
    if ports is not None:
        if protocol not in ("tcp", "udp"):
            raise InvalidParameter(f"{field}.remotePorts", f"{field}.remotePorts needs protocol tcp or udp")
        parse_ports(ports, f"{field}.remotePorts")
    return Rule(action, protocol, cidr, ports)


def parse_rules(value: Any, field: str) -> list[Rule]:
    """An ordered rule list; one invalid rule refuses the whole list."""
    if not isinstance(value, list):
        raise InvalidParameter(field, f"{field} must be a list of rules")
    return [parse_rule(item, f"{field}[{index}]") for index, item in enumerate(value)]


def pool_size(network: ipaddress.IPv4Network) -> int:
    """Addresses a pool can hand out: all but the network and broadcast addresses."""
    return max(0, network.num_addresses - 2)


def pool_hosts(network: ipaddress.IPv4Network) -> tuple[int, int]:
    """The first and last address a pool hands out, as integers."""
    return int(network.network_address) + 1, int(network.broadcast_address) - 1


def in_pool(address: ipaddress.IPv4Address, network: ipaddress.IPv4Network) -> bool:
    first, last = pool_hosts(network)
    return first <= int(address) <= last


def overlapping(network: ipaddress.IPv4Network, others: Iterable[str]) -> str | None:
    """The first of `others` (CIDR texts) that overlaps `network`, if any."""
    for other in others:
        if network.overlaps(ipaddress.IPv4Network(other)):
            return other
    return None
