"""The data plane component: decides whether it can run, cleans up after crashes, owns the routing domains.

plane = DataPlane(DataPlaneConfig(...), DataPlaneMode.AUTO)
plane.enabled, plane.reason                 # known at construction: the banner and /healthz say it
plane.on_domain = gateway.add_domain        # the gateway's end of each domain's TUN
await plane.start()                         # leftovers removed, the default domain made
await plane.create_domain("HNxxxx", ["10.10.0.0/24"])   # a private network's own domain (issue 17)
await plane.stop()                          # everything removed
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

from . import names, nft
from .config import LINK_RANGE, DataPlaneConfig, DataPlaneMode, random_link_subnet
from .domain import Link, RoutingDomain
from .netlink import IPRoute

log = logging.getLogger("cellplane.dataplane")

DEFAULT_DOMAIN = "default"
CAP_NET_ADMIN = 12
HOW_TO_ENABLE = "run as root, or give the process CAP_NET_ADMIN, and install nftables; CELLPLANE_DATA_PLANE=on insists"
HOST_TABLE_FAMILY = "ip"


class DataPlaneUnavailable(RuntimeError):
    """CELLPLANE_DATA_PLANE=on, and this process cannot run it."""


def has_net_admin() -> bool:
    """Whether CAP_NET_ADMIN is in this process's effective set (root usually has it; a dropped bounding set not)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_NET_ADMIN & 1)
    except OSError:
        pass
    return False


def missing() -> str | None:
    """Why the data plane cannot run here, or None when it can."""
    if not has_net_admin():
        return "the process lacks CAP_NET_ADMIN"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun is missing"
    if not nft.nft_available():
        return "nft (nftables) or nsenter is not installed"
    if shutil.which("sysctl") is None:
        return "sysctl (procps) is not installed"
    return None


DomainHook = Callable[[RoutingDomain], None]


class DataPlane:
    """Routing domains of one platform instance; a component (start/stop)."""

    def __init__(self, config: DataPlaneConfig, mode: DataPlaneMode = DataPlaneMode.AUTO) -> None:
        self.config = config
        self.mode = mode
        self.domains: dict[str, RoutingDomain] = {}
        self.on_domain: list[DomainHook] = []
        self.on_domain_removed: list[DomainHook] = []
        self._link_subnet = config.link_subnet
        self._free_links: list[int] = []
        self._next_link = 0
        self._lock = asyncio.Lock()
        self.enabled: bool
        self.reason: str | None
        why = None if mode == DataPlaneMode.OFF else missing()
        if mode == DataPlaneMode.OFF:
            self.enabled, self.reason = False, "CELLPLANE_DATA_PLANE=off"
        elif why is not None:
            if mode == DataPlaneMode.ON:
                raise DataPlaneUnavailable(f"CELLPLANE_DATA_PLANE=on, but {why} ({HOW_TO_ENABLE})")
            self.enabled, self.reason = False, why
        else:
            self.enabled, self.reason = True, None

    @property
    def instance(self) -> str:
        return self.config.instance

    @property
    def link_subnet(self) -> str:
        return self._link_subnet

    def status(self) -> dict[str, Any]:
        """What /healthz and the banner say of the data plane."""
        if not self.enabled:
            return {"status": "off", "reason": self.reason, "how_to_enable": HOW_TO_ENABLE}
        return {
            "status": "on",
            "instance": self.instance,
            "link_subnet": self._link_subnet,
            "internet": self.config.internet,
            "domains": {
                name: {"namespace": d.namespace, "host_link": d.host_link, "host_address": d.link.host}
                for name, d in self.domains.items()
            },
        }

    # --- component ----------------------------------------------------------------------------------------------

    async def start(self) -> None:
        if not self.enabled:
            log.warning("data plane off: %s (%s)", self.reason, HOW_TO_ENABLE)
            return
        if names.owner_alive(self.instance):
            raise DataPlaneUnavailable(f"data plane instance {self.instance!r} is in use by another live process")
        names.claim(self.instance)
        try:
            await asyncio.to_thread(names.sweep, self.instance)
            self._link_subnet = await asyncio.to_thread(self._free_subnet)
            if self.config.internet:
                await self._host_masquerade(True)
            await self.create_domain(DEFAULT_DOMAIN, self.config.default_pools)
        except Exception as error:
            if self.mode == DataPlaneMode.ON:
                raise
            # auto: the platform runs as without a data plane, and says why (a container without /run/netns, ...).
            log.exception("data plane could not start; running without it")
            await self.stop()
            self.enabled, self.reason = False, f"it could not start here: {error}"

    async def stop(self) -> None:
        if not self.enabled:
            return
        for name in list(self.domains):
            await self.remove_domain(name)
        if self.config.internet:
            try:
                await self._host_masquerade(False)
            except nft.NftError as error:
                log.warning("%s", error)
        # Anything a failed step left (a half-made domain) goes too.
        await asyncio.to_thread(names.sweep, self.instance)
        names.release(self.instance)

    # --- domains ------------------------------------------------------------------------------------------------

    async def create_domain(
        self, name: str, pools: tuple[str, ...] | list[str], *, isolation: bool = True
    ) -> RoutingDomain:
        """A new routing domain `name` (letters, digits, `-`; a few characters) with device `pools` routed to it;
        the hooks (the gateway) get it once it is ready."""
        if not self.enabled:
            raise DataPlaneUnavailable(f"the data plane is off: {self.reason}")
        async with self._lock:
            if name in self.domains:
                raise ValueError(f"routing domain {name!r} exists")
            index = self._free_links.pop() if self._free_links else self._take_link()
            domain = RoutingDomain(
                self.instance,
                name,
                Link.of(self._link_subnet, index),
                tuple(pools),
                internet=self.config.internet,
                isolation=isolation,
            )
            domain.link_index = index
            try:
                await domain.create()
            except BaseException:
                self._free_links.append(index)
                raise
            self.domains[name] = domain
        for hook in self.on_domain:
            hook(domain)
        return domain

    async def remove_domain(self, name: str) -> None:
        domain = self.domains.pop(name, None)
        if domain is None:
            return
        for hook in self.on_domain_removed:
            hook(domain)
        await domain.destroy()
        self._free_links.append(domain.link_index)

    def domain(self, name: str = DEFAULT_DOMAIN) -> RoutingDomain | None:
        return self.domains.get(name)

    def _take_link(self) -> int:
        index, self._next_link = self._next_link, self._next_link + 1
        return index

    # --- host side ----------------------------------------------------------------------------------------------

    def _free_subnet(self) -> str:
        """The link subnet, checked against the host's addresses; a random one is drawn again on a clash."""
        with IPRoute() as ip:
            taken = [
                ipaddress.IPv4Interface(f"{a.get('address')}/{a['prefixlen']}").network for a in ip.get_addr(family=2)
            ]
        subnet = self._link_subnet
        for _ in range(32):
            network = ipaddress.IPv4Network(subnet)
            if not network.subnet_of(LINK_RANGE) and self.config.link_subnet_random:
                subnet = random_link_subnet()
                continue
            if not any(network.overlaps(other) for other in taken):
                return subnet
            if not self.config.link_subnet_random:
                raise DataPlaneUnavailable(f"link subnet {subnet} overlaps an address already on this host")
            subnet = random_link_subnet()
        raise DataPlaneUnavailable("no free link subnet in 198.18.0.0/15")

    async def _host_masquerade(self, on: bool) -> None:
        """With `internet`: masquerade the link subnet out of the host's own default route (a table of ours in the
        host's ruleset; forwarding needs net.ipv4.ip_forward=1, which the operator sets)."""
        table = {"family": HOST_TABLE_FAMILY, "name": f"{names.PREFIX}{self.instance}"}
        if not on:
            await _host_transaction([{"delete": {"table": table}}])
            return
        await _host_transaction(
            [
                {"add": {"table": table}},
                {
                    "add": {
                        "chain": {
                            "family": "ip",
                            "table": table["name"],
                            "name": "postrouting",
                            "type": "nat",
                            "hook": "postrouting",
                            "prio": 100,
                            "policy": "accept",
                        }
                    }
                },
                nft.rule(
                    "ip",
                    table["name"],
                    "postrouting",
                    nft.match(nft.payload("ip", "saddr"), nft.prefix(self._link_subnet)),
                    nft.match(nft.meta("oifname"), f"{names.PREFIX}*", "!="),
                    {"masquerade": None},
                ),
            ]
        )
        with open("/proc/sys/net/ipv4/ip_forward") as flag:
            if flag.read().strip() != "1":
                log.warning(
                    "CELLPLANE_DATA_PLANE_INTERNET is on but net.ipv4.ip_forward is 0: devices reach the host only"
                )


async def _host_transaction(commands: list[nft.Command]) -> None:
    document = json.dumps({"nftables": [{"metainfo": {"json_schema_version": 1}}, *commands]}).encode()
    done = await asyncio.to_thread(
        subprocess.run, ["nft", "-j", "-f", "-"], input=document, capture_output=True, timeout=30
    )
    if done.returncode != 0:
        raise nft.NftError(done.stderr.decode(errors="replace").strip())
