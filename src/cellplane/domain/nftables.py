"""A private Network's packet rules as one nftables JSON ruleset (libnftables-json(5)), pure: IP Profiles, device
isolation and NAT rules in, the document `nft -j -f` applies out.

The ruleset is one table the platform owns whole (`ip cellplane`), replaced atomically: the document adds the
table, deletes it and builds it again, all in one transaction, so a change is in force at once or not at all (the
habit of firewalld's nftables backend). Rules scale with profiles, not Things: each profile is a pair of chains
(`in_<n>`, `out_<n>`), and two verdict maps keyed by device address send each Thing's packets to its profile's
chains — 10,000 Things of one profile are 10,000 map elements and one chain.

Choices where THINGS.md is silent:

- The firewall is stateful: replies to a connection a rule allowed pass (conntrack established/related).
- `remotePorts` is the connection's service port, i.e. the destination port: the remote's for outbound rules
  (a Thing calling port 80), the Thing's own for inbound ones (someone calling the Thing's port 80).
- Device isolation drops what enters from the devices' interface and leaves through it again (Thing to Thing),
  before any profile; traffic to the uplink (the back end) is untouched by it.
- NAT rules are DNAT in prerouting from `publicAddress:publicPort` to the Thing, one rule each (a network has a
  handful); their packets then meet the Thing's inbound rules like any other.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cellplane.domain import firewall_sets
from cellplane.domain.things_config import Rule, parse_ports

TABLE = "cellplane"
FAMILY = "ip"
Json = dict[str, Any]


@dataclass(frozen=True)
class Profile:
    inbound: Sequence[Rule] = ()
    outbound: Sequence[Rule] = ()
    default_action: str = "allow"


@dataclass(frozen=True)
class Forward:
    """One NAT rule, resolved to the private address it forwards to."""

    protocol: str
    public_address: str
    public_port: int
    private_ip: str
    private_port: int


@dataclass(frozen=True)
class NetworkRules:
    """Everything one routing domain's packet rules depend on."""

    device_interface: str
    profiles: Mapping[str, Profile] = field(default_factory=dict)
    # Device address -> the id of the profile of its Thing's group.
    devices: Mapping[str, str] = field(default_factory=dict)
    isolation: bool = False
    forwards: Sequence[Forward] = ()


def ruleset(rules: NetworkRules) -> Json:
    """The whole `{"nftables": [...]}` document for one network."""
    names = {profile: index for index, profile in enumerate(sorted(rules.profiles))}
    commands: list[Json] = [
        {"add": {"table": _table()}},
        {"delete": {"table": _table()}},
        {"add": {"table": _table()}},
        _chain("forward", type_="filter", hook="forward", prio=0),
        _chain("prerouting", type_="nat", hook="prerouting", prio=-100),
    ]
    for profile_id, index in names.items():
        profile = rules.profiles[profile_id]
        for direction, chain_rules in (("in", profile.inbound), ("out", profile.outbound)):
            chain = f"{direction}_{index}"
            commands.append(_chain(chain))
            commands.extend(_rule(chain, _filter(rule, direction)) for rule in chain_rules)
            commands.append(_rule(chain, [_verdict(profile.default_action)]))
    # Address order (inet_aton: C speed; the elements are a set to nft, the order only makes the document stable).
    ordered = sorted(rules.devices.items(), key=lambda item: socket.inet_aton(item[0]))
    for direction in ("in", "out"):
        elements = [
            [address, {"jump": {"target": f"{direction}_{names[profile]}"}}]
            for address, profile in ordered
            if profile in names
        ]
        commands.append(
            {"add": {"map": {**_owner(), "name": f"{direction}bound", "type": "ipv4_addr", "map": "verdict"}}}
        )
        if elements:
            commands.append({"add": {"element": {**_owner(), "name": f"{direction}bound", "elem": elements}}})
    device = rules.device_interface
    forward = [
        _rule("forward", [_match({"ct": {"key": "state"}}, ["established", "related"], "in"), {"accept": None}]),
    ]
    if rules.isolation:
        forward.append(_rule("forward", [_iface("iifname", device), _iface("oifname", device), {"drop": None}]))
    forward += [
        _rule("forward", [_iface("iifname", device), _vmap("saddr", "@outbound")]),
        _rule("forward", [_iface("oifname", device), _vmap("daddr", "@inbound")]),
    ]
    commands += forward
    commands += [_dnat(item) for item in rules.forwards]
    return {"nftables": commands}


def _owner() -> Json:
    return {"family": FAMILY, "table": TABLE}


def _table() -> Json:
    return {"family": FAMILY, "name": TABLE}


def _chain(name: str, *, type_: str | None = None, hook: str | None = None, prio: int = 0) -> Json:
    chain: Json = {**_owner(), "name": name}
    if type_ is not None:
        chain.update({"type": type_, "hook": hook, "prio": prio, "policy": "accept"})
    return {"add": {"chain": chain}}


def _rule(chain: str, expr: list[Json]) -> Json:
    return {"add": {"rule": {**_owner(), "chain": chain, "expr": expr}}}


def _match(left: Json, right: Any, op: str = "==") -> Json:
    return {"match": {"op": op, "left": left, "right": right}}


def _payload(protocol: str, field_: str) -> Json:
    return {"payload": {"protocol": protocol, "field": field_}}


def _iface(key: str, name: str) -> Json:
    return _match({"meta": {"key": key}}, name)


def _vmap(field_: str, name: str) -> Json:
    return {"vmap": {"key": _payload("ip", field_), "data": name}}


def _verdict(action: str) -> Json:
    return {"accept": None} if action == "allow" else {"drop": None}


def _filter(rule: Rule, direction: str) -> list[Json]:
    """One profile rule as match expressions and its verdict. The remote is the destination of outbound packets
    and the source of inbound ones; the port is always the destination's (see the module docstring)."""
    expr: list[Json] = []
    network = ipaddress.IPv4Network(rule.remote_cidr)
    if network.prefixlen:
        remote = "daddr" if direction == "out" else "saddr"
        expr.append(
            _match(_payload("ip", remote), {"prefix": {"addr": str(network.network_address), "len": network.prefixlen}})
        )
    if rule.protocol != "any":
        expr.append(_match({"meta": {"key": "l4proto"}}, rule.protocol))
    if rule.remote_ports is not None and rule.protocol in ("tcp", "udp"):
        low, high = parse_ports(rule.remote_ports, "remotePorts")
        expr.append(_match(_payload(rule.protocol, "dport"), low if low == high else {"range": [low, high]}))
    expr.append(_verdict(rule.action))
    return expr


def _dnat(item: Forward) -> Json:
    return _rule(
        "prerouting",
        [
            _match(_payload("ip", "daddr"), item.public_address),
            _match({"meta": {"key": "l4proto"}}, item.protocol),
            _match(_payload(item.protocol, "dport"), item.public_port),
            {"dnat": {"addr": item.private_ip, "port": item.private_port}},
        ],
    )


# --- inside a routing domain of the data plane (network/dataplane/domain.py) -------------------------------------
#
# A routing domain's table `ip cellplane` is the data plane's: its base chains (forward: replies pass, then `jump
# isolation`, `jump firewall`, devices out, DNAT in, the rest refused; prerouting: `jump forwards`) stay, and a
# Network's rules fill the three chains it leaves for them. In there an allow is `return` (the base chain goes on:
# a Thing-to-Thing packet meets the receiver's inbound rules after the sender's outbound ones) and a deny jumps to
# `refuse`, which refuses the way the domain refuses (TCP reset, else ICMP administratively prohibited), so a blocked
# client learns at once instead of timing out.
#
# Per-packet cost does not grow with a profile's rules: a profile's chain (`in_<profile id>`, `out_<profile id>`)
# looks the packet's (remote, protocol, port) up in the interval sets of its rule blocks (domain/firewall_sets.py)
# and falls to the profile's default. Changes are applied as differences (`domain_commands` with what is in force):
# a Thing coming or going changes map elements, a profile's PATCH refills that profile's chains and sets, and the
# three small chains are refilled only when their rules differ; still one transaction each time.

ISOLATION_CHAIN = "isolation"
FIREWALL_CHAIN = "firewall"
FORWARDS_CHAIN = "forwards"
REFUSE_CHAIN = "refuse"
MAPS = ("inbound", "outbound")
DEVICES = "devices"  # the set of the addresses in the maps
DIRECTIONS = ("in", "out")


@dataclass(frozen=True)
class DomainLayout:
    """The names of the domain's interfaces: devices behind `device_interface`, the host behind `uplink`."""

    device_interface: str
    uplink: str


@dataclass(frozen=True)
class InForce:
    """What one application left in the domain: the next one applies only the differences from it."""

    rules: NetworkRules
    sets: Mapping[str, int] = field(default_factory=dict)  # profile chain -> how many rule sets it uses


def domain_commands(
    rules: NetworkRules, layout: DomainLayout, previous: InForce | None = None
) -> tuple[list[Json], InForce]:
    """The commands that take one Network's domain from `previous` (None: the data plane's fresh base table) to
    `rules`, to be applied as ONE transaction, and what is in force once they are. Applied from `previous`, the
    result is the ruleset a fresh application of `rules` makes (tests compare the two)."""
    fresh = previous is None
    old = previous.rules if previous is not None else NetworkRules(device_interface=rules.device_interface)
    sets: dict[str, int] = dict(previous.sets) if previous is not None else {}
    profiles = {sid: _normal(p) for sid, p in rules.profiles.items()}
    old_profiles = {sid: _normal(p) for sid, p in old.profiles.items()}
    commands: list[Json] = []
    if fresh:
        commands += [{"add": {"chain": {**_owner(), "name": REFUSE_CHAIN}}}, _flush(REFUSE_CHAIN)]
        commands += [_rule(REFUSE_CHAIN, verdict) for verdict in _refusals()]
        for name in MAPS:
            commands += [{"add": {"map": _map(name)}}, {"flush": {"map": {**_owner(), "name": name}}}]
        commands += [{"add": {"set": _set()}}, {"flush": {"set": {**_owner(), "name": DEVICES}}}]
    # Profiles new or changed: their chains and sets (made before anything refers to them).
    for sid in sorted(profiles):
        for direction in DIRECTIONS:
            if sid in old_profiles and _side(old_profiles[sid], direction) == _side(profiles[sid], direction):
                continue
            chain = _profile_chain(direction, sid)
            built = _profile(chain, profiles[sid], direction)
            had = sets.get(chain, 0) if sid in old_profiles else 0
            commands += [_chain(chain), _flush(chain)] if sid in old_profiles else [_chain(chain)]
            for index, elements in enumerate(built.elements):
                name = _set_name(chain, index)
                commands.append({"add": {"set": _rule_set(name)}} if index >= had else _flush_set(name))
                commands.append({"add": {"element": {**_owner(), "name": name, "elem": elements}}})
            commands += [
                {"delete": {"set": {**_owner(), "name": _set_name(chain, i)}}} for i in range(len(built.elements), had)
            ]
            commands += built.rules
            sets[chain] = len(built.elements)
    # The three small chains: refilled when their rules differ.
    for chain, build in ((ISOLATION_CHAIN, _isolation), (FIREWALL_CHAIN, _firewall), (FORWARDS_CHAIN, _forwards)):
        wanted = build(rules, profiles, layout)
        if fresh or wanted != build(old, old_profiles, layout):
            commands += [_flush(chain), *wanted]
    # The Things' addresses: only the elements that differ.
    commands += _device_changes(_devices(old, old_profiles), _devices(rules, profiles))
    # Profiles gone: emptied (nothing refers to them any more), then removed.
    for sid in sorted(set(old_profiles) - set(profiles)):
        for direction in DIRECTIONS:
            chain = _profile_chain(direction, sid)
            commands += [_flush(chain), {"delete": {"chain": {**_owner(), "name": chain}}}]
            commands += [
                {"delete": {"set": {**_owner(), "name": _set_name(chain, i)}}} for i in range(sets.pop(chain, 0))
            ]
    in_force = NetworkRules(
        device_interface=rules.device_interface,
        profiles=profiles,
        devices=dict(rules.devices),
        isolation=rules.isolation,
        forwards=tuple(rules.forwards),
    )
    return commands, InForce(in_force, sets)


def profile_chains(rules: NetworkRules) -> list[str]:
    """The chains `domain_commands` makes for `rules`' profiles."""
    return [_profile_chain(direction, sid) for sid in sorted(rules.profiles) for direction in DIRECTIONS]


@dataclass(frozen=True)
class _Built:
    elements: list[list[Any]]  # one list of elements per set, the sets numbered in order
    rules: list[Json]


def _profile(chain: str, profile: Profile, direction: str) -> _Built:
    """A profile's chain: one lookup per rule set, in block order, then the default."""
    remote = "daddr" if direction == "out" else "saddr"
    key = {"concat": [_payload("ip", remote), {"meta": {"key": "l4proto"}}, _payload("th", "dport")]}
    elements: list[list[Any]] = []
    commands: list[Json] = []
    for block in firewall_sets.blocks(profile.inbound if direction == "in" else profile.outbound):
        for boxes in block.sets:
            name = _set_name(chain, len(elements))
            elements.append([item.element() for item in boxes])
            commands.append(_rule(chain, [_match(key, f"@{name}"), _domain_verdict(block.action)]))
    commands.append(_rule(chain, [_domain_verdict(profile.default_action)]))
    return _Built(elements, commands)


def _isolation(rules: NetworkRules, profiles: Mapping[str, Profile], layout: DomainLayout) -> list[Json]:
    if not rules.isolation:
        return []
    between = [_iface("iifname", layout.device_interface), _iface("oifname", layout.device_interface)]
    return [_rule(ISOLATION_CHAIN, [*between, *verdict]) for verdict in _refusals()]


def _firewall(rules: NetworkRules, profiles: Mapping[str, Profile], layout: DomainLayout) -> list[Json]:
    device = layout.device_interface
    commands = [
        _rule(FIREWALL_CHAIN, [_iface("iifname", device), _vmap("saddr", "@outbound")]),
        _rule(FIREWALL_CHAIN, [_iface("oifname", device), _vmap("daddr", "@inbound")]),
    ]
    # An address not in the maps yet (a session a moment old, before the data plane has read it): with one profile
    # in the Network it is that one's; with several, refused until its Thing's is known (never unfiltered).
    only = next(iter(profiles)) if len(profiles) == 1 else None
    for field_, key, direction in (("saddr", "iifname", "out"), ("daddr", "oifname", "in")):
        unknown = [_iface(key, device), _match(_payload("ip", field_), f"@{DEVICES}", "!=")]
        if only is not None:
            commands.append(_rule(FIREWALL_CHAIN, [*unknown, {"jump": {"target": _profile_chain(direction, only)}}]))
        else:
            commands.append(_rule(FIREWALL_CHAIN, [*unknown, {"jump": {"target": REFUSE_CHAIN}}]))
    return commands


def _forwards(rules: NetworkRules, profiles: Mapping[str, Profile], layout: DomainLayout) -> list[Json]:
    return [
        _rule(
            FORWARDS_CHAIN,
            [
                _iface("iifname", layout.uplink),
                _match(_payload("ip", "daddr"), item.public_address),
                _match({"meta": {"key": "l4proto"}}, item.protocol),
                _match(_payload(item.protocol, "dport"), item.public_port),
                {"dnat": {"addr": item.private_ip, "port": item.private_port}},
            ],
        )
        for item in rules.forwards
    ]


def _devices(rules: NetworkRules, profiles: Mapping[str, Profile]) -> dict[str, str]:
    return {address: profile for address, profile in rules.devices.items() if profile in profiles}


def _device_changes(old: Mapping[str, str], new: Mapping[str, str]) -> list[Json]:
    """Map and set elements: addresses gone or moved to another profile leave, new or moved ones join."""
    if old == new:
        return []
    ordered = lambda addresses: sorted(addresses, key=socket.inet_aton)  # noqa: E731 (stable documents)
    gone = ordered(a for a in old if a not in new)
    moved = ordered(a for a in new if a in old and old[a] != new[a])
    joined = ordered(a for a in new if a not in old)
    commands: list[Json] = []
    for name, direction in (("inbound", "in"), ("outbound", "out")):
        if gone or moved:
            commands.append({"delete": {"element": {**_owner(), "name": name, "elem": [*gone, *moved]}}})
        if moved or joined:
            elements = [[a, {"jump": {"target": _profile_chain(direction, new[a])}}] for a in [*moved, *joined]]
            commands.append({"add": {"element": {**_owner(), "name": name, "elem": elements}}})
    if gone:
        commands.append({"delete": {"element": {**_owner(), "name": DEVICES, "elem": gone}}})
    if joined:
        commands.append({"add": {"element": {**_owner(), "name": DEVICES, "elem": joined}}})
    return commands


def _side(profile: Profile, direction: str) -> tuple[Any, ...]:
    """What one direction's chain of a profile is made of."""
    return (profile.inbound if direction == "in" else profile.outbound), profile.default_action


def _normal(profile: Profile) -> Profile:
    """Rules as tuples, so two profiles with the same rules compare equal whatever sequences they came in."""
    return Profile(tuple(profile.inbound), tuple(profile.outbound), profile.default_action)


def _profile_chain(direction: str, profile_id: str) -> str:
    return f"{direction}_{profile_id}"


def _set_name(chain: str, index: int) -> str:
    return f"{chain}_{index}"


def _flush(chain: str) -> Json:
    return {"flush": {"chain": {**_owner(), "name": chain}}}


def _flush_set(name: str) -> Json:
    return {"flush": {"set": {**_owner(), "name": name}}}


def _rule_set(name: str) -> Json:
    return {**_owner(), "name": name, "type": firewall_sets.SET_TYPE, "flags": ["interval"]}


def _map(name: str) -> Json:
    return {**_owner(), "name": name, "type": "ipv4_addr", "map": "verdict"}


def _set() -> Json:
    return {**_owner(), "name": DEVICES, "type": "ipv4_addr"}


def _refusals() -> list[list[Json]]:
    """A TCP segment is answered with a reset, anything else with ICMP administratively prohibited."""
    return [
        [_match({"meta": {"key": "l4proto"}}, "tcp"), {"reject": {"type": "tcp reset"}}],
        [{"reject": {"type": "icmp", "expr": "admin-prohibited"}}],
    ]


def _domain_verdict(action: str) -> Json:
    return {"return": None} if action == "allow" else {"jump": {"target": REFUSE_CHAIN}}
