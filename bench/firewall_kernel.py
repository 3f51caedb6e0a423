"""The firewall's per-packet cost in the kernel alone (issue 17), without the gateway's Python in the path: new
flows/s forwarded through a routing domain's real ruleset (network/dataplane/domain.py's base table plus a
Network's commands) with an empty profile and with 1,000 rules, for the rule layout of a git ref (before) and
of this checkout (now), in one run.

    sender ns --veth--> router ns (gtp0 ... nftables ... uplink0) --veth--> receiver ns

hping3 in the sender floods UDP from random source addresses (every packet a new conntrack flow, so every one meets
the profile: an address not in the verdict maps meets the Network's only profile) for `seconds`; the count is
what the receiver's interface gets. The three namespaces are `cellplane-<instance>-*` of an instance claimed as the
data plane claims its own, removed afterwards.

    .venv/bin/python bench/firewall_kernel.py [--before abcd2ae] [--rules 1000] [--rounds 8]   # as root
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cellplane.domain import nftables as now
from cellplane.domain.nftables import DomainLayout, NetworkRules, Profile
from cellplane.domain.things_config import Rule
from cellplane.network.dataplane import names
from cellplane.network.dataplane.config import new_instance
from cellplane.network.dataplane.domain import Link, RoutingDomain

REPO = Path(__file__).resolve().parent.parent
LAYOUT = DomainLayout(device_interface="gtp0", uplink="uplink0")
PROFILE = "PFbench"
THINGS = 10_000

Build = Callable[[NetworkRules], list[dict[str, Any]]]


def rules(count: int) -> list[Rule]:
    """Deny TCP to TEST-NET-3 /32s on ports 9-12: nothing the flood sends matches (bench/firewall.py's profile)."""
    return [Rule("deny", "tcp", f"203.0.113.{i % 256}/32", str(9 + i // 256)) for i in range(count)]


def network(count: int) -> NetworkRules:
    devices = {f"10.40.{1 + i // 250}.{i % 250 + 1}": PROFILE for i in range(THINGS)}
    return NetworkRules(
        device_interface="gtp0", profiles={PROFILE: Profile(outbound=rules(count))}, devices=devices, isolation=True
    )


def before(ref: str) -> Build:
    """domain_commands as `ref` had it: a whole rebuild each time (its own stale chains passed)."""
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{ref}:src/cellplane/domain/nftables.py"], capture_output=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "nftables_before.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("nftables_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    if hasattr(module, "InForce"):
        raise SystemExit(f"{ref} already has the set layout: pass --before a ref from before it")
    stale: list[str] = []

    def build(rules_: NetworkRules) -> list[dict[str, Any]]:
        commands: list[dict[str, Any]] = module.domain_commands(rules_, LAYOUT, list(stale))
        stale[:] = module.profile_chains(rules_)
        return commands

    return build


def current() -> Build:
    in_force: list[Any] = [None]

    def build(rules_: NetworkRules) -> list[dict[str, Any]]:
        commands, in_force[0] = now.domain_commands(rules_, LAYOUT, in_force[0])
        return commands

    return build


def sh(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout


@contextmanager
def topology() -> Iterator[dict[str, str]]:
    # Named and claimed like the data plane's own (names.py): other platforms on the host sweep unclaimed ones.
    instance = new_instance()
    names.claim(instance)
    ns = {"sender": names.netns_name(instance, "s"), "router": names.netns_name(instance, "r")}
    ns["receiver"] = names.netns_name(instance, "x")
    try:
        for name in ns.values():
            sh("ip", "netns", "add", name)
            sh("ip", "-n", name, "link", "set", "lo", "up")
        sh(
            "ip",
            "-n",
            ns["sender"],
            "link",
            "add",
            "cellplane-s0",
            "type",
            "veth",
            "peer",
            "gtp0",
            "netns",
            ns["router"],
        )
        sh(
            "ip",
            "-n",
            ns["router"],
            "link",
            "add",
            "uplink0",
            "type",
            "veth",
            "peer",
            "cellplane-x0",
            "netns",
            ns["receiver"],
        )
        for name, link, address in (
            (ns["sender"], "cellplane-s0", "10.40.0.1/16"),
            (ns["router"], "gtp0", "10.40.255.254/16"),
            (ns["router"], "uplink0", "198.18.255.2/30"),
            (ns["receiver"], "cellplane-x0", "198.18.255.1/30"),
        ):
            sh("ip", "-n", name, "addr", "add", address, "dev", link)
            sh("ip", "-n", name, "link", "set", link, "up")
        sh("ip", "-n", ns["sender"], "route", "add", "default", "via", "10.40.255.254")
        for setting in ("net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.gtp0.rp_filter=0"):
            sh("ip", "netns", "exec", ns["router"], "sysctl", "-qw", setting)
        yield ns
    finally:
        for name in ns.values():
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        names.release(instance)


def nft(namespace: str, commands: list[dict[str, Any]]) -> None:
    document = json.dumps({"nftables": [{"metainfo": {"json_schema_version": 1}}, *commands]}).encode()
    done = subprocess.run(
        ["ip", "netns", "exec", namespace, "nft", "-j", "-f", "-"], input=document, capture_output=True
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode())


def received(namespace: str) -> int:
    [link] = json.loads(sh("ip", "-n", namespace, "-j", "-s", "link", "show", "cellplane-x0"))
    return int(link["stats64"]["rx"]["packets"])


def flows_per_second(ns: dict[str, str], seconds: float) -> float:
    subprocess.run(["ip", "netns", "exec", ns["router"], "conntrack", "-F"], capture_output=True)
    start, started = received(ns["receiver"]), time.monotonic()
    flood = ["hping3", "--udp", "--flood", "-q", "--rand-source", "-p", "9", "-d", "16", "198.18.255.1"]
    subprocess.run(
        ["ip", "netns", "exec", ns["sender"], "timeout", "-s", "INT", str(seconds), *flood], capture_output=True
    )
    elapsed = time.monotonic() - started
    time.sleep(0.2)
    return (received(ns["receiver"]) - start) / elapsed


def measure(ref: str, count: int, rounds: int, seconds: float) -> dict[str, dict[str, list[float]]]:
    """{layout: {"empty"|"full": [flows/s per round]}}, rounds interleaving every layout and profile."""
    makers: dict[str, Callable[[], Build]] = {f"before ({ref})": lambda: before(ref), "now": current}
    results: dict[str, dict[str, list[float]]] = {name: {"empty": [], "full": []} for name in makers}
    empty, full = network(0), network(count)
    with topology() as ns:
        for _ in range(rounds):
            for name, make in makers.items():
                build = make()  # each layout starts from the data plane's fresh base table
                base = RoutingDomain("bench", "PNbench", Link.of("198.18.255.0/30", 0), ("10.40.0.0/16",))
                nft(ns["router"], base._base_ruleset())
                for kind, network_rules in (("empty", empty), ("full", full)):
                    nft(ns["router"], build(network_rules))
                    results[name][kind].append(flows_per_second(ns, seconds))
                    print(name, kind, f"{results[name][kind][-1]:.0f} flows/s", flush=True)
    return results


def breakdown(ref: str, count: int) -> list[str]:
    """Where a profile PATCH's time goes between the stored rules and the kernel, for each layout: building the
    commands (the rules parsed into sets included) and `nft -j -f` applying them, for the PATCH that takes the
    Network's profile from empty to `count` rules with 10,000 addresses in the maps."""
    lines = ["| rule layout | commands built (ms) | nft -j -f applied (ms) | commands | set elements and rules |"]
    lines.append("|---|---|---|---|---|")
    empty, full = network(0), network(count)
    with topology() as ns:
        for name, make in ((f"before ({ref})", lambda: before(ref)), ("now", current)):
            build = make()
            base = RoutingDomain("bench", "PNbench", Link.of("198.18.255.0/30", 0), ("10.40.0.0/16",))
            nft(ns["router"], base._base_ruleset())
            nft(ns["router"], build(empty))
            started = time.perf_counter()
            commands = build(reread(full))
            built = time.perf_counter() - started
            started = time.perf_counter()
            nft(ns["router"], commands)
            applied = time.perf_counter() - started
            size = sum(len(c["add"]["element"]["elem"]) for c in commands if "element" in c.get("add", {}))
            size += sum(1 for c in commands if "rule" in c.get("add", {}))
            lines.append(f"| {name} | {built * 1000:.0f} | {applied * 1000:.0f} | {len(commands)} | {size:,} |")
    return lines


def reread(rules_: NetworkRules) -> NetworkRules:
    """A copy with fresh rule objects, as a re-read from the store gives (nothing cached by identity)."""
    return NetworkRules(
        device_interface=rules_.device_interface,
        profiles={
            k: Profile(list(p.inbound), [Rule(**vars(r)) for r in p.outbound]) for k, p in rules_.profiles.items()
        },
        devices=dict(rules_.devices),
        isolation=rules_.isolation,
    )


def paired_ratio(empty: list[float], full: list[float]) -> float:
    """The median of each round's full/empty: a round's two measures are seconds apart, so the machine's drift
    (five sessions share its two cores) cancels in each ratio better than between medians of separate runs."""
    return statistics.median(f / e for e, f in zip(empty, full, strict=True) if e) if empty else 0.0


def report(results: dict[str, dict[str, list[float]]], count: int, seconds: float) -> list[str]:
    lines = [
        f"| rule layout (kernel only) | empty profile (new flows/s, median) | {count:,}-rule profile "
        "| ratio (median of rounds' full/empty) "
        "| each round (empty / full) |",
        "|---|---|---|---|---|",
    ]
    for name, kinds in results.items():
        empty, full = statistics.median(kinds["empty"]), statistics.median(kinds["full"])
        each = ", ".join(f"{v:.0f}" for v in kinds["empty"]) + " / " + ", ".join(f"{v:.0f}" for v in kinds["full"])
        ratio = paired_ratio(kinds["empty"], kinds["full"])
        lines.append(f"| {name} | {empty:.0f} | {full:.0f} | **{ratio:.0%}** | {each} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default="abcd2ae", help="git ref before the set layout (issue 17 base)")
    parser.add_argument("--rules", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/firewall_kernel.py needs root (namespaces, nftables)")
    print("\n".join(breakdown(args.before, args.rules)))
    print("\n".join(report(measure(args.before, args.rules, args.rounds, args.seconds), args.rules, args.seconds)))


if __name__ == "__main__":
    main()
