"""Network benchmark (issue 3), RADIUS part: Access-Requests/s and Accounting-Requests/s through the AAA, with
FreeRADIUS's radclient as the load and FreeRADIUS itself (files backend, detail accounting) as the reference.

The AAA runs inside the real platform (`cellplane up`, gateway and emulator off) on a database holding `--sims`
claimed, active SIMs in one fleet whose network access profile allows the visited network, each with its billing
period: every Access-Request goes through the full policy (claimed, status, fleet, data enabled, network access
profile, data limit, attach rate) and gets an address from the pool; every Accounting-Request is applied to the
database (data session, hourly usage, billing-period usage, connection event) and answered only once committed.
Each request names a different SIM (as many devices attaching), so nothing is served from a duplicate cache.

FreeRADIUS answers the same radclient files from a `users` file with one entry per SIM (password and
Framed-IP-Address) and writes accounting to a detail file. Servers are pinned to CPU 0 and radclient to CPU 1;
scenarios alternate between the two servers, `--repeats` times each.

    .venv/bin/python bench/network.py [--sims 20000] [--repeats 3] [--backend sqlite postgres] [--profile] [--no-record]

Results: the "Network: RADIUS" section of bench/RESULTS.md (method, machine, date, rates, ratios).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform as host
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from cellplane.store.migrate import upgrade
from network_radius import (
    HERE,
    PORTS,
    REPO,
    WORK,
    Run,
    access_file,
    accounting_file,
    database,
    hot_spots,
    load,
    populate,
    profile,
    start_cellplane,
    start_freeradius,
    wait_udp_answer,
)
from results_file import replace_generated

SECTION = "## Network: RADIUS (bench/network.py)"


# --- report ---------------------------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else 0.0


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        host.processor(),
    )
    load = os.getloadavg()
    return (
        f"{cpu}, {os.cpu_count()} CPUs, Linux {host.release()}, Python {host.python_version()}; "
        f"load average at start {load[0]:.1f}"
    )


METHOD = """Method: the platform (`cellplane up`, AAA on, gateway and emulator off) and FreeRADIUS 3 (files backend:
one `users` entry per SIM with its password and Framed-IP-Address; accounting to a detail file) run side by
side, both pinned to CPU 0; radclient, pinned to CPU 1, sends each scenario's file (one request per SIM, all
SIMs claimed, active, in a fleet allowing the visited network) with 256 requests in flight, alternating
between the two servers. Access-Requests carry the TS 29.061 attributes of docs/NETWORK.md and a
Message-Authenticator; the AAA decides each from its policy cache and leases an address. Accounting-Requests
are answered only after their group-committed transaction (session, hourly usage, billing-period usage,
connection event). "CPU/req" is the server process's user+system time over the pass divided by the requests
answered: on a shared machine it is steadier than the rate, which also depends on how much of CPU 0 the
scheduler gives each server (FreeRADIUS runs 4 worker threads, the platform one event loop and a SQLite
thread)."""


def report(runs: list[Run], args: argparse.Namespace, backend: str, spots: dict[str, list[tuple[str, float]]]) -> str:
    scenarios = ["access", "acct-start", "acct-interim", "acct-stop"]
    labels = {
        "access": "Access-Request → Accept (full policy, address)",
        "acct-start": "Accounting Start (new session)",
        "acct-interim": "Accounting Interim-Update (usage)",
        "acct-stop": "Accounting Stop (session closed)",
    }

    def of(target: str, scenario: str) -> list[Run]:
        return [r for r in runs if (r.target, r.scenario) == (target, scenario)]

    targets = {"access": 0.5, "acct-start": 1.0, "acct-interim": 1.0, "acct-stop": 1.0}
    lines = [
        f"### {backend}: run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}",
        "",
        f"{args.sims:,} SIMs, one request per SIM per pass, radclient -p {args.parallel}; median of "
        f"{args.repeats} passes (Start and Stop: one pass).",
        "",
        "| scenario | cellplane req/s | FreeRADIUS req/s | ratio | target | cellplane CPU/req | FreeRADIUS CPU/req "
        "| FreeRADIUS/cellplane CPU | lost |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in scenarios:
        mine, theirs = of("cellplane", scenario), of("freeradius", scenario)
        if not mine:
            continue
        ours, reference = median([r.rate for r in mine]), median([r.rate for r in theirs])
        our_cpu, their_cpu = median([r.cpu_us for r in mine]), median([r.cpu_us for r in theirs])
        ratio = f"{ours / reference:.2f}x" if reference else "n/a"
        ok = "" if not reference else (" met" if ours >= targets[scenario] * reference else " **missed**")
        cpu_ratio = f"{their_cpu / our_cpu:.2f}x" if our_cpu and their_cpu else "n/a"
        lines.append(
            f"| {labels[scenario]} | {ours:,.0f} | {f'{reference:,.0f}' if reference else 'not run'} | {ratio} | "
            f"≥ {targets[scenario]}x{ok} | {our_cpu:.0f} us | {f'{their_cpu:.0f} us' if their_cpu else 'n/a'} | "
            f"{cpu_ratio} | {sum(r.lost for r in mine)} |"
        )
    for scenario, found in spots.items():
        if found:
            lines += [
                "",
                f"Profile of the platform during {scenario} (py-spy --gil, share of samples by leaf function):",
            ]
            lines += [f"- {share:.1f}% {name}" for name, share in found]
    return "\n".join(lines)


def record(block: str) -> None:
    """Replace (or add) the generated part of its section of bench/RESULTS.md; prose around it stays."""
    replace_generated("<!-- radius:begin -->", "<!-- radius:end -->", block, SECTION)


# --- main ---------------------------------------------------------------------------------------------------------


def run_backend(args: argparse.Namespace, backend: str) -> tuple[list[Run], dict[str, list[tuple[str, float]]]]:
    url = database(backend)
    upgrade(url)
    asyncio.run(populate(url, args.sims))
    files = {"access": access_file(args.sims), "acct-start": accounting_file(args.sims, "Start", 0)}
    files |= {f"acct-interim-{r}": accounting_file(args.sims, "Interim-Update", r) for r in range(1, args.repeats + 1)}
    files["acct-stop"] = accounting_file(args.sims, "Stop", args.repeats + 1)

    servers = [start_cellplane(url)]
    ports = {"cellplane": PORTS["cellplane"][:2]}
    reference = None if args.no_freeradius else start_freeradius(args.sims)
    if reference is not None:
        servers.append(reference)
        ports["freeradius"] = PORTS["freeradius"]
    elif not args.no_freeradius:
        print("FreeRADIUS is not installed (apt-get install freeradius): no reference in this run", file=sys.stderr)
    runs: list[Run] = []
    spots: dict[str, list[tuple[str, float]]] = {}
    n = args.sims

    def each(scenario: str, kind: str, packets: Path) -> None:
        for name, (auth, acct) in ports.items():
            spy = None
            if args.profile and name == "cellplane":  # every pass; the last one is kept
                spy = profile(servers[0].process.pid, max(2, n / 20_000), WORK / f"profile-{scenario}.txt")
            port = auth if kind == "auth" else acct
            pid = servers[0 if name == "cellplane" else 1].process.pid
            run = load(name, scenario, port, kind, packets, n, args.parallel, pid)
            if spy is not None:
                spy.wait()
                spots[scenario] = hot_spots(WORK / f"profile-{scenario}.txt")
            runs.append(run)
            print(
                f"  {backend:8} {name:10} {scenario:13} {run.rate:9,.0f} req/s  ({run.seconds:.2f} s, "
                f"lost {run.lost}, {run.cpu_us:.0f} us CPU/request)"
            )

    try:
        for auth, _ in ports.values():
            wait_udp_answer(auth, args.sims)
        # Warm-up: the AAA's first polls look back over the freshly written world (AaaConfig.poll_overlap).
        time.sleep(8)
        each("acct-start", "acct", files["acct-start"])
        for r in range(1, args.repeats + 1):
            each("access", "auth", files["access"])
            each("acct-interim", "acct", files[f"acct-interim-{r}"])
        each("acct-stop", "acct", files["acct-stop"])
    finally:
        for server in servers:
            server.stop()
    return runs, spots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sims", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=256)
    parser.add_argument("--backend", nargs="+", choices=("sqlite", "postgres"), default=["sqlite", "postgres"])
    parser.add_argument("--no-freeradius", action="store_true")
    parser.add_argument("--profile", action="store_true", help="py-spy the platform during each pass")
    parser.add_argument("--no-record", action="store_true", help="do not rewrite bench/RESULTS.md")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    blocks = [METHOD]
    for backend in args.backend:
        runs, spots = run_backend(args, backend)
        blocks.append(report(runs, args, backend, spots))
    block = "\n\n".join(blocks)
    print("\n" + block)
    if not args.no_record:
        record(block)
        print(f"\nrecorded in {(HERE / 'RESULTS.md').relative_to(REPO)}")


if __name__ == "__main__":
    main()
