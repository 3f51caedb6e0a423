"""A profile's ordered rules as interval sets (domain/firewall_sets.py): the blocks decide every packet the way the
rules do, first match wins, and no set holds two overlapping elements (the kernel would refuse them)."""

from __future__ import annotations

import ipaddress
import random

from cellplane.domain import firewall_sets
from cellplane.domain.firewall_sets import Box
from cellplane.domain.things_config import Rule

CIDRS = ["0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3/32", "10.2.0.0/16", "192.0.2.0/24"]
PORTS = [None, "80", "70-90", "85-100", "53", "1-1024"]


def first_match(rules: list[Rule], remote: int, protocol: int, port: int) -> str | None:
    for rule in rules:
        if inside(firewall_sets.box(rule), remote, protocol, port):
            return rule.action
    return None


def by_blocks(rules: list[Rule], remote: int, protocol: int, port: int) -> str | None:
    for block in firewall_sets.blocks(rules):
        if any(inside(item, remote, protocol, port) for boxes in block.sets for item in boxes):
            return block.action
    return None


def inside(item: Box, remote: int, protocol: int, port: int) -> bool:
    network = ipaddress.IPv4Network((item.network, item.prefixlen))
    return (
        ipaddress.IPv4Address(remote) in network
        and item.protocol[0] <= protocol <= item.protocol[1]
        and item.ports[0] <= port <= item.ports[1]
    )


def overlap(a: Box, b: Box) -> bool:
    one, two = ipaddress.IPv4Network((a.network, a.prefixlen)), ipaddress.IPv4Network((b.network, b.prefixlen))
    return (
        one.overlaps(two)
        and a.protocol[0] <= b.protocol[1]
        and b.protocol[0] <= a.protocol[1]
        and a.ports[0] <= b.ports[1]
        and b.ports[0] <= a.ports[1]
    )


def random_rule(pick: random.Random) -> Rule:
    protocol = pick.choice(["any", "tcp", "udp", "icmp"])
    ports = pick.choice(PORTS) if protocol in ("tcp", "udp") else None
    return Rule(pick.choice(["allow", "deny"]), protocol, pick.choice(CIDRS), ports)


def test_blocks_decide_like_the_ordered_rules_and_sets_never_hold_overlaps() -> None:
    pick = random.Random(17)
    remotes = [int(ipaddress.IPv4Address(a)) for a in ("10.1.2.3", "10.1.2.9", "10.1.9.9", "10.2.3.4", "192.0.2.1")]
    for _ in range(120):
        rules = [random_rule(pick) for _ in range(pick.randint(0, 12))]
        for block in firewall_sets.blocks(rules):
            for boxes in block.sets:
                assert not any(overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :]), rules
        for remote in remotes:
            for protocol in (1, 6, 17, 47):
                for port in (0, 53, 80, 88, 95, 2000):
                    assert by_blocks(rules, remote, protocol, port) == first_match(rules, remote, protocol, port)


def test_a_thousand_distinct_rules_of_one_action_are_one_set() -> None:
    rules = [Rule("deny", "tcp", f"203.0.113.{i % 256}/32", str(9 + i // 256)) for i in range(1000)]
    (block,) = firewall_sets.blocks(rules)
    assert len(block.sets) == 1 and len(block.sets[0]) == 1000
