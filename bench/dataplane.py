"""Data plane benchmark (issue 16): a device namespace to a server on the host, three ways, in one run.

1. cellplane: `cellplane device shell` (emulated UE + SGW, GTP-U) -> the gateway (policy, accounting) -> the default
   routing domain's TUN, nftables and masquerade -> its uplink veth -> the host.
2. veth: the device namespace joined to the host by a plain veth pair (the kernel's limit on this machine).
3. relay: a bare asyncio TUN-to-UDP relay with no GTP (bench/tun_relay.py, one process each side, as a user would
   write it) -> a routing domain made by the same code as cellplane's (same nftables, same masquerade) -> the host.

Measures: iperf3 TCP for 10 s (received bit/s), iperf3 UDP unlimited with 64- and 1400-octet IP packets (packets/s
received by the server), and round trips of UDP packets at 10,000 and 1,000 packets/s to an echo server on the host
(p50, p99; the three paths take turns for three rounds, as the load of a shared machine drifts; "added" is a round's
p99 less the veth path's p99 of the same round), and of each direction apart (the echo server stamps the time it
received a packet: device to server, server to device). Needs root. Results: the "Data plane" section of
bench/RESULTS.md; bench/sched_trace.py shows where a round trip's packets wait for a CPU.

    make bench-dataplane          # or: .venv/bin/python bench/dataplane.py [--seconds 10] [--no-record]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform as host
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

from tests.support.server import (  # noqa: E402
    create_postgres_database,
    drop_postgres_database,
    free_ports,
    postgres_available,
)

from cellplane.network.dataplane import DataPlane, DataPlaneConfig  # noqa: E402
from cellplane.network.dataplane import names as dp_names  # noqa: E402
from cellplane.network.dataplane.device_ns import DeviceNamespace  # noqa: E402
from cellplane.network.dataplane.domain import Link  # noqa: E402
from cellplane.network.dataplane.netlink import IPRoute, NetNS, netns  # noqa: E402
from results_file import replace_generated  # noqa: E402

CLI = [sys.executable, "-m", "cellplane.cli.main"]
Runner = Callable[[list[str]], subprocess.CompletedProcess[str]]
SECTION = "## Data plane (bench/dataplane.py)"
RELAY_DEVICE = "10.99.0.2"


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
    return f"{cpu}, {os.cpu_count()} CPUs, Linux {host.release()}, Python {host.python_version()}; load {load[0]:.1f}"


# --- the platform and a SIM ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def platform(work: Path, *, split: bool = False) -> Iterator[tuple[str, dict[str, str], str]]:
    """`cellplane up` with the data plane on; yields (base URL, env, host address of the default domain's uplink).

    `split`: two processes on a PostgreSQL database of their own (docs/DEPLOY.md), `--role api,aaa,workers` and
    `--role gateway`, so that the gateway's packets share their event loop with the gateway's own work only, not
    with the API, the AAA and the job runners. The env yielded points device shells at the gateway node."""
    http, gateway_http, auth, acct, gtpc, gtpu, dae = free_ports(2, socket.SOCK_STREAM) + free_ports(
        5, socket.SOCK_DGRAM
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELLPLANE_")}
    env.update(
        CELLPLANE_DATA_DIR=str(work),
        CELLPLANE_DATA_PLANE="on",
        CELLPLANE_ADMIN_TOKEN=uuid.uuid4().hex,
        CELLPLANE_SIM_UPDATE_DELAY="0",
        CELLPLANE_RATE_LIMIT="0",
        CELLPLANE_AAA_AUTH_PORT=str(auth),
        CELLPLANE_AAA_ACCT_PORT=str(acct),
        CELLPLANE_GTPC_PORT=str(gtpc),
        CELLPLANE_GTPU_PORT=str(gtpu),
        CELLPLANE_GATEWAY_DAE_PORT=str(dae),
        PYTHONUNBUFFERED="1",
    )
    nodes: list[tuple[list[str], dict[str, str], int]] = [([], env, http)]
    database = None
    if split:
        database = create_postgres_database("cellplane_bench_dataplane")
        env["CELLPLANE_DATABASE_URL"] = database
        subprocess.run([*CLI, "db", "upgrade"], env=env, check=True, capture_output=True)
        (work / "gateway").mkdir()
        gateway_env = {**env, "CELLPLANE_DATA_DIR": str(work / "gateway")}
        nodes = [(["--role", "api,aaa,workers"], env, http), (["--role", "gateway"], gateway_env, gateway_http)]
    processes = []
    try:
        for number, (role, node_env, port) in enumerate(nodes):
            log = (work / f"server{number}.log").open("wb")
            processes.append(
                subprocess.Popen(
                    [*CLI, "up", "--port", str(port), *role], env=node_env, stdout=log, stderr=subprocess.STDOUT
                )
            )
        for (_role, _env, port), process in zip(nodes, processes, strict=True):
            for _ in range(300):
                with contextlib.suppress(httpx.HTTPError):
                    health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    if health.status_code == 200:
                        break
                if process.poll() is not None:
                    raise RuntimeError("\n".join(log.read_text() for log in sorted(work.glob("server*.log"))))
                time.sleep(0.1)
        address = health.json()["data_plane"]["domains"]["default"]["host_address"]  # the last node: the gateway
        yield f"http://127.0.0.1:{http}", env, address
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(30)
        if database is not None:
            drop_postgres_database(database)


GATEWAY_NODE = "cellplane, gateway node"  # the path through a `--role gateway` node (platform(split=True))


def nodes(work: str) -> Path:
    """A directory of its own for the two nodes' platform (its data directories and logs)."""
    path = Path(work) / "nodes"
    path.mkdir()
    return path


def active_sim(base: str, env: dict[str, str]) -> str:
    """A Super SIM claimed, in a fleet allowing 310-260, active; its ICCID. The fleet's data limit is the highest
    there is: a full run moves more than the default 1,000 MB (TCP alone, 10 s at 850 Mbit/s), and at the limit the
    AAA blocks the SIM, so that every later phase's device shell gets no data session."""
    admin = ("admin", env["CELLPLANE_ADMIN_TOKEN"])
    account = httpx.post(f"{base}/admin/v1/Accounts", data={"FriendlyName": "bench"}, auth=admin).json()
    [item] = httpx.post(f"{base}/admin/v1/Sims", data={"Count": "1"}, auth=admin, timeout=60).json()["sims"]
    with httpx.Client(base_url=f"{base}/supersim/v1", auth=(account["account_sid"], account["auth_token"])) as api:
        profile = api.post("/NetworkAccessProfiles", data={"Networks": "310-260"}).json()
        fleet = api.post("/Fleets", data={"NetworkAccessProfile": profile["sid"], "DataLimit": "2000000"}).json()
        sim = api.post("/Sims", data={"Iccid": item["iccid"], "RegistrationCode": item["registration_code"]}).json()
        api.post(f"/Sims/{sim['sid']}", data={"Fleet": fleet["sid"], "Status": "active"})
        for _ in range(100):
            if api.get(f"/Sims/{sim['sid']}").json()["status"] == "active":
                break
            time.sleep(0.1)
    time.sleep(1.5)  # the AAA's policy cache learns of the SIM within about a second
    return str(item["iccid"])


# --- the reference paths ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def veth_path(instance: str, subnet: str) -> Iterator[tuple[Runner, str]]:
    """A device namespace and the host joined by a plain veth pair."""
    name = dp_names.netns_name(instance, "veth")
    link = Link.of(subnet, 10)
    host_end = dp_names.link_name()
    netns.create(name)
    try:
        with IPRoute() as ip:
            ip.link("add", ifname=host_end, kind="veth", peer={"ifname": "eth0", "net_ns_fd": name})
            index = ip.link_lookup(ifname=host_end)[0]
            ip.link("set", index=index, IFLA_IFALIAS=f"{name}-uplink")
            ip.addr("add", index=index, address=link.host, prefixlen=30)
            ip.link("set", index=index, state="up")
        with NetNS(name) as ns:
            ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up")
            index = ns.link_lookup(ifname="eth0")[0]
            ns.addr("add", index=index, address=link.inside, prefixlen=30)
            ns.link("set", index=index, state="up")
        yield in_namespace(name), link.host
    finally:
        with contextlib.suppress(Exception), IPRoute() as ip:
            for index in ip.link_lookup(ifname=host_end):
                ip.link("del", index=index)
        netns.remove(name)


@contextlib.contextmanager
def relay_path(plane: DataPlane) -> Iterator[tuple[Runner, str]]:
    """Device namespace -> bare asyncio relay -> UDP -> bare asyncio relay -> a routing domain -> the host."""
    import asyncio

    domain = asyncio.run(plane.create_domain("relay", ("10.99.0.0/24",)))
    device = DeviceNamespace("tun0")
    device.create()
    device.address(RELAY_DEVICE)
    a, b = free_ports(2, socket.SOCK_DGRAM)
    relays = []
    try:
        for fd, local, peer in ((device.tun_fd, a, b), (domain.tun_fd, b, a)):
            assert fd is not None
            relays.append(
                subprocess.Popen(
                    [sys.executable, str(HERE / "tun_relay.py"), str(fd), str(local), str(peer)],
                    pass_fds=[fd],
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        for relay in relays:
            assert relay.stdout is not None and relay.stdout.readline().strip() == "ready"
        yield in_namespace(device.name), domain.link.host
    finally:
        for relay in relays:
            relay.terminate()
            relay.wait(10)
        device.destroy()
        asyncio.run(plane.remove_domain("relay"))


def in_namespace(name: str) -> Runner:
    def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["nsenter", f"--net=/run/netns/{name}", "--", *argv], capture_output=True, text=True)

    return run


def device_shell(base: str, env: dict[str, str], iccid: str) -> Runner:
    def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*CLI, "device", "shell", "--iccid", iccid, "--platform", base, "--", *argv],
            env=env,
            capture_output=True,
            text=True,
        )
        # The shell's own line first ("device ... attached ..."), then COMMAND's output. Any other line of the
        # shell's (no data session, ...) stays: it is the error to report.
        first, _, rest = done.stdout.partition("\n")
        if first.startswith("device ") and " attached on " in first:
            done.stdout = rest
        return done

    return run


# --- measurements -------------------------------------------------------------------------------------------------


def iperf(run: Runner, server: str, *args: str) -> dict[str, Any]:
    [port] = free_ports(1, socket.SOCK_STREAM)
    daemon = subprocess.Popen(["iperf3", "-s", "-1", "-B", server, "-p", str(port)], stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        done = run(["iperf3", "-c", server, "-p", str(port), "-J", *args])
        start = done.stdout.find("{")
        result: dict[str, Any] = (
            json.loads(done.stdout[start:])
            if start >= 0
            else {"error": f"exit status {done.returncode}, output {done.stdout.strip()!r}"}
        )
        if "error" in result:
            raise RuntimeError(f"iperf3 {args}: {result['error']} {done.stderr}")
        return result
    finally:
        daemon.kill()
        daemon.wait()


def tcp(run: Runner, server: str, seconds: int) -> float:
    return float(iperf(run, server, "-t", str(seconds))["end"]["sum_received"]["bits_per_second"])


def udp_pps(run: Runner, server: str, ip_size: int, seconds: int) -> float:
    result = iperf(run, server, "-u", "-b", "0", "-l", str(ip_size - 28), "-t", str(seconds))
    summary = result["end"]["sum"]
    return (summary["packets"] - summary["lost_packets"]) / summary["seconds"]


# Each packet carries its sequence number; the echo server writes the time it received the packet into the next 8
# octets. Both read CLOCK_MONOTONIC (time.monotonic_ns), one clock for every namespace of the host, so the two halves
# of a round trip are measured apart: up (device to server) and down (server to device).
PINGER = """
import json, socket, sys, time
host, port, rate, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect((host, port)); s.setblocking(False)
burst = max(1, rate // 1000)
clock = time.monotonic_ns
rtts, ups, downs, sent, seq = [], [], [], {}, 0
start = time.perf_counter(); tick = start
while time.perf_counter() - start < seconds:
    for _ in range(burst):
        sent[seq] = clock(); s.send(seq.to_bytes(8, "big") + bytes(56)); seq += 1
    tick += burst / rate
    while True:
        try:
            data = s.recv(2048)
        except BlockingIOError:
            if time.perf_counter() >= tick:
                break
            time.sleep(0.0001)
            continue
        now = clock()
        at = sent.pop(int.from_bytes(data[:8], "big"), None)
        if at is not None:
            echoed = int.from_bytes(data[8:16], "big")
            rtts.append((now - at) / 1000); ups.append((echoed - at) / 1000); downs.append((now - echoed) / 1000)
result = {"sent": seq, "answered": len(rtts)}
for key, values in (("", rtts), ("up_", ups), ("down_", downs)):
    values.sort()
    result[key + "p50"], result[key + "p99"] = values[len(values) // 2], values[int(len(values) * 0.99)]
print(json.dumps(result))
"""


@contextlib.contextmanager
def echo_server(address: str) -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 0))
    sock.settimeout(0.5)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(2048)
            except TimeoutError:
                continue
            sock.sendto(data[:8] + time.monotonic_ns().to_bytes(8, "big") + data[16:], peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        sock.close()


def latency(run: Runner, server: str, rate: int, seconds: float) -> dict[str, float]:
    with echo_server(server) as port:
        done = run([sys.executable, "-c", PINGER, server, str(port), str(rate), str(seconds)])
    start = done.stdout.find("{")
    if start < 0:
        raise RuntimeError(f"pinger: {done.stdout} {done.stderr}")
    result: dict[str, float] = json.loads(done.stdout[start:])
    return result


def measure(name: str, run: Runner, server: str, args: argparse.Namespace) -> dict[str, Any]:
    """Throughput: TCP, then UDP packets per second at both sizes."""
    print(f"{name}: TCP {args.seconds} s ...", flush=True)
    result: dict[str, Any] = {"tcp_bps": tcp(run, server, args.seconds)}
    for size in (64, 1400):
        print(f"{name}: UDP {size}-octet packets ...", flush=True)
        result[f"udp{size}_pps"] = udp_pps(run, server, size, args.udp_seconds)
    print(f"{name}: {json.dumps(result)}", flush=True)
    return result


def round_trips(
    paths: dict[str, tuple[Runner, str]], results: dict[str, dict[str, Any]], args: argparse.Namespace
) -> None:
    """Round trips at both rates, the paths taking turns for `args.rounds` rounds: on a shared machine the load
    drifts, and a path measured minutes after another would be compared with another machine. Each path's reported
    round is its median by p99; "added" latency is read per round (the paths of one round ran seconds apart)."""
    for number in range(args.rounds):
        for name, (run, server) in paths.items():
            print(f"{name}: round trips at {args.rate}/s and {args.low_rate}/s (round {number + 1}) ...", flush=True)
            for key, rate in (("latency", args.rate), ("latency_low", args.low_rate)):
                results[name].setdefault(f"{key}_rounds", []).append(latency(run, server, rate, args.latency_seconds))
    for result in results.values():
        for key in ("latency", "latency_low"):
            rounds = sorted(result[f"{key}_rounds"], key=lambda r: r["p99"])
            result[key] = rounds[len(rounds) // 2]


def added(results: dict[str, dict[str, Any]], name: str, key: str, field: str = "p99") -> list[float]:
    """Per round: `name`'s p99 (`field`: of the round trip, or "up_p99" / "down_p99" of one direction) less the veth
    path's of the same round, in ms, sorted."""
    pairs = zip(results[name][f"{key}_rounds"], results["veth"][f"{key}_rounds"], strict=True)
    return sorted((ours[field] - veth[field]) / 1000 for ours, veth in pairs)


# --- report -------------------------------------------------------------------------------------------------------


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    ours, veth, relay = results["cellplane"], results["veth"], results["relay"]
    ours_names = [name for name in ("cellplane", GATEWAY_NODE) if name in results]
    lines = [
        f"Run {when} on {machine()}; TCP {args.seconds} s, UDP {args.udp_seconds} s per size, round trips "
        f"{args.latency_seconds} s at {args.rate} packets/s.",
        "",
        f"| path | TCP Mbit/s | UDP 64 B pps | UDP 1400 B pps | RTT p50 / p99 µs at {args.rate}/s (answered) "
        f"| RTT p50 / p99 µs at {args.low_rate}/s |",
        "|---|---|---|---|---|---|",
    ]
    for name in (*ours_names, "relay", "veth"):
        r = results[name]
        lat, low = r["latency"], r["latency_low"]
        lines.append(
            f"| {name} | {r['tcp_bps'] / 1e6:,.0f} | {r['udp64_pps']:,.0f} | {r['udp1400_pps']:,.0f} | "
            f"{lat['p50']:,.0f} / {lat['p99']:,.0f} ({lat['answered']}/{lat['sent']}) | "
            f"{low['p50']:,.0f} / {low['p99']:,.0f} |"
        )

    def ratio(key: str, other: dict[str, Any]) -> str:
        return f"{ours[key] / other[key]:.2f}x" if other[key] else "n/a"

    def spread(name: str, key: str, field: str = "p99") -> str:
        rounds = added(results, name, key, field)
        return f"{rounds[len(rounds) // 2]:.2f} ms (rounds: {', '.join(f'{r:.2f}' for r in rounds)})"

    def one_way(key: str, rate: int) -> str:
        return f"at {rate} packets/s: " + "; ".join(
            f"{name}: up {spread(name, key, 'up_p99')}, down {spread(name, key, 'down_p99')}" for name in ours_names
        )

    def p99s(name: str, key: str) -> str:
        return ", ".join(f"{r['p99'] / 1000:.1f}" for r in results[name][f"{key}_rounds"])

    def added_all(key: str, rate: int) -> str:
        return f"at {rate} packets/s: " + "; ".join(f"{name}: {spread(name, key)}" for name in (*ours_names, "relay"))

    lines += [
        "",
        f"cellplane against the bare relay: TCP {ratio('tcp_bps', relay)}, UDP 64 B {ratio('udp64_pps', relay)}, "
        f"UDP 1400 B {ratio('udp1400_pps', relay)}. Fraction of the kernel path (veth): TCP "
        f"{ratio('tcp_bps', veth)}, UDP 64 B {ratio('udp64_pps', veth)}, UDP 1400 B {ratio('udp1400_pps', veth)}.",
        f"Round trips: {args.rounds} rounds, the paths taking turns; the table shows each path's median round by p99. "
        f"Added round-trip latency, a round's p99 less the veth path's p99 of the same round, median of the rounds, "
        f"{added_all('latency', args.rate)}. {added_all('latency_low', args.low_rate).capitalize()}.",
        "Added one-way latency (the same rounds, each direction's p99 less the veth path's, median of the rounds), "
        f"{one_way('latency', args.rate)}. {one_way('latency_low', args.low_rate).capitalize()}.",
        f"p99 per round at {args.rate}/s, ms: "
        + "; ".join(f"{name} {p99s(name, 'latency')}" for name in (*ours_names, "relay", "veth"))
        + f". At {args.low_rate}/s: "
        + "; ".join(f"{name} {p99s(name, 'latency_low')}" for name in (*ours_names, "relay", "veth"))
        + ".",
    ]
    return "\n".join(lines)


def record(block: str) -> None:
    """Replace (or add) the generated part of its section of bench/RESULTS.md; prose around it stays."""
    replace_generated("<!-- dataplane:begin -->", "<!-- dataplane:end -->", block, SECTION)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="iperf3 TCP duration")
    parser.add_argument("--udp-seconds", type=int, default=5, help="iperf3 UDP duration per packet size")
    parser.add_argument("--rate", type=int, default=10_000, help="round trips per second")
    parser.add_argument("--low-rate", type=int, default=1_000, help="round trips per second, the second time")
    parser.add_argument("--latency-seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3, help="round-trip rounds, the paths taking turns")
    parser.add_argument("--no-record", action="store_true", help="do not rewrite bench/RESULTS.md")
    parser.add_argument(
        "--gateway-node",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also measure the gateway as a node of its own (`--role gateway` beside `--role api,aaa,workers`, on "
        "PostgreSQL at 127.0.0.1:5432; docs/DEPLOY.md); default: when PostgreSQL answers there",
    )
    args = parser.parse_args()
    if args.gateway_node is None:
        args.gateway_node = postgres_available() is None
        if not args.gateway_node:
            print("no PostgreSQL on 127.0.0.1:5432: the gateway node's path is not measured", flush=True)
    if os.geteuid() != 0:
        sys.exit("bench/dataplane.py needs root (namespaces, TUN, nftables): run bench/setup.sh, then as root")
    results: dict[str, dict[str, Any]] = {}
    plane = DataPlane(DataPlaneConfig(default_pools=("10.98.0.0/24",)))
    import asyncio

    asyncio.run(plane.start())  # the bench's own instance: the relay's routing domain, and a subnet for the veth
    try:
        with (
            tempfile.TemporaryDirectory() as work,
            platform(Path(work)) as (base, env, address),
            contextlib.ExitStack() as held,
            relay_path(plane) as relay,
            veth_path(plane.instance, plane.link_subnet) as veth,
        ):
            paths = {"cellplane": (device_shell(base, env, active_sim(base, env)), address)}
            if args.gateway_node:
                split_base, split_env, split_address = held.enter_context(platform(nodes(work), split=True))
                paths[GATEWAY_NODE] = (
                    device_shell(split_base, split_env, active_sim(split_base, split_env)),
                    split_address,
                )
            paths.update(relay=relay, veth=veth)
            for name, (run, server) in paths.items():
                results[name] = measure(name, run, server, args)
            round_trips(paths, results, args)
    finally:
        asyncio.run(plane.stop())
    block = report(results, args)
    print("\n" + block)
    if not args.no_record:
        record(block)
        print(f"\nrecorded in {(HERE / 'RESULTS.md').relative_to(REPO)}")


if __name__ == "__main__":
    main()
