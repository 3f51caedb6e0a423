"""An IP Profile direction's ordered rules as a few nftables interval sets, so a packet costs a set lookup or two
however many rules the profile has (issue 17: 1,000 rules walked one by one slowed every new flow).

Each rule is a box in (remote address, protocol, destination port); a set of type `ipv4_addr . inet_proto .
inet_service` with `flags interval` holds boxes and the kernel finds a packet's box in one lookup. Rules are
first-match, so a run of consecutive rules with the same action is one block (any of them matching gives that
action) and blocks keep their order. The kernel refuses overlapping elements in one set, so a block is spread over
as few sets as a greedy pass finds; a box inside another of its block is dropped (it can never decide anything).
CIDRs are nested or disjoint, so the boxes an address range can overlap are found through its supernets and the
boxes under it, not by comparing every pair.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cellplane.domain.things_config import Rule, parse_ports

PROTOCOL_NUMBERS = {"tcp": 6, "udp": 17, "icmp": 1}
ANY_PROTOCOL = (0, 255)
ANY_PORT = (0, 65535)  # ports of rules are 1-65535; 0 keeps packets without ports (ICMP) inside "every port"
SET_TYPE = ["ipv4_addr", "inet_proto", "inet_service"]
MASKS = tuple((0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF for length in range(33))

Range = tuple[int, int]


@dataclass(frozen=True)
class Box:
    """The packets one rule matches: the remote in `network/prefixlen`, the protocol and port in their ranges."""

    network: int
    prefixlen: int
    protocol: Range
    ports: Range

    def element(self) -> Any:
        """The nft JSON element (a concatenation of prefix, protocol and port, each a value or range)."""
        address = socket.inet_ntoa(self.network.to_bytes(4, "big"))
        remote: Any = address if self.prefixlen == 32 else {"prefix": {"addr": address, "len": self.prefixlen}}
        return {"concat": [remote, _value(self.protocol), _value(self.ports)]}


@dataclass(frozen=True)
class Block:
    """Consecutive rules with one action, as sets none of whose elements overlap."""

    action: str
    sets: tuple[tuple[Box, ...], ...]


def box(rule: Rule) -> Box:
    """The rule's box (its fields were checked when the profile was stored)."""
    address, _, length = rule.remote_cidr.partition("/")
    prefixlen = int(length or 32)
    network = int.from_bytes(socket.inet_aton(address), "big") & MASKS[prefixlen]
    number = PROTOCOL_NUMBERS.get(rule.protocol)
    protocol = ANY_PROTOCOL if number is None else (number, number)
    ports = ANY_PORT
    if rule.remote_ports is not None and rule.protocol in ("tcp", "udp"):
        ports = parse_ports(rule.remote_ports, "remotePorts")
    return Box(network, prefixlen, protocol, ports)


def blocks(rules: Sequence[Rule]) -> list[Block]:
    """The rules as ordered blocks (see the module docstring); an empty list for no rules."""
    runs: list[tuple[str, list[Box]]] = []
    for rule in rules:
        if not runs or runs[-1][0] != rule.action:
            runs.append((rule.action, []))
        runs[-1][1].append(box(rule))
    return [Block(action, _spread(boxes)) for action, boxes in runs]


def _spread(boxes: list[Box]) -> tuple[tuple[Box, ...], ...]:
    sets: list[_Set] = []
    for item in boxes:
        if any(s.covers(item) for s in sets):
            continue
        for target in sets:
            if not target.overlaps(item):
                target.add(item)
                break
        else:
            sets.append(_Set())
            sets[-1].add(item)
    return tuple(tuple(s.boxes) for s in sets)


@dataclass
class _Set:
    boxes: list[Box] = field(default_factory=list)
    # prefix length -> network -> the boxes of that CIDR (a profile has few lengths: /32s, a /24 or two, /0)
    by_length: dict[int, dict[int, list[Box]]] = field(default_factory=dict)

    def add(self, item: Box) -> None:
        self.boxes.append(item)
        self.by_length.setdefault(item.prefixlen, {}).setdefault(item.network, []).append(item)

    def _near(self, item: Box, *, subnets: bool) -> list[Box]:
        """The boxes whose CIDR holds the item's (and with `subnets`, those inside it): the only ones it can meet."""
        found: list[Box] = []
        for length, networks in self.by_length.items():
            if length <= item.prefixlen:
                found += networks.get(item.network & MASKS[length], ())
            elif subnets:
                mask = MASKS[item.prefixlen]
                for network, boxes in networks.items():
                    if network & mask == item.network:
                        found += boxes
        return found

    def overlaps(self, item: Box) -> bool:
        near = self._near(item, subnets=True)
        return any(_meets(o.protocol, item.protocol) and _meets(o.ports, item.ports) for o in near)

    def covers(self, item: Box) -> bool:
        near = self._near(item, subnets=False)
        return any(_within(item.protocol, o.protocol) and _within(item.ports, o.ports) for o in near)


def _meets(a: Range, b: Range) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def _within(inner: Range, outer: Range) -> bool:
    return outer[0] <= inner[0] and inner[1] <= outer[1]


def _value(bounds: Range) -> Any:
    return bounds[0] if bounds[0] == bounds[1] else {"range": list(bounds)}
