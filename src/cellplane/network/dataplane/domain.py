"""One routing domain: a network namespace where a network's device packets meet nftables and an uplink to the host.

    namespace cellplane-<instance>-<domain>
      gtp0     TUN; the gateway writes the domain's uplink packets into it and reads downlink ones from it
               (network/gateway/sgi.py); every pool of the domain is routed to it
      uplink0  veth to the host, <link>.2/30; its host end cellplane-xxxxx holds <link>.1/30
      nftables table ip cellplane: forward policy (replies to the devices' own flows, device isolation, a firewall
               chain of the network's own), masquerade out of uplink0, DNAT port forwards in from it

The domain's rules are built here and applied as one nft transaction each time (set_isolation, apply_firewall,
set_port_forwards replace their chain whole), so a device never sees half a ruleset.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
from dataclasses import dataclass
from typing import Any

from . import names, nft
from .netlink import IPRoute, NetNS, netns
from .tun import open_tun

log = logging.getLogger("cellplane.dataplane")

TABLE = "cellplane"
TUN = "gtp0"
UPLINK = "uplink0"
FAMILY = "ip"
SYNTHETIC_TRAFFIC = "198.51.100.0/24"


@dataclass(frozen=True, slots=True)
class PortForward:
    """Traffic to the uplink's namespace address on `public_port` goes to `device_address:device_port`."""

    protocol: str  # "tcp" or "udp"
    public_port: int
    device_address: str
    device_port: int


@dataclass(frozen=True, slots=True)
class Link:
    """The /30 of one uplink: the host end's address and the namespace end's."""

    host: str
    inside: str
    prefixlen: int = 30

    @classmethod
    def of(cls, subnet: str, index: int) -> Link:
        network = ipaddress.IPv4Network(subnet)
        base = int(network.network_address) + 4 * index
        if base + 3 > int(network.broadcast_address):
            raise ValueError(f"link subnet {subnet} has no room for a domain number {index}")
        return cls(str(ipaddress.IPv4Address(base + 1)), str(ipaddress.IPv4Address(base + 2)))


class RoutingDomain:
    """A namespace with a TUN, an uplink and nftables; `tun_fd` is the gateway's end of its packets."""

    def __init__(
        self,
        instance: str,
        name: str,
        link: Link,
        pools: tuple[str, ...],
        *,
        internet: bool = False,
        isolation: bool = True,
    ) -> None:
        self.instance = instance
        self.name = name
        self.namespace = names.netns_name(instance, name)
        self.link = link
        self.pools = list(pools)
        self.internet = internet
        self.isolation = isolation
        self.host_link = names.link_name()
        self.tun_fd: int | None = None
        self.forwards: list[PortForward] = []
        self.link_index = 0  # which /30 of the link subnet (the data plane hands them out)

    # --- life ---------------------------------------------------------------------------------------------------

    async def create(self) -> None:
        """Make the namespace, TUN, uplink, routes and base ruleset; on failure nothing of it is left."""
        try:
            await asyncio.to_thread(self._create_links)
            await nft.run_in(self.namespace, ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
            await nft.transaction(self.namespace, self._base_ruleset())
            # After the ruleset (it loads conntrack): a TCP segment of no known flow is invalid, never a new entry, so
            # a flow whose entry a Disconnect deleted stays ended (conntrack.py).
            await nft.run_in(self.namespace, ["sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_loose=0"])
        except BaseException:
            await self.destroy()
            raise
        log.info(
            "routing domain %s: namespace %s, uplink %s (%s)", self.name, self.namespace, self.host_link, self.link
        )

    async def destroy(self) -> None:
        """Remove everything of the domain (the namespace takes its links, addresses, routes and nftables along)."""
        if self.tun_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.tun_fd)
            self.tun_fd = None
        await asyncio.to_thread(self._remove_links)

    def _create_links(self) -> None:
        netns.create(self.namespace)
        alias = f"{self.namespace}-uplink"
        tun_name = names.link_name()
        with IPRoute() as ip:
            ip.link("add", ifname=self.host_link, kind="veth", peer={"ifname": UPLINK, "net_ns_fd": self.namespace})
            host = ip.link_lookup(ifname=self.host_link)[0]
            ip.link("set", index=host, IFLA_IFALIAS=alias)
            ip.addr("add", index=host, address=self.link.host, prefixlen=self.link.prefixlen)
            ip.link("set", index=host, state="up")
            self.tun_fd = open_tun(tun_name)
            tun = ip.link_lookup(ifname=tun_name)[0]
            ip.link("set", index=tun, IFLA_IFALIAS=f"{self.namespace}-tun")
            ip.link("set", index=tun, net_ns_fd=self.namespace)
        with NetNS(self.namespace) as ns:
            ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up")
            tun = ns.link_lookup(ifname=tun_name)[0]
            ns.link("set", index=tun, ifname=TUN)
            ns.link("set", index=tun, state="up")
            uplink = ns.link_lookup(ifname=UPLINK)[0]
            ns.addr("add", index=uplink, address=self.link.inside, prefixlen=self.link.prefixlen)
            ns.link("set", index=uplink, state="up")
            for pool in self.pools:
                ns.route("add", dst=pool, oif=tun)
            # The emulator's synthetic traffic goes to TEST-NET-2 (RFC 5737); it ends here silently, as before the
            # data plane, rather than earning its sender an ICMP error (which would be downlink usage).
            ns.route("add", dst=SYNTHETIC_TRAFFIC, type="blackhole")
            if self.internet:
                ns.route("add", dst="0.0.0.0/0", gateway=self.link.host)

    def _remove_links(self) -> None:
        with contextlib.suppress(Exception), IPRoute() as ip:
            for index in ip.link_lookup(ifname=self.host_link):
                ip.link("del", index=index)
        with contextlib.suppress(Exception):
            netns.remove(self.namespace)

    # --- routes -------------------------------------------------------------------------------------------------

    async def add_pool(self, pool: str) -> None:
        """Route another device pool of the domain to its TUN."""
        await asyncio.to_thread(self._route, "add", pool, None, True)
        self.pools.append(pool)

    async def add_route(self, destination: str, via: str) -> None:
        """A route in the domain (a VPN's far side, say) through `via`, a neighbour of the uplink."""
        await asyncio.to_thread(self._route, "add", destination, via, False)

    async def add_device_route(self, destination: str, device: str) -> None:
        """A route in the domain into one of its own devices (a VPN tunnel's `ipsec0`, say)."""

        def add() -> None:
            with NetNS(self.namespace) as ns:
                ns.route("replace", dst=destination, oif=ns.link_lookup(ifname=device)[0])

        await asyncio.to_thread(add)

    async def set_local_address(self, address: str, present: bool) -> None:
        """Add (or remove) `address`/32 on the domain's `lo`: an address of the domain itself."""

        def change() -> None:
            with NetNS(self.namespace) as ns:
                lo = ns.link_lookup(ifname="lo")[0]
                with contextlib.suppress(Exception):
                    ns.addr("add" if present else "del", index=lo, address=address, prefixlen=32)

        await asyncio.to_thread(change)

    async def forward_on_host(self, on: bool) -> None:
        """Whether the host forwards what arrives from this domain's uplink (IPv4 forwarding is decided per inbound
        link: only this domain's host end is changed, never the host's own setting). A VPN tunnel's IKE and ESP to
        the customer's site need it when the site is reached through the host."""
        path = f"/proc/sys/net/ipv4/conf/{self.host_link}/forwarding"

        def write() -> None:
            with open(path, "w") as flag:
                flag.write("1" if on else "0")

        await asyncio.to_thread(write)

    async def delete_route(self, destination: str) -> None:
        await asyncio.to_thread(self._route, "del", destination, None, False)

    def _route(self, command: str, destination: str, via: str | None, to_tun: bool) -> None:
        with NetNS(self.namespace) as ns:
            if to_tun:
                ns.route(command, dst=destination, oif=ns.link_lookup(ifname=TUN)[0])
            elif via is not None:
                ns.route(command, dst=destination, gateway=via)
            else:
                ns.route(command, dst=destination)

    # --- policy -------------------------------------------------------------------------------------------------

    async def set_isolation(self, isolated: bool) -> None:
        """Whether two devices of the domain may reach each other (false: they may)."""
        await nft.transaction(self.namespace, self._chain("isolation", self._isolation_rules(isolated)))
        self.isolation = isolated

    async def apply_firewall(self, rules: list[list[nft.Command]], sets: list[dict[str, Any]] | None = None) -> None:
        """Replace the domain's own firewall chain with `rules` (each a list of nft JSON expressions, e.g. a match on
        a set of device addresses and a verdict), after declaring `sets` (nft JSON set or map bodies, family and
        table filled in), in one transaction. The chain runs on forwarded packets that are not replies."""
        commands: list[nft.Command] = []
        for body in sets or []:
            declared = {"family": FAMILY, "table": TABLE, **body}
            commands += [
                {"add": {"set": declared}},
                {"flush": {"set": {k: declared[k] for k in ("family", "table", "name")}}},
            ]
            if "elem" in body:
                commands.append(
                    {"add": {"element": {"family": FAMILY, "table": TABLE, "name": body["name"], "elem": body["elem"]}}}
                )
        await nft.transaction(self.namespace, commands + self._chain("firewall", rules))

    async def set_port_forwards(self, forwards: list[PortForward]) -> None:
        """Replace the domain's DNAT port forwards: connections to the uplink's namespace address on a public port
        go to a device (a host-side public address is DNATed to that address by the caller)."""
        rules = [
            [
                nft.match(nft.meta("iifname"), UPLINK),
                nft.match(nft.payload(f.protocol, "dport"), f.public_port),
                {"dnat": {"addr": f.device_address, "port": f.device_port}},
            ]
            for f in forwards
        ]
        await nft.transaction(self.namespace, self._chain("forwards", rules))
        self.forwards = list(forwards)

    def _chain(self, chain: str, rules: list[list[nft.Command]]) -> list[nft.Command]:
        flush = {"flush": {"chain": {"family": FAMILY, "table": TABLE, "name": chain}}}
        return [flush, *(nft.rule(FAMILY, TABLE, chain, *expr) for expr in rules)]

    def _isolation_rules(self, isolated: bool) -> list[list[nft.Command]]:
        if not isolated:
            return []
        between = [nft.match(nft.meta("iifname"), TUN), nft.match(nft.meta("oifname"), TUN)]
        return [
            [*between, nft.match(nft.meta("l4proto"), "tcp"), {"reject": {"type": "tcp reset"}}],
            [*between, {"reject": {"type": "icmp", "expr": "admin-prohibited"}}],
        ]

    def _base_ruleset(self) -> list[nft.Command]:
        """The table, whole: replies pass, devices go out through the uplink (masqueraded), nothing comes in that
        does not answer them or a port forward; refusals are answered (TCP reset, ICMP prohibited), not silent."""
        table = {"family": FAMILY, "name": TABLE}

        def chain(name: str, **hook: Any) -> nft.Command:
            return {"add": {"chain": {"family": FAMILY, "table": TABLE, "name": name, **hook}}}

        def add(name: str, *expr: nft.Command) -> nft.Command:
            return nft.rule(FAMILY, TABLE, name, *expr)

        accept, drop = {"accept": None}, {"drop": None}
        refuse = [
            add("forward", nft.match(nft.meta("l4proto"), "tcp"), {"reject": {"type": "tcp reset"}}),
            add("forward", {"reject": {"type": "icmp", "expr": "admin-prohibited"}}),
        ]
        return [
            {"add": {"table": table}},
            {"delete": {"table": table}},  # a rerun starts from nothing: still one transaction
            {"add": {"table": table}},
            chain("forward", type="filter", hook="forward", prio=0, policy="drop"),
            chain("input", type="filter", hook="input", prio=0, policy="drop"),
            chain("prerouting", type="nat", hook="prerouting", prio=-100, policy="accept"),
            chain("postrouting", type="nat", hook="postrouting", prio=100, policy="accept"),
            chain("isolation"),
            chain("firewall"),
            chain("forwards"),
            add("forward", nft.ct_state("established", "related"), accept),
            add("forward", nft.ct_state("invalid"), drop),
            add("forward", {"jump": {"target": "isolation"}}),
            add("forward", {"jump": {"target": "firewall"}}),
            add("forward", nft.match(nft.meta("iifname"), TUN), accept),
            add("forward", nft.match({"ct": {"key": "status"}}, "dnat", "in"), accept),
            *refuse,
            add("input", nft.ct_state("established", "related"), accept),
            add("input", nft.match(nft.meta("iifname"), "lo"), accept),
            add("input", nft.match(nft.meta("l4proto"), "icmp"), accept),
            # IKE and UDP-encapsulated ESP for the domain's VPN tunnels (charon, network/things_vpn.py): a site may
            # initiate too (after it restarts, say). Nothing else listens on those ports in a domain.
            add(
                "input",
                nft.match(nft.meta("iifname"), UPLINK),
                nft.match(nft.payload("udp", "dport"), {"set": [500, 4500]}),
                accept,
            ),
            add("prerouting", {"jump": {"target": "forwards"}}),
            add("postrouting", nft.match(nft.meta("oifname"), UPLINK), {"masquerade": None}),
            *(add("isolation", *expr) for expr in self._isolation_rules(self.isolation)),
        ]
