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
# a Thing-to-Thing packet meets the receiver's inbound rules after the sender's outbound ones) and a deny is
# refused the way the domain refuses (TCP reset, else ICMP administratively prohibited), so a blocked client
# learns at once instead of timing out.

ISOLATION_CHAIN = "isolation"
FIREWALL_CHAIN = "firewall"
FORWARDS_CHAIN = "forwards"
MAPS = ("inbound", "outbound")
DEVICES = "devices"  # the set of the addresses in the maps


@dataclass(frozen=True)
class DomainLayout:
    """The names of the domain's interfaces: devices behind `device_interface`, the host behind `uplink`."""

    device_interface: str
    uplink: str


def domain_commands(rules: NetworkRules, layout: DomainLayout, stale_chains: Sequence[str] = ()) -> list[Json]:
    """The commands that replace one Network's rules in its domain's table, to be applied as ONE transaction:
    the three chains flushed and filled, the address maps and profile chains made again; `stale_chains` (the
    profile chains of the previous application) go. Everything is rebuilt, nothing patched: the result never
    depends on what was there before."""
    names = {profile: index for index, profile in enumerate(sorted(rules.profiles))}
    commands: list[Json] = [{"flush": {"chain": {**_owner(), "name": c}}} for c in _chains_owned()]
    # The maps reference the profile chains: both go (after the flush above dropped the rules using the maps).
    for name in MAPS:
        commands += [{"add": {"map": _map(name)}}, {"delete": {"map": {**_owner(), "name": name}}}]
    commands += [{"add": {"set": _set()}}, {"delete": {"set": {**_owner(), "name": DEVICES}}}, {"add": {"set": _set()}}]
    for chain in stale_chains:
        commands += [
            {"add": {"chain": {**_owner(), "name": chain}}},
            {"delete": {"chain": {**_owner(), "name": chain}}},
        ]
    for profile_id, index in names.items():
        profile = rules.profiles[profile_id]
        for direction, chain_rules in (("in", profile.inbound), ("out", profile.outbound)):
            chain = f"{direction}_{index}"
            commands.append(_chain(chain))
            commands.extend(_rule(chain, _domain_filter(rule, direction)) for rule in chain_rules)
            commands.append(_rule(chain, _domain_verdict(profile.default_action)))
    ordered = sorted(rules.devices.items(), key=lambda item: socket.inet_aton(item[0]))
    for name, direction in (("inbound", "in"), ("outbound", "out")):
        commands.append({"add": {"map": _map(name)}})
        elements = [
            [address, {"jump": {"target": f"{direction}_{names[profile]}"}}]
            for address, profile in ordered
            if profile in names
        ]
        if elements:
            commands.append({"add": {"element": {**_owner(), "name": name, "elem": elements}}})
    known = [address for address, profile in ordered if profile in names]
    if known:
        commands.append({"add": {"element": {**_owner(), "name": DEVICES, "elem": known}}})
    device = layout.device_interface
    if rules.isolation:
        between = [_iface("iifname", device), _iface("oifname", device)]
        commands += [_rule(ISOLATION_CHAIN, [*between, *verdict]) for verdict in _refusals()]
    commands += [
        _rule(FIREWALL_CHAIN, [_iface("iifname", device), _vmap("saddr", "@outbound")]),
        _rule(FIREWALL_CHAIN, [_iface("oifname", device), _vmap("daddr", "@inbound")]),
    ]
    # An address not in the maps yet (a session a moment old, before the data plane has read it): with one profile
    # in the Network it is that one's; with several, refused until its Thing's is known (never unfiltered).
    only = [f"_{names[p]}" for p in names] if len(names) == 1 else []
    for field_, key, direction in (("saddr", "iifname", "out"), ("daddr", "oifname", "in")):
        unknown = [_iface(key, device), _match(_payload("ip", field_), f"@{DEVICES}", "!=")]
        if only:
            commands.append(_rule(FIREWALL_CHAIN, [*unknown, {"jump": {"target": f"{direction}{only[0]}"}}]))
        else:
            commands += [_rule(FIREWALL_CHAIN, [*unknown, *verdict]) for verdict in _refusals()]
    commands += [
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
    return commands


def profile_chains(rules: NetworkRules) -> list[str]:
    """The profile chains `domain_commands` makes for `rules` (the next application's `stale_chains`)."""
    return [f"{direction}_{index}" for index in range(len(rules.profiles)) for direction in ("in", "out")]


def _chains_owned() -> tuple[str, ...]:
    return (ISOLATION_CHAIN, FIREWALL_CHAIN, FORWARDS_CHAIN)


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


def _domain_verdict(action: str) -> list[Json]:
    return [{"return": None}] if action == "allow" else [{"reject": {"type": "icmp", "expr": "admin-prohibited"}}]


def _domain_filter(rule: Rule, direction: str) -> list[Json]:
    """`_filter`'s matches with the domain's verdicts: allow returns; deny resets TCP and refuses the rest."""
    expr = _filter(rule, direction)[:-1]
    if rule.action == "allow":
        return [*expr, {"return": None}]
    if rule.protocol == "tcp":
        return [*expr, {"reject": {"type": "tcp reset"}}]
    return [*expr, {"reject": {"type": "icmp", "expr": "admin-prohibited"}}]
