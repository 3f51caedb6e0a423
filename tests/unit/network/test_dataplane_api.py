"""The routing domain API the private-network surface builds on (issue 17), applied to real namespaces and nftables
(root): a second domain with the default domain's very pool, a firewall with a set keyed by device address, device
isolation off and on, DNAT port forwards, routes; each change one nft transaction, everything gone after stop()."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cellplane.network.dataplane import DataPlane, DataPlaneConfig, PortForward, nft
from cellplane.network.dataplane.netlink import NetNS, netns
from tests.support.dataplane import data_plane_unavailable

REASON = data_plane_unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


def routes_in(namespace: str) -> set[tuple[str, int]]:
    """pyroute2 runs a loop of its own: a worker thread asks it."""
    with NetNS(namespace) as ns:
        return {(r.get("dst"), r["dst_len"]) for r in ns.get_routes(family=2)}


def chain(ruleset: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [item["rule"] for item in ruleset["nftables"] if "rule" in item and item["rule"]["chain"] == name]


async def test_a_private_domain_gets_its_own_rules_and_is_removed_whole() -> None:
    plane = DataPlane(DataPlaneConfig(default_pools=("10.64.0.0/24",)))
    await plane.start()
    try:
        private = await plane.create_domain("hn1", ["10.64.0.0/24"])  # the same CIDR as the default domain
        assert private.link.host != plane.domain().link.host  # type: ignore[union-attr]
        await private.apply_firewall(
            [[nft.match(nft.payload("ip", "saddr"), "@blocked"), {"drop": None}]],
            sets=[{"name": "blocked", "type": "ipv4_addr", "elem": ["10.64.0.7", "10.64.0.9"]}],
        )
        await private.set_isolation(False)
        await private.set_port_forwards([PortForward("tcp", 8080, "10.64.0.5", 80)])
        await private.add_route("192.168.50.0/24", private.link.host)
        ruleset = await nft.ruleset(private.namespace)
        [firewall] = chain(ruleset, "firewall")
        assert firewall["expr"][0]["match"]["right"] == "@blocked"
        blocked = next(i["set"] for i in ruleset["nftables"] if "set" in i and i["set"]["name"] == "blocked")
        assert sorted(blocked["elem"]) == ["10.64.0.7", "10.64.0.9"]
        assert chain(ruleset, "isolation") == []
        [forward] = chain(ruleset, "forwards")
        assert forward["expr"][-1]["dnat"] == {"addr": "10.64.0.5", "port": 80}
        await private.set_isolation(True)
        assert len(chain(await nft.ruleset(private.namespace), "isolation")) == 2
        routes = await asyncio.to_thread(routes_in, private.namespace)
        assert ("10.64.0.0", 24) in routes and ("192.168.50.0", 24) in routes
        # A bad rule is refused whole: the firewall chain keeps what it had.
        with pytest.raises(nft.NftError):
            await private.apply_firewall([[{"no-such-statement": None}]])
        assert len(chain(await nft.ruleset(private.namespace), "firewall")) == 1
        await plane.remove_domain("hn1")
        assert private.namespace not in netns.listnetns()
    finally:
        await plane.stop()
    assert not [name for name in netns.listnetns() if name.startswith(f"cellplane-{plane.instance}-")]
