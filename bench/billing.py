"""Benchmark: one billing report of 100,000 Things (issue 18; target < 10 s), on SQLite and on PostgreSQL.

Data: a fresh database per backend; `cellplane admin provision-sims --product things --count N --account AC...`;
then, by SQL (what a month of the platform would have written): three Things in four ACTIVE since last month
(a state change row each, the fourth SUSPENDED since last month), and one hourly usage bucket per Thing this
month with data and SMS. `ANALYZE` (VACUUM ANALYZE on PostgreSQL) as autovacuum would.

Measure: `cellplane up` serves `GET /things/v1/billingReports?cycle=<this month>` as JSON and as CSV; over the
inline threshold it answers 302 and the client follows to the stored download. The time is the whole exchange
(request, rating, rendering, storing, the 302, the download), wall clock at the client; median of `--repeats`.
Results go to bench/RESULTS.md between this script's markers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, select, text, update

from api_data import CLI, WORK, Backend, free_port, run_async, sh
from cellplane.domain.billing import add_months
from cellplane.store.db import make_engine
from cellplane.store.models import Sim, ThingStateChange, UsageBucket

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BEGIN, END = "<!-- billing: generated begin -->", "<!-- billing: generated end -->"


async def load(url: str, account_sid: str) -> int:
    now = datetime.now(UTC)
    hour = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_month = add_months(hour, -1) + timedelta(days=3)
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            sids = [row[0] for row in await connection.execute(select(Sim.sid).where(Sim.account_sid == account_sid))]
            changes, buckets = [], []
            for index, sid in enumerate(sids):
                status = "inactive" if index % 4 == 3 else "active"
                changes.append({"account_sid": account_sid, "sim_sid": sid, "status": status, "at": last_month})
                buckets.append(
                    {
                        "account_sid": account_sid,
                        "sim_sid": sid,
                        "network_sid": "",
                        "hour": hour,
                        "bytes_up": 1000 * index,
                        "bytes_down": 333_333,
                        "sms_to_sim": index % 3,
                        "sms_from_sim": 1,
                    }
                )
            await connection.execute(update(Sim).where(Sim.account_sid == account_sid).values(status="active"))
            await connection.execute(insert(ThingStateChange), changes)
            await connection.execute(insert(UsageBucket), buckets)
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            for table in ("sims", "things_state_changes", "usage_buckets"):
                vacuum = "VACUUM ANALYZE" if url.startswith("postgresql") else "ANALYZE"
                await autocommit.execute(text(f"{vacuum} {table}"))
        return len(sids)
    finally:
        await engine.dispose()


def serve(backend: Backend) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = backend.env | {"CELLPLANE_PORT": str(port)}
    log = (WORK / f"billing-{backend.name}.log").open("wb")
    process = subprocess.Popen([*CLI, "up"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=backend.data_dir)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.3)
    process.terminate()
    raise RuntimeError(f"cellplane up did not answer, see {log.name}")


def timed(client: httpx.Client, cycle: str, accept: str) -> tuple[float, int, str]:
    started = time.perf_counter()
    response = client.get("/things/v1/billingReports", params={"cycle": cycle}, headers={"Accept": accept})
    first = response.status_code
    if first == 302:
        response = client.get(response.headers["location"], headers={"Accept": accept})
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text[:500]
    total = (
        response.json()["total"]
        if accept == "application/json"
        else response.text.rsplit("\r\n", 2)[-2].rsplit(",", 1)[1]
    )
    return elapsed, first, total


def bench(name: str, things: int, repeats: int) -> dict[str, Any]:
    backend = Backend(name, prefix="billing")
    sh(*CLI, "db", "upgrade", env=backend.env, cwd=backend.data_dir)
    account = json.loads(backend.admin("create-account", "--friendly-name", "bench", "--json"))
    started = time.monotonic()
    backend.admin("provision-sims", "--count", str(things), "--product", "things", "--account", account["account_sid"])
    loaded = run_async(lambda: load(backend.url, account["account_sid"]))
    print(f"  {name}: {loaded} Things loaded ({time.monotonic() - started:.0f} s)")
    process, base = serve(backend)
    try:
        cycle = datetime.now(UTC).strftime("%Y-%m")
        auth = (account["account_sid"], account["auth_token"])
        results: dict[str, Any] = {"backend": name, "things": loaded}
        with httpx.Client(base_url=base, auth=auth, timeout=300) as client:
            for label, accept in (("json", "application/json"), ("csv", "text/csv")):
                runs = [timed(client, cycle, accept) for _ in range(repeats)]
                results[label] = {
                    "median_s": statistics.median(run[0] for run in runs),
                    "max_s": max(run[0] for run in runs),
                    "status": runs[0][1],
                    "total": runs[0][2],
                }
                print(f"  {name} {label}: {results[label]}")
        return results
    finally:
        process.terminate()
        process.wait(timeout=30)
        backend.drop()


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; "
        f"load average at the end {load} (a shared machine: other programs ran meanwhile)"
    )


def record(results: list[dict[str, Any]], things: int, repeats: int) -> None:
    rows = [
        f"| {r['backend']} | {r['things']:,} | {r[kind]['median_s']:.2f} s | {r[kind]['max_s']:.2f} s | "
        f"{r[kind]['status']} | {kind.upper()} |"
        for r in results
        for kind in ("json", "csv")
    ]
    block = "\n".join(
        [
            BEGIN,
            f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; {things:,} Things, median of {repeats}.",
            "",
            "| backend | Things | median | max | first status | format |",
            "|---|---|---|---|---|---|",
            *rows,
            END,
        ]
    )
    content = RESULTS.read_text()
    if BEGIN in content:
        head, _, rest = content.partition(BEGIN)
        content = head + block + rest.partition(END)[2]
    else:
        content += "\n" + block + "\n"
    RESULTS.write_text(content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--things", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    results = [bench(name, args.things, args.repeats) for name in args.backends.split(",")]
    record(results, args.things, args.repeats)


if __name__ == "__main__":
    main()
