"""GET one SIM with a Bearer token against the same with HTTP Basic (issue 15: within 10%), on one server.

A fresh SQLite platform with one claimed SIM, an admin API client and its token. Server pinned to CPU 0, wrk to
CPU 1; Basic and Bearer interleaved, `--repeats` runs each of `--duration` seconds after a warm-up; the median
req/s and the server's CPU time per request (robust to other load on a shared machine) of each, and their ratio.
Twice: rate limiting off (as bench/api.py runs) and on with a limit no run reaches, so the per-credential bucket
and the RateLimit headers are in the measured path. Results: printed, and bench/.work/auth-results.json.

    .venv/bin/python bench/auth.py --repeats 5 --duration 5
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from api_data import CLI, WORK, drawn_udp_ports, free_port, sh

HERE = Path(__file__).resolve().parent
PIN = {"server": ["taskset", "-c", "0"], "load": ["taskset", "-c", "1"]}


def wrk(url: str, authorization: str, seconds: float, connections: int, pid: int) -> dict[str, float]:
    cpu_before = _cpu(pid)
    cmd = [*PIN["load"], "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
    cmd += ["-s", str(HERE / "status.lua"), "-H", f"Authorization: {authorization}", url]
    out = sh(*cmd, env={**os.environ, "BENCH_DIR": str(HERE)})
    cpu = _cpu(pid) - cpu_before
    result = json.loads(next(x for x in out.splitlines() if x.startswith("WRK_JSON ")).removeprefix("WRK_JSON "))
    statuses = json.loads(next(x for x in out.splitlines() if x.startswith("WRK_STATUS ")).removeprefix("WRK_STATUS "))
    errors = sum(v for k, v in result.items() if k.startswith("errors_"))
    if errors:  # counted and shown, not fatal: a loaded machine times out now and then
        print(f"  {authorization.split()[0]}: {errors} errors {statuses}", flush=True)
    return {
        "rps": result["requests"] / (result["duration_us"] / 1e6),
        "cpu_us_per_request": 1e6 * cpu / max(result["requests"], 1),
        "p99_us": result["p99_us"],
        "errors": errors,
    }


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_config(rate_limit: str, args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="auth-", dir=WORK))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELLPLANE_")}
    env |= {"CELLPLANE_DATA_DIR": str(data_dir), "CELLPLANE_RATE_LIMIT": rate_limit, "CELLPLANE_RATE_BURST": "1e9"}
    env |= {"CELLPLANE_ADMIN_TOKEN": "bench", **drawn_udp_ports()}
    account = json.loads(sh(*CLI, "admin", "create-account", "--json", env=env, cwd=data_dir))
    sims = json.loads(
        sh(*CLI, "admin", "provision-sims", "--count", "1", "--product", "supersim", "--json", env=env, cwd=data_dir)
    )
    server = subprocess.Popen(
        [*PIN["server"], *CLI, "up", "--port", str(port)],
        env=env,
        cwd=data_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        auth = (account["account_sid"], account["auth_token"])
        form = {"Iccid": sims[0]["iccid"], "RegistrationCode": sims[0]["registration_code"]}
        sim = httpx.post(f"{base}/supersim/v1/Sims", data=form, auth=auth).json()["sid"]
        client = httpx.post(
            f"{base}/cellplane/v1/ApiClients", data={"Role": "admin", "TokenLifetime": "24h"}, auth=auth
        ).json()
        token = httpx.post(
            f"{base}/api-services/v1/auth/token",
            data={"grant_type": "client_credentials", **{k: client[k] for k in ("client_id", "client_secret")}},
        ).json()["access_token"]
        schemes = {
            "basic": "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode(),
            "bearer": f"Bearer {token}",
        }
        url = f"{base}/supersim/v1/Sims/{sim}"
        for authorization in schemes.values():
            assert httpx.get(url, headers={"Authorization": authorization}).status_code == 200
            wrk(url, authorization, args.warmup, args.connections, server.pid)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in schemes}
        for repeat in range(args.repeats):
            # Which scheme goes first alternates, so that neither always runs on the warmer (or busier) side.
            pairs = list(schemes.items())
            for name, authorization in pairs if repeat % 2 == 0 else reversed(pairs):
                runs[name].append(wrk(url, authorization, args.duration, args.connections, server.pid))
    finally:
        server.terminate()
        server.wait(timeout=15)
    summary: dict[str, Any] = {"rate_limit": rate_limit, "runs": runs}
    for name in schemes:
        summary[name] = {
            key: statistics.median(run[key] for run in runs[name]) for key in ("rps", "cpu_us_per_request", "p99_us")
        }
    summary["bearer_over_basic_rps"] = summary["bearer"]["rps"] / summary["basic"]["rps"]
    summary["bearer_over_basic_cpu"] = summary["bearer"]["cpu_us_per_request"] / summary["basic"]["cpu_us_per_request"]
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate-limits", default="0,1e9", help="CELLPLANE_RATE_LIMIT of each configuration")
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    results = [run_config(limit, args) for limit in args.rate_limits.split(",")]
    (WORK / "auth-results.json").write_text(json.dumps(results, indent=2))
    for result in results:
        basic, bearer = result["basic"], result["bearer"]
        print(
            f"rate limit {result['rate_limit']:>4}: Basic {basic['rps']:.0f} req/s {basic['cpu_us_per_request']:.0f} "
            f"us/req | Bearer {bearer['rps']:.0f} req/s {bearer['cpu_us_per_request']:.0f} us/req | "
            f"Bearer/Basic req/s {result['bearer_over_basic_rps']:.3f}, CPU {result['bearer_over_basic_cpu']:.3f}"
        )


if __name__ == "__main__":
    main()
