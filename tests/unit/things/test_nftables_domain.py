"""A Network's rules inside its routing domain (domain/nftables.py `domain_commands`): the data plane's base table of
a domain (network/dataplane/domain.py) with the Network's commands applied by the real `nft` in a namespace of the
test's own (`unshare -n`); a change applied as differences from what is in force ends in exactly the ruleset a
fresh application makes, and a refused document changes nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Any

import pytest

from cellplane.domain.nftables import DomainLayout, Forward, NetworkRules, Profile, domain_commands
from cellplane.domain.things_config import Rule
from cellplane.network.dataplane.domain import Link, RoutingDomain

LAYOUT = DomainLayout(device_interface="gtp0", uplink="uplink0")
NEEDS_NFT = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("unshare") is None,
    reason="needs root, nft and unshare (apt-get install nftables util-linux)",
)


def rules(profiles: dict[str, Profile], devices: dict[str, str], isolation: bool = False) -> NetworkRules:
    return NetworkRules(
        device_interface="gtp0",
        profiles=profiles,
        devices=devices,
        isolation=isolation,
        forwards=[Forward("tcp", "198.18.0.2", 8080, "10.30.0.10", 80)],
    )


def added(commands: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [c["add"][kind] for c in commands if "add" in c and kind in c["add"]]


def test_things_are_map_elements_and_a_profiles_rules_are_set_elements() -> None:
    many = {f"10.30.{i // 250}.{i % 250 + 1}": "PFweb" for i in range(1000)}
    thousand = [Rule("deny", "tcp", f"203.0.113.{i % 256}/32", str(9 + i // 256)) for i in range(1000)]
    web = Profile(outbound=thousand)
    built, _ = domain_commands(rules({"PFweb": web}, many, isolation=True), LAYOUT)
    elements = {e["name"]: e["elem"] for e in added(built, "element")}
    assert {"inbound", "outbound", "devices"} <= set(elements)
    assert all(len(elements[name]) == 1000 for name in ("inbound", "outbound", "devices"))
    assert len(elements["out_PFweb_0"]) == 1000  # the 1,000 rules: one set, none overlapping another
    rules_added = added(built, "rule")
    assert len(rules_added) < 20  # rules scale with neither Things nor a profile's rules
    assert [r["expr"][-1] for r in rules_added if r["chain"] == "out_PFweb"] == [
        {"jump": {"target": "refuse"}},
        {"return": None},
    ]


def test_a_things_arrival_changes_map_elements_only() -> None:
    web = Profile(outbound=[Rule("deny", "tcp", "0.0.0.0/0", "80")])
    _, in_force = domain_commands(rules({"PFweb": web}, {"10.30.0.10": "PFweb"}), LAYOUT)
    two = {"10.30.0.10": "PFweb", "10.30.0.11": "PFweb"}
    changes, _ = domain_commands(rules({"PFweb": web}, two), LAYOUT, in_force)
    assert changes == [
        {"add": {"element": {"family": "ip", "table": "cellplane", "name": name, "elem": elem}}}
        for name, elem in (
            ("inbound", [["10.30.0.11", {"jump": {"target": "in_PFweb"}}]]),
            ("outbound", [["10.30.0.11", {"jump": {"target": "out_PFweb"}}]]),
            ("devices", ["10.30.0.11"]),
        )
    ]
    unchanged, _ = domain_commands(rules({"PFweb": web}, {"10.30.0.10": "PFweb"}), LAYOUT, in_force)
    assert unchanged == []


def test_a_profiles_change_touches_that_profiles_changed_chain_only() -> None:
    web, closed = Profile(outbound=[Rule("deny", "tcp", "0.0.0.0/0", "80")]), Profile(default_action="deny")
    devices = {"10.30.0.10": "PFweb", "10.30.0.11": "PFclosed"}
    _, in_force = domain_commands(rules({"PFweb": web, "PFclosed": closed}, devices), LAYOUT)
    web2 = Profile(outbound=[Rule("deny", "udp", "10.0.0.0/8", "53")])
    changes, _ = domain_commands(rules({"PFweb": web2, "PFclosed": closed}, devices), LAYOUT, in_force)
    objects = [next(iter(body.values())) for c in changes for body in c.values()]
    touched = {o.get("chain", o.get("name")) for o in objects}
    assert touched == {"out_PFweb", "out_PFweb_0"}, touched  # not even its inbound chain


def listed(namespace_script_docs: dict[str, list[list[dict[str, Any]]]]) -> dict[str, Any]:
    """Apply each named sequence of documents in a fresh namespace of its own; each one's return codes and the
    ruleset after each document."""
    script = (
        "import json,subprocess,sys\n"
        "def nft(doc):\n"
        "    body=json.dumps({'nftables':[{'metainfo':{'json_schema_version':1}},*doc]}).encode()\n"
        "    return subprocess.run(['nft','-j','-f','-'],input=body,capture_output=True).returncode\n"
        "def listed():\n"
        "    return json.loads(subprocess.run(['nft','-j','list','ruleset'],capture_output=True).stdout)\n"
        "docs=json.load(sys.stdin)\n"
        "print(json.dumps([[nft(doc),listed()] for doc in docs]))\n"
    )
    out = {}
    for name, docs in namespace_script_docs.items():
        done = subprocess.run(
            ["unshare", "-n", sys.executable, "-c", script], input=json.dumps(docs).encode(), capture_output=True
        )
        assert done.returncode == 0, done.stderr
        out[name] = json.loads(done.stdout)
    return out


def normal(ruleset: dict[str, Any]) -> list[str]:
    """A listing without handles, set elements sorted: two ways to the same rules compare equal."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            cleaned = {k: clean(v) for k, v in value.items() if k != "handle" and k != "metainfo"}
            if "elem" in cleaned:
                cleaned["elem"] = sorted(cleaned["elem"], key=json.dumps)
            return cleaned
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return sorted(json.dumps(clean(item), sort_keys=True) for item in ruleset["nftables"] if "metainfo" not in item)


@NEEDS_NFT
def test_differences_applied_end_where_a_fresh_application_does_and_a_refused_one_changes_nothing() -> None:
    base = RoutingDomain("test", "PNx", Link.of("198.18.0.0/24", 0), ("10.30.0.0/24",))._base_ruleset()
    web = Profile(
        outbound=[
            Rule("deny", "tcp", "0.0.0.0/0", "80"),
            Rule("deny", "tcp", "10.0.0.0/8", "70-90"),  # inside the first: dropped
            Rule("allow", "udp", "10.1.0.0/16", "53"),
            Rule("deny", "udp", "10.0.0.0/8", "50-60"),
        ],
        inbound=[Rule("allow", "icmp")],
    )
    closed = Profile(default_action="deny")
    other = Profile(outbound=[Rule("deny", "any", "192.0.2.0/24")])
    first = rules({"PFweb": web, "PFclosed": closed}, {"10.30.0.10": "PFweb", "10.30.0.11": "PFclosed"}, True)
    second = rules(
        {"PFweb": Profile(outbound=[Rule("deny", "tcp", "0.0.0.0/0", "443")]), "PFother": other},
        {"10.30.0.10": "PFother", "10.30.0.12": "PFweb"},
    )
    one, in_force = domain_commands(first, LAYOUT)
    two, after = domain_commands(second, LAYOUT, in_force)
    fresh, _ = domain_commands(second, LAYOUT)
    bad = [
        *domain_commands(first, LAYOUT, after)[0],
        {"add": {"rule": {"family": "ip", "table": "cellplane", "chain": "no-such-chain", "expr": [{"accept": None}]}}},
    ]
    out = listed({"changed": [base, one, two, bad], "fresh": [base, fresh]})
    assert [code for code, _ in out["changed"][:3]] == [0, 0, 0] and out["fresh"][1][0] == 0, out
    chains = {o["chain"]["name"] for o in out["changed"][1][1]["nftables"] if "chain" in o}
    assert {"out_PFweb", "in_PFweb", "out_PFclosed", "in_PFclosed", "refuse"} <= chains
    assert normal(out["changed"][2][1]) == normal(out["fresh"][1][1])
    after_second = out["changed"][2][1]["nftables"]
    assert not [o for o in after_second if "rule" in o and o["rule"]["chain"] == "isolation"]
    assert not [o for o in after_second if "chain" in o and "PFclosed" in o["chain"]["name"]]
    bad_code, after_bad = out["changed"][3]
    assert bad_code != 0 and after_bad == out["changed"][2][1]
