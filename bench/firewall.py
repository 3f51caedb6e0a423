"""Things firewall benchmark (issue 17): an IP Profile of 1,000 rules applied to 10,000 Things of one Network.

1. `cellplane up` with the data plane on; an account with a Network (pool /16), a group and its IP Profile; 10,000
   Things provisioned, each moved into the group with a locked address (so all 10,000 are in the Network's verdict
   maps), one of them attached with `cellplane device shell`.
2. Throughput with the empty profile: iperf3 TCP from the device shell to the host end of the Network's uplink.
3. PATCH the profile with 1,000 rules (deny TCP to 1,000 remote /32s of TEST-NET-3 on port 9; none matches the
   iperf3 flow, so every new packet walks all of them). "PATCH → in force": from sending the PATCH until `nft` in the
   domain's namespace lists all 1,000 rules in the profile's chain (polled every 10 ms); the PATCH's own answer time
   beside it.
4. Throughput again with that profile, same run. TCP of an established connection passes before the firewall
   (conntrack); the profile is walked by each new connection's first packet, so connections per second are measured
   too (curl to the host, one connection each, for a few seconds).

    .venv/bin/python bench/firewall.py [--things 10000] [--rules 1000] [--seconds 10] [--no-record]   # as root
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import platform as host
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

from dataplane import CLI, Runner, machine, platform, tcp  # noqa: E402

SECTION = "## Things firewall (bench/firewall.py)"
POOL = "10.40.0.0/16"


def provision(base: str, env: dict[str, str], things: int) -> tuple[httpx.Client, list[dict[str, Any]], str, str]:
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
    print(f"{things} Things moved into the group with locked addresses in {time.monotonic() - started:.0f} s")
    return client, provisioned, network["id"], profile["id"]


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


def chain_rules(namespace: str, chain: str) -> int:
    done = subprocess.run(
        ["nsenter", f"--net=/run/netns/{namespace}", "--", "nft", "-j", "list", "chain", "ip", "cellplane", chain],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        return 0
    return sum(1 for item in json.loads(done.stdout)["nftables"] if "rule" in item)


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
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/firewall.py needs root (namespaces, TUN, nftables): run bench/setup.sh, then as root")
    with tempfile.TemporaryDirectory() as work, platform(Path(work)) as (base, env, _):
        client, things, network_id, profile_id = provision(base, env, args.things)
        for _ in range(200):
            if client.get(f"/things/{things[0]['sid']}").json()["state"] == "ACTIVE":
                break
            time.sleep(0.1)
        time.sleep(1.5)  # the AAA's policy cache learns of the Thing within about a second
        run = device_shell(base, env, things[0]["iccid"])
        first = run(["true"])  # the first attach makes the Network's domain
        assert first.returncode == 0, first.stdout + first.stderr
        domain = httpx.get(f"{base}/healthz").json()["data_plane"]["domains"][network_id]
        namespace, address = domain["namespace"], domain["host_address"]
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", "8000", "--bind", address],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.5)
            url = f"http://{address}:8000/"
            empty = {"tcp": tcp(run, address, args.seconds), "cps": connections_per_second(run, url, 5)}
            body = {"outbound": rules(args.rules)}
            sent = time.monotonic()
            answer = client.patch(f"/ipProfiles/{profile_id}", json=body)
            answered = time.monotonic() - sent
            assert answer.status_code == 200, answer.text
            while chain_rules(namespace, "out_0") < args.rules + 1:
                if time.monotonic() - sent > 60:
                    raise RuntimeError("the rules were not in force within 60 s")
                time.sleep(0.01)
            in_force = time.monotonic() - sent
            full = {"tcp": tcp(run, address, args.seconds), "cps": connections_per_second(run, url, 5)}
        finally:
            server.terminate()
    block = report(args, empty, full, answered, in_force)
    print("\n" + block)
    if not args.no_record:
        record(block)


def report(args: Any, empty: dict[str, float], full: dict[str, float], answered: float, in_force: float) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    ratio = full["tcp"] / empty["tcp"] if empty["tcp"] else 0.0
    return "\n".join(
        [
            f"Run {when} on {machine()} ({host.python_implementation()} {host.python_version()}); "
            f"{args.things:,} Things in the Network's maps, a profile of {args.rules:,} rules.",
            "",
            f"| measure | empty profile | {args.rules:,}-rule profile |",
            "|---|---|---|",
            f"| iperf3 TCP, {args.seconds} s (Mbit/s) | {empty['tcp'] / 1e6:.0f} | {full['tcp'] / 1e6:.0f} "
            f"({ratio:.0%}) |",
            f"| new connections/s (curl, 5 s) | {empty['cps']:.0f} | {full['cps']:.0f} |",
            "",
            f"PATCH → rules in force: **{in_force * 1000:.0f} ms** (the PATCH answered in {answered * 1000:.0f} ms; "
            "in force = `nft` in the domain's namespace lists every rule of the profile's chain, polled every 10 ms).",
        ]
    )


def record(block: str) -> None:
    path = HERE / "RESULTS.md"
    begin, end = "<!-- firewall:begin -->", "<!-- firewall:end -->"
    text = path.read_text()
    generated = f"{begin}\n{block}\n{end}"
    if begin in text and end in text:
        head, _, rest = text.partition(begin)
        text = head + generated + rest.partition(end)[2]
    else:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n\n{METHOD}\n\n{generated}\n"
    path.write_text(text)


METHOD = (
    "Method: `bench/firewall.py` (as root; its docstring has the steps). One `cellplane up` (SQLite), one Network "
    "whose group holds every Thing with a locked address, so the verdict maps hold all of them; the profile's rules "
    "deny TCP to TEST-NET-3 /32s, so none matches the measured traffic and every new connection walks them all. "
    "Throughput of an established TCP flow is not the firewall's to slow (conntrack passes it first); new "
    "connections per second show the rules' cost."
)


if __name__ == "__main__":
    main()
