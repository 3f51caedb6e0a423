"""A Network's rules inside its routing domain (domain/nftables.py `domain_commands`): the data plane's base table of
a domain (network/dataplane/domain.py) with the Network's commands applied by the real `nft` in a namespace of the
test's own (`unshare -n`), re-applied with other profiles (the stale chains go), and a refused document changing
nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from cellplane.domain.nftables import DomainLayout, Forward, NetworkRules, Profile, domain_commands, profile_chains
from cellplane.domain.things_config import Rule
from cellplane.network.dataplane.domain import Link, RoutingDomain

LAYOUT = DomainLayout(device_interface="gtp0", uplink="uplink0")


def rules(profiles: dict[str, Profile], devices: dict[str, str], isolation: bool = False) -> NetworkRules:
    return NetworkRules(
        device_interface="gtp0",
        profiles=profiles,
        devices=devices,
        isolation=isolation,
        forwards=[Forward("tcp", "198.18.0.2", 8080, "10.30.0.10", 80)],
    )


def test_the_commands_key_profiles_by_device_address_not_one_rule_per_thing() -> None:
    many = {f"10.30.{i // 250}.{i % 250 + 1}": "PFweb" for i in range(1000)}
    web = Profile(outbound=[Rule("deny", "tcp", "0.0.0.0/0", "80")])
    built = domain_commands(rules({"PFweb": web}, many, isolation=True), LAYOUT)
    elements = [c["add"]["element"] for c in built if "add" in c and "element" in c["add"]]
    assert {e["name"] for e in elements} == {"inbound", "outbound", "devices"}
    assert all(len(e["elem"]) == 1000 for e in elements)
    added = [c["add"]["rule"] for c in built if "add" in c and "rule" in c["add"]]
    assert len(added) < 20  # rules scale with profiles, not Things
    assert {r["chain"] for r in added} == {"isolation", "firewall", "forwards", "out_0", "in_0"}


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("unshare") is None,
    reason="needs root, nft and unshare (apt-get install nftables util-linux)",
)
def test_applied_in_a_domain_table_replaced_whole_and_a_refused_document_changes_nothing() -> None:
    domain = RoutingDomain("test", "PNx", Link.of("198.18.0.0/24", 0), ("10.30.0.0/24",))
    base = domain._base_ruleset()
    web = Profile(outbound=[Rule("deny", "tcp", "0.0.0.0/0", "80")], inbound=[Rule("allow", "icmp")])
    closed = Profile(default_action="deny")
    first = rules({"PFweb": web, "PFclosed": closed}, {"10.30.0.10": "PFweb", "10.30.0.11": "PFclosed"}, True)
    second = rules({"PFweb": web}, {"10.30.0.10": "PFweb"})
    script = (
        "import json,subprocess,sys\n"
        "def nft(doc):\n"
        "    body=json.dumps({'nftables':[{'metainfo':{'json_schema_version':1}},*doc]}).encode()\n"
        "    return subprocess.run(['nft','-j','-f','-'],input=body,capture_output=True).returncode\n"
        "def listed():\n"
        "    return subprocess.run(['nft','-j','list','ruleset'],capture_output=True).stdout.decode()\n"
        "docs=json.load(sys.stdin)\n"
        "out={'base':nft(docs['base']),'first':nft(docs['first'])}\n"
        "out['after_first']=listed()\n"
        "out['second']=nft(docs['second'])\n"
        "out['after_second']=listed()\n"
        "out['bad']=nft(docs['bad'])\n"
        "out['after_bad']=listed()\n"
        "print(json.dumps(out))\n"
    )
    bad = [
        *domain_commands(second, LAYOUT, profile_chains(second)),
        {"add": {"rule": {"family": "ip", "table": "cellplane", "chain": "no-such-chain", "expr": [{"accept": None}]}}},
    ]
    docs = {
        "base": base,
        "first": domain_commands(first, LAYOUT),
        "second": domain_commands(second, LAYOUT, profile_chains(first)),
        "bad": bad,
    }
    done = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", script], input=json.dumps(docs).encode(), capture_output=True
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert (out["base"], out["first"], out["second"]) == (0, 0, 0), out
    chains = lambda listed: {o["chain"]["name"] for o in json.loads(listed)["nftables"] if "chain" in o}  # noqa: E731
    assert {"out_0", "in_0", "out_1", "in_1"} <= chains(out["after_first"])
    # The second application has one profile: the stale pair is gone; isolation is off (its chain empty).
    assert {"out_1", "in_1"}.isdisjoint(chains(out["after_second"]))
    isolation = [
        o for o in json.loads(out["after_second"])["nftables"] if "rule" in o and o["rule"]["chain"] == "isolation"
    ]
    assert isolation == []
    assert out["bad"] != 0 and out["after_bad"] == out["after_second"]
