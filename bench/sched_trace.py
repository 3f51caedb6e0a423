"""Where a data-path packet waits for a CPU (issue 16): the kernel's scheduler events during round trips.

Runs the data plane benchmark's cellplane path (bench/dataplane.py: `cellplane up`, one active Super SIM, a device
shell running the round-trip pinger against an echo thread on the uplink's host address) and, for `--trace-seconds`
in the middle of the phase, records the kernel's `sched_wakeup` and `sched_switch` events through tracefs. Then, for
each task a round trip crosses (pinger, device shell, gateway, echo thread), it reports how long the task waited for
a CPU after being woken (wake-up to switch-in), and for every wait over `--long-ms`, what ran on each CPU meanwhile:
a round trip wakes four or more tasks, and a wait behind another task is latency that no code of ours adds.

    sudo .venv/bin/python bench/sched_trace.py [--rate 10000] [--seconds 6] [--trace-seconds 2]

Needs root and tracefs (mounted at /sys/kernel/tracing for the run if it is not; every setting it changes there is
put back). Results, with the method, in the "Data plane" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import dataplane as bench  # noqa: E402

TRACING = Path("/sys/kernel/tracing")
EVENTS = ("sched/sched_wakeup", "sched/sched_switch")
_EVENT = re.compile(
    r"\s*(?P<comm>.+?)-(?P<tid>\d+)\s+\[(?P<cpu>\d+)\]\s+\S+\s+(?P<t>[\d.]+): (?P<ev>\w+): (?P<rest>.*)"
)
_FIELD = re.compile(r"(\w+)=(\S+)")


@contextlib.contextmanager
def tracefs(buffer_kb: int) -> Iterator[Path]:
    """tracefs with the two scheduler events on and tracing off, the buffer empty; everything put back after."""
    mounted = False
    if not (TRACING / "trace").exists():
        subprocess.run(["mount", "-t", "tracefs", "nodev", str(TRACING)], check=True)
        mounted = True
    before = {name: (TRACING / name).read_text().strip() for name in ("tracing_on", "buffer_size_kb")}
    enabled = {event: (TRACING / "events" / event / "enable").read_text().strip() for event in EVENTS}
    try:
        (TRACING / "tracing_on").write_text("0")
        (TRACING / "buffer_size_kb").write_text(str(buffer_kb))
        (TRACING / "trace").write_text("")
        for event in EVENTS:
            (TRACING / "events" / event / "enable").write_text("1")
        yield TRACING
    finally:
        (TRACING / "tracing_on").write_text("0")
        for event, value in enabled.items():
            (TRACING / "events" / event / "enable").write_text(value)
        (TRACING / "trace").write_text("")
        # "7 (expanded: 1408)" before the buffer was first used: the size it takes when used
        size = re.search(r"(\d+)\)?$", before["buffer_size_kb"])
        (TRACING / "buffer_size_kb").write_text(size.group(1) if size else "1408")
        (TRACING / "tracing_on").write_text(before["tracing_on"])
        if mounted:
            subprocess.run(["umount", str(TRACING)], check=False)


def tasks_of(pid: int) -> set[int]:
    with contextlib.suppress(OSError):
        return {int(tid) for tid in os.listdir(f"/proc/{pid}/task")}
    return set()


def find_process(wanted: Callable[[list[bytes]], bool]) -> int | None:
    """The first process whose argv `wanted` accepts."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if wanted((entry / "cmdline").read_bytes().split(b"\x00")):
                    return int(entry.name)
    return None


@dataclass
class Waits:
    """Wake-up to switch-in times of one role's tasks, and what ran on each CPU during the long ones."""

    waits: list[float] = field(default_factory=list)
    long: int = 0
    other_cpu_idle: int = 0  # long waits during which another CPU sat idle for at least half the wait
    holders: collections.Counter[str] = field(default_factory=collections.Counter)


def analyse(trace: str, roles: dict[int, str], long_ms: float) -> dict[str, Waits]:
    """Per role: its tasks' waits for a CPU; for waits over `long_ms`, who held the CPUs meanwhile (ms by comm)."""
    woken: dict[int, float] = {}
    running: dict[int, tuple[int, str, float]] = {}  # cpu -> (tid, comm, since)
    spans: list[tuple[int, str, float, float]] = []  # (cpu, "comm-tid" or "idle", start, end)
    waits: list[tuple[str, float, float]] = []
    for line in trace.splitlines():
        match = _EVENT.match(line)
        if match is None:
            continue
        at, cpu, fields = float(match["t"]), int(match["cpu"]), dict(_FIELD.findall(match["rest"]))
        if match["ev"] == "sched_wakeup":
            tid = int(fields["pid"])
            if tid in roles:
                woken.setdefault(tid, at)
        elif match["ev"] == "sched_switch":
            if cpu in running:
                tid, comm, since = running[cpu]
                spans.append((cpu, "idle" if tid == 0 else f"{comm}-{tid}", since, at))
            nxt = int(fields["next_pid"])
            running[cpu] = (nxt, fields["next_comm"], at)
            if nxt in woken:
                waits.append((roles[nxt], woken.pop(nxt), at))
    cpus = {span[0] for span in spans}
    result: dict[str, Waits] = collections.defaultdict(Waits)
    for role, start, end in waits:
        entry = result[role]
        entry.waits.append(end - start)
        if (end - start) * 1000 < long_ms:
            continue
        entry.long += 1
        idle_by_cpu: collections.Counter[int] = collections.Counter()
        for cpu, who, span_start, span_end in spans:
            overlap = min(end, span_end) - max(start, span_start)
            if overlap <= 0:
                continue
            if who == "idle":
                idle_by_cpu[cpu] += overlap
            else:
                entry.holders[_role_name(who, roles)] += overlap * 1000
        if len(cpus) > 1 and any(idle >= (end - start) / 2 for idle in idle_by_cpu.values()):
            entry.other_cpu_idle += 1
    return result


def _role_name(who: str, roles: dict[int, str]) -> str:
    comm, _, tid = who.rpartition("-")
    return roles.get(int(tid), comm) if tid.isdigit() else who


def report(result: dict[str, Waits], args: argparse.Namespace, round_trip: dict[str, float]) -> str:
    lines = [
        f"Traced {args.trace_seconds} s of round trips at {args.rate}/s through cellplane on {bench.machine()}; "
        f"the phase: p50 {round_trip['p50']:,.0f} µs, p99 {round_trip['p99']:,.0f} µs "
        f"(up {round_trip['up_p99']:,.0f}, down {round_trip['down_p99']:,.0f} µs p99).",
        "",
        f"| task | wake-ups | wait p50 µs | wait p99 µs | max ms | waits over {args.long_ms:g} ms | "
        "of those, another CPU idle half the wait | who held the CPU then (ms) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for role in ("pinger", "device shell", "gateway", "echo thread"):
        entry = result.get(role)
        if entry is None or not entry.waits:
            continue
        waits = sorted(entry.waits)
        holders = ", ".join(f"{who} {ms:.1f}" for who, ms in entry.holders.most_common(4))
        lines.append(
            f"| {role} | {len(waits):,} | {waits[len(waits) // 2] * 1e6:,.0f} | "
            f"{waits[int(len(waits) * 0.99)] * 1e6:,.0f} | {waits[-1] * 1e3:.2f} | {entry.long} | "
            f"{entry.other_cpu_idle} | {holders or '-'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=10_000, help="round trips per second")
    parser.add_argument("--seconds", type=float, default=6.0, help="the round-trip phase")
    parser.add_argument("--trace-seconds", type=float, default=2.0, help="traced, from 0.5 s into the phase")
    parser.add_argument("--long-ms", type=float, default=1.0, help="a wait this long is analysed")
    parser.add_argument("--buffer-kb", type=int, default=65536, help="tracefs buffer per CPU")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/sched_trace.py needs root (namespaces, TUN, nftables, tracefs)")
    plane = bench.DataPlane(bench.DataPlaneConfig(default_pools=("10.98.0.0/24",)))
    asyncio.run(plane.start())
    try:
        with (
            tempfile.TemporaryDirectory() as work,
            bench.platform(Path(work)) as (base, env, address),
            tracefs(args.buffer_kb) as tracing,
        ):
            iccid = bench.active_sim(base, env)
            run = bench.device_shell(base, env, iccid)
            port = base.rsplit(":", 1)[1].encode()
            markers: dict[str, Callable[[list[bytes]], bool]] = {
                "gateway": lambda argv: argv[3:6] == [b"up", b"--port", port],
                "device shell": lambda argv: argv[3:7] == [b"device", b"shell", b"--iccid", iccid.encode()],
                # python -c PINGER (the device shell's and nsenter's argv hold the same text further on)
                "pinger": lambda argv: argv[1:2] == [b"-c"] and argv[2] == bench.PINGER.encode(),
            }
            roles: dict[int, str] = {}
            captured: dict[str, str] = {}

            def traced() -> None:
                deadline = time.monotonic() + 30  # the device shell attaches first, then starts the pinger
                while find_process(markers["pinger"]) is None and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(0.5)
                for role, marker in markers.items():
                    pid = find_process(marker)
                    roles.update(dict.fromkeys(tasks_of(pid), role) if pid else {})
                roles.update(dict.fromkeys(tasks_of(os.getpid()) - {threading.main_thread().native_id}, "echo thread"))
                (tracing / "tracing_on").write_text("1")
                time.sleep(args.trace_seconds)
                (tracing / "tracing_on").write_text("0")
                captured["trace"] = (tracing / "trace").read_text()

            tracer = threading.Thread(target=traced)
            tracer.start()
            round_trip = bench.latency(run, address, args.rate, args.seconds)
            tracer.join()
    finally:
        asyncio.run(plane.stop())
    roles = {tid: role for tid, role in roles.items() if not (role == "echo thread" and tid == tracer.native_id)}
    print(report(analyse(captured["trace"], roles, args.long_ms), args, round_trip))


if __name__ == "__main__":
    main()
