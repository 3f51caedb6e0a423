"""IP Commands benchmark (issue 4): commands/s accepted by POST /supersim/v1/IpCommands against Prism's mock of the
same operation, and POST -> datagram latency through `cellplane device bridge` at a steady rate.

Per backend: a fresh database, `cellplane up --emulator` (rate limit off) pinned to CPU 0, an account with two
active SIMs in a fleet allowed on 310-260. Throughput: wrk (bench/ipcommand.lua, CPU 1) posts to the first SIM,
attached through the control API, interleaved with Prism in the same run; between runs the backlog drains.
Latency: the second SIM's device is a `cellplane device bridge` subprocess delivering to a UDP socket this
process owns; a paced client (raw keep-alive HTTP/1.1) in its own process (`--client`, CPU 1) posts `--rate`
commands/s whose payload is a sequence number, and each datagram is matched to its POST. Results:
bench/.work/commands-results.json and the "Commands" section of bench/RESULTS.md.

    make bench-commands       # or: .venv/bin/python bench/commands.py --backends sqlite --repeats 1
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

import api_report as report
from api import PIN, PRISM, SPEC, Service, wrk
from api_data import CLI, WORK, Backend, free_port, postgres_version, sh
from commands_report import markdown, record

HERE = Path(__file__).resolve().parent
NETWORK = "310-260"
BRIDGE_PORT, WRK_PORT = 6000, 6001  # device ports: the bridged SIM's, and the wrk SIM's (no app listens)
RATE = 250  # py-spy samples per second
# Inclusive py-spy markers for the dispatch path (a sample counts for each marker its stack contains).
PATH_MARKERS = {
    "POST handler (create_ip_command)": "create_ip_command (",
    "outbox transaction (IpCommandOutbox._commit)": "IpCommandOutbox._commit (",
    "  of which the batch's SIM lookup (sims_for_commands)": "sims_for_commands (",
    "outbox delivery (IpCommandOutbox._deliver)": "IpCommandOutbox._deliver (",
    "  of which gateway send (send_to_device)": "send_to_device (",
    "recovery sweep (IpCommandOutbox._sweep)": "IpCommandOutbox._sweep (",
}


# --- the platform, an account, SIMs ------------------------------------------------------------


def http(base: str, auth: tuple[str, str]) -> httpx.Client:
    return httpx.Client(base_url=base, auth=auth, timeout=30)


def active_sims(client: httpx.Client, db: Backend, count: int) -> list[dict[str, str]]:
    """Claim `count` SIMs, put them in a fleet allowed on NETWORK, activate them and wait until they are active."""
    profile = client.post("/supersim/v1/NetworkAccessProfiles", data={"Networks": NETWORK}).raise_for_status()
    fleet = client.post("/supersim/v1/Fleets", data={"NetworkAccessProfile": profile.json()["sid"]}).raise_for_status()
    sims = []
    for item in json.loads(db.admin("provision-sims", "--count", str(count), "--json")):
        claim = {"Iccid": item["iccid"], "RegistrationCode": item["registration_code"]}
        sid = client.post("/supersim/v1/Sims", data=claim).raise_for_status().json()["sid"]
        client.post(f"/supersim/v1/Sims/{sid}", data={"Fleet": fleet.json()["sid"], "Status": "active"})
        sims.append({"sid": sid, "iccid": item["iccid"]})
    for sim in sims:
        until(lambda s=sim: client.get(f"/supersim/v1/Sims/{s['sid']}").json()["status"] == "active", "SIM active")
    return sims


def until(check: Any, what: str, timeout: float = 60.0, pause: float = 0.3) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for: {what}")
        time.sleep(pause)


def attach(client: httpx.Client, iccid: str) -> None:
    """Power the device on; attach again while the AAA does not know the SIM yet (it learns within ~1 s)."""
    client.post("/cellplane/v1/Emulator/Devices", data={"Iccid": iccid, "Network": NETWORK}).raise_for_status()

    def attached() -> bool:
        device = client.get(f"/cellplane/v1/Emulator/Devices/{iccid}").json()
        if device["state"] != "attached":
            client.post(f"/cellplane/v1/Emulator/Devices/{iccid}", data={"State": "attached"})
        return bool(device["state"] == "attached")

    until(attached, f"{iccid} attached", pause=0.6)


def queued(client: httpx.Client) -> int:
    """Commands still waiting for the job runner (0 or 1: a one-item page is enough to know)."""
    page = client.get("/supersim/v1/IpCommands", params={"Status": "queued", "PageSize": 1}).raise_for_status()
    return len(page.json()["ip_commands"])


def drain(client: httpx.Client, timeout: float = 300.0) -> float:
    started = time.monotonic()
    until(lambda: queued(client) == 0, "the IP Command backlog to drain", timeout=timeout, pause=0.5)
    return time.monotonic() - started


# --- latency: receiver here, paced client in its own process -----------------------------------


class Receiver:
    """The bridge's --deliver-to: a UDP socket stamping each datagram (CLOCK_MONOTONIC, shared by processes)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.arrived: dict[str, int] = {}
        self.duplicates = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, _ = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            now = time.monotonic_ns()
            key = data.decode(errors="replace")
            if key in self.arrived:
                self.duplicates += 1
            else:
                self.arrived[key] = now

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


class RawHttp:
    """A pool of HTTP/1.1 keep-alive connections sending pre-built form POSTs. httpx.AsyncClient costs a millisecond
    or more of CPU per request, which on this shared 2-core machine made the client, not the server, the limit at
    500/s (answers were read tens of ms after their datagram had arrived); this costs a few tens of microseconds."""

    def __init__(self, base: str, auth: tuple[str, str], size: int) -> None:
        url = httpx.URL(base)
        self.host, self.port, self.size = url.host, url.port or 80, size
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        self.head = (
            f"Host: {self.host}:{self.port}\r\nAuthorization: Basic {token}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
        ).encode()
        self.pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def open(self) -> None:
        for _ in range(self.size):
            self.pool.put_nowait(await asyncio.open_connection(self.host, self.port))

    async def close(self) -> None:
        while not self.pool.empty():
            _, writer = self.pool.get_nowait()
            writer.close()

    async def post(self, path: str, form: dict[str, str]) -> int:
        """Wait for a free connection (the in-flight limit), send, read the whole answer; 0 on a transport error."""
        body = urlencode(form).encode()
        reader, writer = await self.pool.get()
        try:
            request = b"POST %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n" % (path.encode(), self.head, len(body))
            writer.write(request + body)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            writer.close()
            reader, writer = await asyncio.open_connection(self.host, self.port)
            status = 0
        finally:
            self.pool.put_nowait((reader, writer))
        return status


async def paced_client(base: str, auth: tuple[str, str], sim: str, rate: float, seconds: float) -> dict[str, Any]:
    """Post `rate` commands a second for `seconds` on a fixed schedule (an open loop: a slow answer does not
    delay the next POST); payload = sequence number. Times in CLOCK_MONOTONIC nanoseconds."""
    total = int(rate * seconds)
    sent: dict[str, list[int]] = {}
    statuses: Counter[int] = Counter()
    # At most 64 POSTs in flight (one per connection). Latency counts from the scheduled start, so time spent
    # waiting for a connection is charged to the server (no coordinated omission).
    client = RawHttp(base, auth, 64)
    await client.open()
    try:

        async def post(seq: int) -> None:
            payload = f"{seq:08d}"
            start = int((t0 + seq / rate) * 1e9)
            data = {"Sim": sim, "Payload": payload, "DevicePort": str(BRIDGE_PORT)}
            status = await client.post("/supersim/v1/IpCommands", data)
            statuses[status] += 1
            sent[payload] = [start, time.monotonic_ns(), status]

        t0 = time.monotonic() + 0.2
        tasks = []
        behind = 0.0
        for seq in range(total):
            delay = t0 + seq / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                behind = max(behind, -delay)
            tasks.append(asyncio.create_task(post(seq)))
        await asyncio.gather(*tasks)
    finally:
        await client.close()
    return {"sent": sent, "statuses": dict(statuses), "max_behind_ms": behind * 1000, "rate": rate, "total": total}


def percentiles(values_ms: list[float]) -> dict[str, float]:
    if not values_ms:
        return {}
    values = sorted(values_ms)

    def at(q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))]

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": values[-1], "mean": statistics.fmean(values)}


def latency_run(
    base: str, auth: tuple[str, str], sim: str, receiver: Receiver, args: argparse.Namespace, rate: float
) -> dict:
    receiver.arrived.clear()
    out = WORK / "commands-client.json"
    cmd = [*PIN["load"], sys.executable, str(Path(__file__)), "--client", base, auth[0], auth[1], sim]
    sh(*cmd, "--rate", str(rate), "--seconds", str(args.latency_seconds), "--out", str(out))
    client = json.loads(out.read_text())
    deadline = time.monotonic() + 10  # stragglers
    while len(receiver.arrived) < client["total"] and time.monotonic() < deadline:
        time.sleep(0.2)
    total_ms, post_ms, after_ms = [], [], []
    for payload, (start, answered, status) in client["sent"].items():
        arrived = receiver.arrived.get(payload)
        if status == 201 and arrived is not None:
            total_ms.append((arrived - start) / 1e6)
            post_ms.append((answered - start) / 1e6)
            after_ms.append((arrived - answered) / 1e6)
    accepted = client["statuses"].get("201", 0)
    return {
        "rate": rate,
        "seconds": args.latency_seconds,
        "posted": client["total"],
        "statuses": client["statuses"],
        "client_max_behind_ms": client["max_behind_ms"],
        "received": len(total_ms),
        "lost": accepted - len(total_ms),
        "duplicates": receiver.duplicates,
        "post_to_datagram_ms": percentiles(total_ms),
        "post_answer_ms": percentiles(post_ms),
        "answer_to_datagram_ms": percentiles(after_ms),
    }


def profile_path(service: Service, seconds: float, label: str) -> subprocess.Popen[bytes]:
    """py-spy (GIL-holding samples only, as in bench/api.py) on the server during a latency run."""
    assert service.process is not None
    out = WORK / f"profile-commands-{label}.txt"
    cmd = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(service.process.pid), "--gil"]
    cmd += ["--duration", str(int(seconds)), "--rate", str(RATE), "--format", "raw", "-o", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def path_breakdown(out: Path, commands: int) -> dict[str, Any]:
    """Microseconds of GIL time per command, inclusive, for each marker of the dispatch path."""
    samples: Counter[str] = Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        for name, marker in PATH_MARKERS.items():
            if marker in stack:
                samples[name] += int(count)
    per = 1e6 / RATE / max(commands, 1)
    return {"file": str(out), "samples": total, "us_per_command": {k: round(samples[k] * per) for k in PATH_MARKERS}}


# --- one backend -------------------------------------------------------------------------------


def bench_backend(name: str, prism: Service, prism_url: str, args: argparse.Namespace) -> dict[str, Any]:
    db = Backend(name, prefix="commands")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    db.env["CELLPLANE_EMULATOR_ENABLED"] = "true"
    cellplane = Service(f"commands-{name}", [*CLI, "up", "--emulator", "--port", str(port)], f"{base}/healthz", db.env)
    bridge: subprocess.Popen[bytes] | None = None
    receiver = Receiver()
    try:
        sh(*CLI, "db", "upgrade", env=db.env, cwd=db.data_dir)
        account = json.loads(db.admin("create-account", "--friendly-name", "bench-commands", "--json"))
        auth = (account["account_sid"], account["auth_token"])
        args.auth = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        cellplane.start()
        client = http(base, auth)
        loaded, bridged = active_sims(client, db, 2)
        attach(client, loaded["iccid"])
        bridge_log = (WORK / f"bridge-{name}.log").open("wb")
        bridge_cmd = [*PIN["load"], *CLI, "device", "bridge", "--iccid", bridged["iccid"], "--platform", base]
        bridge_cmd += ["--deliver-to", f"127.0.0.1:{receiver.port}", "--device-port", str(BRIDGE_PORT)]
        bridge = subprocess.Popen(bridge_cmd, env=db.env, cwd=db.data_dir, stdout=bridge_log, stderr=subprocess.STDOUT)
        until(lambda: b"attached on" in (WORK / f"bridge-{name}.log").read_bytes(), "the bridge attached")

        url = f"{base}/supersim/v1/IpCommands"
        extra = (loaded["sid"], str(WRK_PORT))
        scenarios = {"prism": (prism_url, prism), "cellplane": (url, cellplane)}
        for target, server in scenarios.values():
            wrk(target, args, seconds=args.warmup, server=server, script="ipcommand.lua", extra=extra)
        runs: dict[str, list[dict[str, Any]]] = {key: [] for key in scenarios}
        drains = [drain(client)]
        for repeat in range(args.repeats):
            for key, (target, server) in scenarios.items():
                result = wrk(target, args, seconds=args.duration, server=server, script="ipcommand.lua", extra=extra)
                runs[key].append(result)
                print(
                    f"  {name} #{repeat + 1} {key}: {result['rps']:.0f} req/s, p99 {result['p99_us'] / 1000:.1f} ms,"
                    f" statuses other than 201: {result.get('unexpected_statuses') or 'none'}"
                )
                if key == "cellplane":
                    drains.append(drain(client))  # the backlog is sent before the next run
        sent = client.get("/supersim/v1/IpCommands", params={"Sim": loaded["sid"], "Status": "sent", "PageSize": 1})
        latency = latency_run(base, auth, bridged["sid"], receiver, args, args.rate)
        lat = latency["post_to_datagram_ms"]
        print(
            f"  {name} latency @ {args.rate}/s: p50 {lat.get('p50', 0):.1f} p99 {lat.get('p99', 0):.1f} ms,"
            f" lost {latency['lost']}"
        )
        drain(client)
        latency["low_rate_run"] = latency_run(base, auth, bridged["sid"], receiver, args, args.low_rate)
        profile = None
        if args.profile:
            drain(client)
            spy = profile_path(cellplane, args.latency_seconds, name)
            time.sleep(0.5)
            latency["profiled_run"] = latency_run(base, auth, bridged["sid"], receiver, args, args.rate)
            spy.wait(timeout=120)
            profile = path_breakdown(WORK / f"profile-commands-{name}.txt", latency["profiled_run"]["posted"])
        return {
            "runs": runs,
            "summary": {key: report.summarize(r) for key, r in runs.items()},
            "drain_seconds": drains,
            "sent_ok": sent.status_code == 200 and bool(sent.json()["ip_commands"]),
            "latency": latency,
            "profile": profile,
        }
    finally:
        if bridge is not None:
            bridge.terminate()
            bridge.wait(timeout=15)
        receiver.close()
        cellplane.stop()
        db.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=float, default=500.0, help="commands/s of the latency run")
    parser.add_argument("--low-rate", type=float, default=50.0, help="commands/s of a second, unloaded latency run")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--profile", action="store_true", help="a second latency run under py-spy")
    parser.add_argument("--no-record", action="store_true", help="do not write bench/RESULTS.md")
    parser.add_argument("--client", nargs=4, metavar=("BASE", "SID", "TOKEN", "SIM"), help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=10.0, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # progress lines, even into a file
    if args.client:
        base, sid, token, sim = args.client
        result = asyncio.run(paced_client(base, (sid, token), sim, args.rate, args.seconds))
        args.out.write_text(json.dumps(result))
        return

    sh("bash", str(HERE / "setup.sh"))
    WORK.mkdir(exist_ok=True)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    pg = postgres_version()
    if "postgres" in backends and pg is None:
        print("PostgreSQL does not answer on 127.0.0.1:5432: skipping it")
        backends.remove("postgres")
    result: dict[str, Any] = {
        "machine": report.machine(WORK / "node_modules" / "@stoplight" / "prism-cli" / "package.json"),
        "options": {k: getattr(args, k) for k in ("duration", "warmup", "repeats", "connections", "rate")},
        "postgres": pg or "PostgreSQL not run",
        "load_start": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "backends": {},
    }
    # Prism as it runs out of the box (default logging, to a file): the reference the issue quotes (~440/s).
    prism_port = free_port()
    prism_cmd = [str(PRISM), "mock", "-h", "127.0.0.1", "-p", str(prism_port), str(SPEC)]
    prism = Service("prism-commands", prism_cmd, f"http://127.0.0.1:{prism_port}/v1/IpCommands").start()
    try:
        for backend in backends:
            print(f"{backend}:")
            result["backends"][backend] = bench_backend(
                backend, prism, f"http://127.0.0.1:{prism_port}/v1/IpCommands", args
            )
    finally:
        prism.stop()
    result["load_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    (WORK / "commands-results.json").write_text(json.dumps(result, indent=2))
    block = markdown(result)
    print("\n" + block)
    if not args.no_record:
        record(HERE / "RESULTS.md", block)


if __name__ == "__main__":
    os.environ.setdefault("BENCH_DIR", str(HERE))
    main()
