"""Super SIM API benchmark (issue 2): GET one SIM, a deep list page and claims, on SQLite and PostgreSQL.

Each backend gets a fresh database with 100,000 SIMs claimed by one account (provisioned with the CLI,
claimed in bulk with SQL) plus an unclaimed pool that the claim scenario registers through the API.
In the same run and under the same load, two references: the Stoplight Prism mock serving the official
spec, and bench/bare_app.py (one FastAPI route reading one row through the same engine). Servers are
pinned to CPU 0, wrk to CPU 1; every scenario runs `--repeats` times for `--duration` seconds,
interleaved, after a warm-up. Results: bench/.work/api-results.json and the generated part of the
"API" section of bench/RESULTS.md.

    make bench-api                     # or: .venv/bin/python bench/api.py --backends sqlite --repeats 1
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

import api_report as report
from api_data import CLI, WORK, Backend, free_ports, postgres_version, sh
from cellplane.store.models import Sim

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SPEC = REPO.parent / "shared" / "specs" / "twilio_supersim_v1.json"
PRISM = WORK / "node_modules" / ".bin" / "prism"
# Servers on CPU 0, wrk on CPU 1 (`--no-pin` lets the scheduler place them).
PIN = {"server": ["taskset", "-c", "0"], "load": ["taskset", "-c", "1"]}
PAGE_SIZE, DEEP_PAGE = 50, 1000
RATE = 250  # py-spy samples per second


# Every server on a free loopback port.
PORTS = dict(zip(("cellplane", "bare", "prism", "prism_logged"), free_ports(4), strict=True))


# --- processes ---------------------------------------------------------------------------------


@dataclass
class Service:
    """A server process pinned to the server CPU, healthy once `probe` answers anything below 500."""

    name: str
    cmd: list[str]
    probe: str
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> Service:
        log = (WORK / f"{self.name}.log").open("wb")
        self.process = subprocess.Popen(
            [*PIN["server"], *self.cmd], env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=WORK
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early, see {log.name}")
            try:
                if httpx.get(self.probe, timeout=2, auth=("x", "y")).status_code < 500:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer {self.probe}")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process and all its threads so far."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


def wrk(
    url: str,
    args: argparse.Namespace,
    *,
    seconds: float,
    server: Service | None = None,
    script: str = "report.lua",
    extra: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One wrk run (one thread, pinned to the load CPU): throughput, latency percentiles, errors, and the
    server's CPU time per request (robust to other load on a shared machine, unlike req/s)."""
    cmd = [*PIN["load"], "wrk", "-t1", f"-c{args.connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
    cmd += ["-s", str(HERE / script), "-H", f"Authorization: {args.auth}", url]
    if extra:
        cmd += ["--", *extra]
    cpu_before = server.cpu_seconds() if server else 0.0
    out = sh(*cmd, env={**os.environ, "BENCH_DIR": str(HERE)})
    cpu = server.cpu_seconds() - cpu_before if server else 0.0
    line = next(x for x in out.splitlines() if x.startswith("WRK_JSON "))
    result = json.loads(line.removeprefix("WRK_JSON "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = sum(v for k, v in result.items() if k.startswith("errors_"))
    result["cpu_us_per_request"] = 1e6 * cpu / max(result["requests"], 1)
    statuses = next((x for x in out.splitlines() if x.startswith("WRK_STATUS ")), None)
    if statuses:
        result["unexpected_statuses"] = json.loads(statuses.removeprefix("WRK_STATUS "))
    return result


# --- profiling ---------------------------------------------------------------------------------


def profile(service: Service, url: str, args: argparse.Namespace, label: str, **wrk_options: Any) -> dict[str, Any]:
    """Sample the server with py-spy while wrk loads `url`; returns the layer breakdown (not a measurement).

    Only samples holding the GIL count (`--gil`): with one core for the server, Python work under the
    GIL is what bounds throughput; idle waits (epoll, aiosqlite's queue) would drown the picture.
    """
    assert service.process is not None
    out = WORK / f"profile-{label}.txt"
    spy_cmd = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(service.process.pid)]
    spy_cmd += ["--duration", str(int(args.duration)), "--rate", str(RATE), "--gil", "--format", "raw", "-o", str(out)]
    spy = subprocess.Popen(spy_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)
    requests = wrk(url, args, seconds=args.duration, **wrk_options)["requests"]
    spy.wait(timeout=60)
    return report.analyze_profile(out, REPO, requests=requests, rate=RATE)


# --- one backend -------------------------------------------------------------------------------


def deep_page_url(base: str, auth: tuple[str, str], deep_page: int) -> tuple[str, str]:
    """The first page URL and the URL of page `deep_page`, reached by walking next_page_url once."""
    first = f"{base}/supersim/v1/Sims?PageSize={PAGE_SIZE}"
    url = first
    with httpx.Client(auth=auth, timeout=30) as client:
        for _ in range(deep_page):
            url = client.get(url).raise_for_status().json()["meta"]["next_page_url"]
        body = client.get(url).raise_for_status().json()
    assert body["meta"]["page"] == deep_page and len(body["sims"]) == PAGE_SIZE, body["meta"]
    return first, url


def bench_backend(name: str, prisms: dict[str, Service], args: argparse.Namespace) -> dict[str, Any]:
    db = Backend(name)
    services: list[Service] = []
    try:
        sid, token = db.prepare(args.sims, args.pool)
        args.auth = "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode()
        base = f"http://127.0.0.1:{PORTS['cellplane']}"
        cellplane = Service(
            f"cellplane-{name}", [*CLI, "up", "--port", str(PORTS["cellplane"])], f"{base}/healthz", env=db.env
        )
        bare_base = f"http://127.0.0.1:{PORTS['bare']}"
        bare_cmd = [sys.executable, str(HERE / "bare_app.py"), "--port", str(PORTS["bare"]), "--database-url", db.url]
        bare = Service(f"bare-{name}", bare_cmd, f"{bare_base}/Sims/none", env=db.env)
        services += [cellplane.start(), bare.start()]

        one = db.query(select(Sim.sid).where(Sim.account_sid == sid).order_by(Sim.sid).offset(args.sims // 2).limit(1))
        sim = one[0][0]
        first, deep = deep_page_url(base, (sid, token), min(DEEP_PAGE, args.sims // PAGE_SIZE - 1))
        scenarios = {
            # GET one SIM runs between its two references, so each ratio compares neighbours in time.
            "prism_logged_get": (f"http://127.0.0.1:{PORTS['prism_logged']}/v1/Sims/{sim}", prisms["prism_logged"]),
            "prism_get": (f"http://127.0.0.1:{PORTS['prism']}/v1/Sims/{sim}", prisms["prism"]),
            "get": (f"{base}/supersim/v1/Sims/{sim}", cellplane),
            "bare_get": (f"{bare_base}/Sims/{sim}", bare),
            "list_first": (first, cellplane),
            "list_deep": (deep, cellplane),
        }
        for url, server in scenarios.values():
            httpx.get(url, auth=(sid, token), timeout=10).raise_for_status()
            wrk(url, args, seconds=args.warmup, server=server)
        runs: dict[str, list[dict[str, Any]]] = {key: [] for key in [*scenarios, "claim"]}
        for repeat in range(args.repeats):
            for key, (url, server) in scenarios.items():
                runs[key].append(result := wrk(url, args, seconds=args.duration, server=server))
                _progress(name, repeat, key, result)
        pool_file = WORK / f"pool-{name}.csv"
        for repeat in range(args.repeats):
            db.settle(sid)
            left = db.write_pool(pool_file)
            before = db.claimed(sid)
            url = f"{base}/supersim/v1/Sims"
            result = wrk(
                url, args, seconds=args.duration, server=cellplane, script="claim.lua", extra=(str(pool_file), "1")
            )
            result["claimed"], result["pool"] = db.claimed(sid) - before, left
            runs["claim"].append(result)
            _progress(name, repeat, "claim", result)
            if result.get("unexpected_statuses"):
                print(f"    statuses other than 201: {result['unexpected_statuses']}")
        profiles = {}
        if args.profile:
            for key in ("get", "list_deep", "bare_get"):
                url, server = scenarios[key]
                profiles[key] = profile(server, url, args, f"{name}-{key}")
            db.settle(sid)
            db.write_pool(pool_file)
            claim = {"script": "claim.lua", "extra": (str(pool_file), "1")}
            profiles["claim"] = profile(cellplane, f"{base}/supersim/v1/Sims", args, f"{name}-claim", **claim)
        return {"runs": runs, "profiles": profiles, "sim": sim, "deep_url": deep.replace(base, "")}
    finally:
        for service in services:
            service.stop()
        db.drop()


def _progress(backend: str, repeat: int, key: str, result: dict[str, Any]) -> None:
    print(
        f"  {backend} #{repeat + 1} {key:<11} {result['rps']:8.0f} req/s  p50 {result['p50_us'] / 1000:7.2f} ms"
        f"  {result['cpu_us_per_request']:6.0f} us CPU/req  errors {result['errors']}"
    )


# --- the run -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per scenario")
    parser.add_argument("--repeats", type=int, default=5, help="measured runs per scenario")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--sims", type=int, default=100_000, help="SIMs claimed by the account")
    parser.add_argument("--pool", type=int, default=20_000, help="unclaimed SIMs for the claim scenario")
    parser.add_argument("--profile", action="store_true", help="also sample the servers with py-spy")
    parser.add_argument("--no-record", action="store_true", help="do not rewrite bench/RESULTS.md")
    parser.add_argument("--no-pin", action="store_true", help="do not pin servers and wrk to separate CPUs")
    args = parser.parse_args()
    if args.no_pin:
        PIN.update(server=[], load=[])

    sh("bash", str(HERE / "setup.sh"))
    WORK.mkdir(exist_ok=True)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    pg = postgres_version()
    if "postgres" in backends and pg is None:
        print("PostgreSQL does not answer on 127.0.0.1:5432: skipping it")
        backends.remove("postgres")
    result: dict[str, Any] = {
        "machine": report.machine(WORK / "node_modules" / "@stoplight" / "prism-cli" / "package.json"),
        "options": {k: getattr(args, k) for k in ("duration", "warmup", "repeats", "connections", "sims", "no_pin")},
        "postgres": pg or "PostgreSQL not run",
        "load_start": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "backends": {},
    }
    # Prism answers from the spec's examples and has no database: one instance serves both backends' runs.
    # Prism twice: quiet (`-v error`, the stricter reference) and as it runs out of the box (`info`: a few
    # log lines a request, to a file here).
    prisms = {}
    for key, verbosity in (("prism", ["-v", "error"]), ("prism_logged", [])):
        cmd = [str(PRISM), "mock", "-h", "127.0.0.1", "-p", str(PORTS[key]), *verbosity, str(SPEC)]
        prisms[key] = Service(key, cmd, f"http://127.0.0.1:{PORTS[key]}/v1/Sims/HS{'0' * 32}").start()
    try:
        for backend in backends:
            print(f"{backend}:")
            data = bench_backend(backend, prisms, args)
            data["summary"] = {key: report.summarize(runs) for key, runs in data["runs"].items()}
            data["verdicts"] = report.verdicts(data["runs"])
            result["backends"][backend] = data
    finally:
        for prism in prisms.values():
            prism.stop()
    result["load_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    (WORK / "api-results.json").write_text(json.dumps(result, indent=2))
    block = report.markdown(result)
    print("\n" + block)
    if not args.no_record:
        report.record(HERE / "RESULTS.md", block)
        print(f"\nrecorded in {(HERE / 'RESULTS.md').relative_to(REPO)}")


if __name__ == "__main__":
    main()
