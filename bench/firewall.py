"""Things firewall benchmark (issue 17): an IP Profile of 1,000 rules applied to 10,000 Things of one Network.

1. `cellplane up` with the data plane on; an account with a Network (pool /16), a group and its IP Profile; 10,000
   Things provisioned, each moved into the group with a locked address (so all 10,000 are in the Network's verdict
   maps), one of them attached with `cellplane device shell`.
   The time these 10,000 PATCHes take is reported (each one re-applies its Thing's Network).
2. Rounds, alternating the empty profile and one of 1,000 rules (deny TCP to 1,000 remote /32s of TEST-NET-3 on
   ports 9-12; none matches the measured traffic, so a rule walk would see all of them), each measured with the same
   tools (a loaded, shared machine drifts: alternating spreads the drift over both):
   - iperf3 TCP from the device shell to the host end of the Network's uplink (an established connection passes
     before the firewall, conntrack);
   - new flows/s: hping3 floods UDP from the device shell with a new source port per packet, so every packet is a
     new conntrack flow that meets the profile; the count is what the host end of the uplink receives;
   - new connections/s: curl to the host, one connection each (process start-up dominates).
3. "PATCH → in force": from sending the PATCH with 1,000 rules until `nft` in the domain's namespace shows all of
   them (the elements of the profile chain's sets, or for the layout before issue 17's sets the rules of chain
   `out_0`), polled every 10 ms; the PATCH's own answer time beside it.

    .venv/bin/python bench/firewall.py [--things 10000] [--rules 1000] [--seconds 10] [--rounds 3] [--no-record]
    # as root, after bench/setup.sh (hping3, conntrack); also runs bench/firewall_kernel.py (--kernel-rounds 8)
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import platform as host
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import firewall_kernel  # noqa: E402
from dataplane import CLI, Runner, machine, platform, tcp  # noqa: E402
from results_file import replace_generated  # noqa: E402

SECTION = "## Things firewall (bench/firewall.py)"
POOL = "10.40.0.0/16"


def provision(
    base: str, env: dict[str, str], things: int
) -> tuple[httpx.Client, list[dict[str, Any]], str, str, float]:
    admin = ("admin", env["CELLPLANE_ADMIN_TOKEN"])
    account = httpx.post(f"{base}/admin/v1/Accounts", data={"FriendlyName": "firewall"}, auth=admin).json()
    client = httpx.Client(
        base_url=f"{base}/things/v1", auth=(account["account_sid"], account["auth_token"]), timeout=120
    )
    data = {"Count": str(things), "Product": "things", "AccountSid": account["account_sid"]}
    answer = httpx.post(f"{base}/admin/v1/Sims", data=data, auth=admin, timeout=600)
    answer.raise_for_status()
    provisioned: list[dict[str, Any]] = answer.json()["sims"]
    network = client.post("/networks", json={"name": "bench"}).json()
    assert client.post(f"/networks/{network['id']}/ipPools", json={"cidr": POOL}).status_code == 201
    profile = client.post("/ipProfiles", json={"name": "bench"}).json()
    group = client.post(
        "/thingsGroups", json={"name": "bench", "networkId": network["id"], "ipProfileId": profile["id"]}
    ).json()
    hosts = ipaddress.IPv4Network(POOL).hosts()

    async def move_all() -> None:
        async with httpx.AsyncClient(base_url=str(client.base_url), auth=client.auth, timeout=120) as api:
            gate = asyncio.Semaphore(8)

            async def move(thing: dict[str, Any], address: str, state: str | None) -> None:
                body: dict[str, Any] = {"thingsGroupId": group["id"], "lockedIp": address}
                if state:
                    body["state"] = state
                async with gate:
                    answer = await api.patch(f"/things/{thing['sid']}", json=body)
                    assert answer.status_code in (200, 202), answer.text

            await asyncio.gather(
                *(move(t, str(next(hosts)), "ACTIVE" if i == 0 else None) for i, t in enumerate(provisioned))
            )

    started = time.monotonic()
    asyncio.run(move_all())
    moved = time.monotonic() - started
    print(f"{things} Things moved into the group with locked addresses in {moved:.0f} s")
    return client, provisioned, network["id"], profile["id"], moved


def device_shell(base: str, env: dict[str, str], iccid: str) -> Runner:
    """A Thing's device shell on a network of the Netherlands (Things attach in NL, BE, LU)."""

    def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
        command = [*CLI, "device", "shell", "--iccid", iccid, "--network", "204-08", "--platform", base, "--", *argv]
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        done.stdout = done.stdout.split("\n", 1)[1] if done.stdout.startswith("device ") else done.stdout
        return done

    return run


def rules(count: int) -> list[dict[str, Any]]:
    test_net = ipaddress.IPv4Network("203.0.113.0/24")
    return [
        {"action": "deny", "protocol": "tcp", "remoteCidr": f"{test_net[i % 256]}/32", "remotePorts": str(9 + i // 256)}
        for i in range(count)
    ]


def nft_list(namespace: str, *what: str) -> list[dict[str, Any]] | None:
    done = subprocess.run(
        ["nsenter", f"--net=/run/netns/{namespace}", "--", "nft", "-j", "list", *what], capture_output=True, text=True
    )
    return json.loads(done.stdout)["nftables"] if done.returncode == 0 else None


def rules_in_force(namespace: str, profile_id: str) -> int:
    """How many of the profile's outbound rules the domain holds: its chain's set elements (issue 17's sets), or the
    rules of chain `out_0` less its default (the layout before them)."""
    chain = nft_list(namespace, "chain", "ip", "cellplane", f"out_{profile_id}")
    if chain is not None:
        names = {
            e["match"]["right"][1:]
            for item in chain
            if "rule" in item
            for e in item["rule"]["expr"]
            if "match" in e and str(e["match"]["right"]).startswith("@")
        }
        total = 0
        for name in names:
            listed = nft_list(namespace, "set", "ip", "cellplane", name) or []
            total += sum(len(item["set"].get("elem", [])) for item in listed if "set" in item)
        return total
    old = nft_list(namespace, "chain", "ip", "cellplane", "out_0")
    return max(0, sum(1 for item in old or [] if "rule" in item) - 1)


def new_flows_per_second(run: Any, address: str, host_link: str, seconds: int) -> float:
    """UDP packets to the host's discard port, each from a new source port (a new flow), as fast as hping3 sends;
    received at the host end of the uplink per second."""
    counter = Path(f"/sys/class/net/{host_link}/statistics/rx_packets")
    before = int(counter.read_text())
    started = time.monotonic()
    run(["timeout", "-s", "INT", str(seconds), "hping3", "--udp", "--flood", "-q", "-p", "9", "-d", "16", address])
    elapsed = time.monotonic() - started
    time.sleep(0.5)
    return (int(counter.read_text()) - before) / elapsed


def connections_per_second(run: Any, url: str, seconds: float) -> float:
    script = (
        f"end=$(( $(date +%s) + {int(seconds)} )); n=0; "
        f'while [ "$(date +%s)" -lt "$end" ]; do curl -s -o /dev/null {url} && n=$((n+1)); done; echo $n'
    )
    done = run(["sh", "-c", script])
    return int(done.stdout.strip().splitlines()[-1]) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--things", type=int, default=10_000)
    parser.add_argument("--rules", type=int, default=1_000)
    parser.add_argument("--seconds", type=int, default=10, help="iperf3 TCP duration")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of empty profile, then full profile")
    parser.add_argument("--kernel-rounds", type=int, default=8, help="rounds of bench/firewall_kernel.py")
    parser.add_argument("--before", default="abcd2ae", help="git ref whose rule layout the kernel-only rounds compare")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/firewall.py needs root (namespaces, TUN, nftables): run bench/setup.sh, then as root")
    with tempfile.TemporaryDirectory() as work, platform(Path(work)) as (base, env, _):
        client, things, network_id, profile_id, moved = provision(base, env, args.things)
        for _ in range(200):
            if client.get(f"/things/{things[0]['sid']}").json()["state"] == "ACTIVE":
                break
            time.sleep(0.1)
        time.sleep(1.5)  # the AAA's policy cache learns of the Thing within about a second
        run = device_shell(base, env, things[0]["iccid"])
        first = run(["true"])  # the first attach makes the Network's domain
        assert first.returncode == 0, first.stdout + first.stderr
        domain = httpx.get(f"{base}/healthz").json()["data_plane"]["domains"][network_id]
        namespace, address, host_link = domain["namespace"], domain["host_address"], domain["host_link"]
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", "8000", "--bind", address],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        results: dict[str, list[dict[str, float]]] = {"empty": [], "full": []}
        in_force: list[float] = []
        answered: list[float] = []
        try:
            time.sleep(0.5)
            url = f"http://{address}:8000/"

            def measure(kind: str) -> None:
                results[kind].append(
                    {
                        "tcp": tcp(run, address, args.seconds),
                        "flows": new_flows_per_second(run, address, host_link, 3),
                        "cps": connections_per_second(run, url, 5),
                    }
                )
                print(kind, results[kind][-1], flush=True)

            for round_ in range(args.rounds):
                if round_:
                    assert client.patch(f"/ipProfiles/{profile_id}", json={"outbound": []}).status_code == 200
                    while rules_in_force(namespace, profile_id) > 0:
                        time.sleep(0.01)
                    time.sleep(0.5)
                measure("empty")
                sent = time.monotonic()
                answer = client.patch(f"/ipProfiles/{profile_id}", json={"outbound": rules(args.rules)})
                answered.append(time.monotonic() - sent)
                assert answer.status_code == 200, answer.text
                while rules_in_force(namespace, profile_id) < args.rules:
                    if time.monotonic() - sent > 60:
                        raise RuntimeError("the rules were not in force within 60 s")
                    time.sleep(0.01)
                in_force.append(time.monotonic() - sent)
                print(f"PATCH → in force {in_force[-1] * 1000:.0f} ms", flush=True)
                time.sleep(0.5)
                measure("full")
        finally:
            server.terminate()
    print("kernel only: the rule layouts before and now", flush=True)
    kernel = firewall_kernel.report(
        firewall_kernel.measure(args.before, args.rules, args.kernel_rounds, 1.0), args.rules, 1.0
    )
    kernel = [*firewall_kernel.breakdown(args.before, args.rules), "", *kernel]
    block = report(args, results, answered, in_force, moved, kernel)
    print("\n" + block)
    if not args.no_record:
        record(block)


def report(
    args: Any,
    results: dict[str, list[dict[str, float]]],
    answered: list[float],
    in_force: list[float],
    moved: float,
    kernel: list[str],
) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = []
    for key, label, scale, unit in (
        ("tcp", f"iperf3 TCP, {args.seconds} s", 1e6, "Mbit/s"),
        ("flows", "new UDP flows/s (hping3, 3 s)", 1, "flows/s"),
        ("cps", "new connections/s (curl, 5 s)", 1, "conn/s"),
    ):
        empty = statistics.median(r[key] for r in results["empty"])
        full = statistics.median(r[key] for r in results["full"])
        each = (
            ", ".join(f"{r[key] / scale:.0f}" for r in results["empty"])
            + " / "
            + ", ".join(f"{r[key] / scale:.0f}" for r in results["full"])
        )
        ratio = firewall_kernel.paired_ratio([r[key] for r in results["empty"]], [r[key] for r in results["full"]])
        rows.append(f"| {label} ({unit}) | {empty / scale:.0f} | {full / scale:.0f} | **{ratio:.0%}** | {each} |")
    return "\n".join(
        [
            f"Run {when} on {machine()} ({host.python_implementation()} {host.python_version()}); "
            f"{args.things:,} Things in the Network's maps, a profile of {args.rules:,} rules, {args.rounds} rounds "
            "alternating the empty and the full profile.",
            "",
            f"| measure (median of rounds) | empty profile | {args.rules:,}-rule profile "
            "| ratio (median of rounds' full/empty) "
            "| each round (empty / full) |",
            "|---|---|---|---|---|",
            *rows,
            "",
            "PATCH → rules in force: **" + ", ".join(f"{t * 1000:.0f}" for t in in_force) + " ms** (the PATCH "
            "answered in " + ", ".join(f"{t * 1000:.0f}" for t in answered) + " ms; in force = `nft` in the domain's "
            "namespace shows every rule of the profile, polled every 10 ms).",
            "",
            f"Moving the {args.things:,} Things into the group (one PATCH each, 8 at a time): {moved:.0f} s.",
            "",
            f"Where a PATCH's time goes, and the same rules in the kernel alone (bench/firewall_kernel.py, same run: "
            f"the rule layout of `{args.before}` against this checkout's, {firewall_kernel.THINGS:,} addresses in the "
            f"maps; the commands that take the profile from empty to {args.rules:,} rules, then {args.kernel_rounds} "
            "rounds of 1 s floods of new flows):",
            "",
            *kernel,
        ]
    )


def record(block: str) -> None:
    """Replace (or add) the generated part of its section of bench/RESULTS.md; prose around it stays."""
    replace_generated("<!-- firewall:begin -->", "<!-- firewall:end -->", block, SECTION, METHOD)


METHOD = (
    "Method: `bench/firewall.py` (as root; its docstring has the steps). One `cellplane up` (SQLite), one Network "
    "whose group holds every Thing with a locked address, so the verdict maps hold all of them; the profile's rules "
    "deny TCP to TEST-NET-3 /32s, so none matches the measured traffic and every new connection walks them all. "
    "Throughput of an established TCP flow is not the firewall's to slow (conntrack passes it first); new "
    "connections per second show the rules' cost."
)


if __name__ == "__main__":
    main()
