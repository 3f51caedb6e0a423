"""Bulk action benchmark (issue 18): one bulk action activating N Things (default 100,000) on SQLite and PostgreSQL,
with the API's latency for other requests while it runs.

For each backend: a fresh database and `cellplane up` on free ports (AAA, gateway and emulator off: this measures
the platform's job path and API); one account; N Things provisioned through /admin/v1/Sims (not timed). Then
`POST /things/v1/bulkActions {"action": "activate", "selection": {"thingsGroupId": <default group>}}` and the clock
runs until its `status` is `completed` (every item accepted through the single-Thing service code, its state change
queued) and, separately, until every Thing is ACTIVE (the `sim_update` jobs done). Meanwhile one client asks
`GET /things/v1/things/{id}` of random Things back to back; its p50/p99 are reported, and, as the reference of the
same run, the same client's p50/p99 over 10 s just before the action (nothing else running on the platform).

    .venv/bin/python bench/bulk.py --count 100000 --backends sqlite postgres

`--workers-apart` (PostgreSQL only) runs the same platform as two processes, `--role api` and `--role workers`
(docs/DEPLOY.md), so the bulk's jobs run beside the API instead of on its event loop.

`--record LABEL` appends each run as a row of the generated table in bench/RESULTS.md (bulk section): the date, the
load average (1 min) when the action starts and ends, and LABEL naming the code measured. To compare with another
checkout in the same session, run this file with that checkout's interpreter (the platform started is its own):

    /tmp/ref/.venv/bin/python bench/bulk.py --count 100000 --backends postgres --record "main 96349d3"
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from cellplane.store.models import Sim

CLI = [sys.executable, "-m", "cellplane.cli.main"]
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BEGIN, END = "<!-- bulk: generated begin -->", "<!-- bulk: generated end -->"
HEADER = (
    "| date (UTC) | code | backend | Things | chunk | bulk completed, s | all ACTIVE, s | probes | p50 / p99 ms "
    "| idle p50 / p99 ms | load at start / end |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
)
PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/"
ACTION = os.environ.get("BENCH_BULK_ACTION", "activate")
PARAMETERS = {"addTags": {"tags": ["bench"]}}
IDLE_S = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _pg(statement: str) -> None:
    engine = create_async_engine(PG_ADMIN + "postgres", isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.exec_driver_sql(statement)
    await engine.dispose()


async def _active(url: str) -> int:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        count = (await connection.execute(select(func.count()).where(Sim.status == "active"))).scalar_one()
    await engine.dispose()
    return int(count)


def _start(env: dict[str, str], port: int, data_dir: Path, name: str, role: str | None) -> subprocess.Popen[bytes]:
    log = (data_dir / f"{name}.log").open("wb")
    roles = ["--role", role] if role else []
    return subprocess.Popen(
        [*CLI, "up", "--port", str(port), "--log-level", "warning", *roles],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=data_dir,
    )


def _healthy(base: str) -> None:
    for _ in range(900):
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)


def run(backend: str, count: int, chunk: int | None = None, workers_apart: bool = False) -> dict[str, float]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"cellplane-bench-bulk-{backend}-"))
    port = free_port()
    token = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELLPLANE_")}
    env.update(
        CELLPLANE_DATA_DIR=str(data_dir),
        CELLPLANE_ADMIN_TOKEN=token,
        CELLPLANE_RATE_LIMIT="0",
        CELLPLANE_SIM_UPDATE_DELAY="0",
        CELLPLANE_AAA_ENABLED="false",
        CELLPLANE_GATEWAY_ENABLED="false",
        CELLPLANE_SMSC_ENABLED="false",
    )
    if chunk is not None:
        env["CELLPLANE_BULK_CHUNK"] = str(chunk)
    database = f"sqlite+aiosqlite:///{data_dir / 'cellplane.db'}"
    if backend == "postgres":
        name = f"bench_bulk_{uuid.uuid4().hex[:8]}"
        asyncio.run(_pg(f"CREATE DATABASE {name}"))
        database = PG_ADMIN + name
        env["CELLPLANE_DATABASE_URL"] = database
    server = _start(env, port, data_dir, "server", "api" if workers_apart else None)
    workers: subprocess.Popen[bytes] | None = None
    base = f"http://127.0.0.1:{port}"
    try:
        _healthy(base)
        if workers_apart:  # started once the API's process has migrated the database
            workers_port = free_port()
            workers = _start(env, workers_port, data_dir, "workers", "workers")
            _healthy(f"http://127.0.0.1:{workers_port}")
        admin = ("admin", token)
        account = httpx.post(base + "/admin/v1/Accounts", data={"FriendlyName": "bench"}, auth=admin).json()
        auth = (account["account_sid"], account["auth_token"])
        sids: list[str] = []
        for start in range(0, count, 10_000):
            made = httpx.post(
                base + "/admin/v1/Sims",
                auth=admin,
                timeout=600,
                data={
                    "Count": str(min(10_000, count - start)),
                    "Product": "things",
                    "AccountSid": account["account_sid"],
                },
            )
            made.raise_for_status()
            sids.extend(item["sid"] for item in made.json()["sims"])
        things = httpx.Client(base_url=base + "/things/v1", auth=auth, timeout=60)
        group = things.get("/thingsGroups").json()["items"][0]["id"]
        latencies: list[float] = []
        stop = threading.Event()

        def probe() -> None:
            with httpx.Client(base_url=base + "/things/v1", auth=auth, timeout=60) as client:
                while not stop.is_set():
                    started = time.perf_counter()
                    client.get(f"/things/{random.choice(sids)}").raise_for_status()
                    latencies.append(time.perf_counter() - started)

        # The reference, measured in the same run: the same probe for IDLE_S seconds with no bulk action running.
        idle_stop = threading.Event()
        idle: list[float] = []

        def idle_probe() -> None:
            with httpx.Client(base_url=base + "/things/v1", auth=auth, timeout=60) as client:
                while not idle_stop.is_set():
                    started = time.perf_counter()
                    client.get(f"/things/{random.choice(sids)}").raise_for_status()
                    idle.append(time.perf_counter() - started)

        idler = threading.Thread(target=idle_probe, daemon=True)
        idler.start()
        time.sleep(IDLE_S)
        idle_stop.set()
        idler.join()
        prober = threading.Thread(target=probe, daemon=True)
        started = time.monotonic()
        posted = things.post(
            "/bulkActions",
            json={"action": ACTION, "parameters": PARAMETERS.get(ACTION), "selection": {"thingsGroupId": group}},
        )
        posted.raise_for_status()
        load_at_start = os.getloadavg()[0]
        prober.start()
        location = posted.headers["Location"].removeprefix("/things/v1")
        while (state := things.get(location).json())["status"] != "completed":
            time.sleep(0.5)
        bulk_done = time.monotonic() - started
        while ACTION == "activate" and asyncio.run(_active(database)) < count:
            time.sleep(0.5)
        all_active = time.monotonic() - started
        load_at_end = os.getloadavg()[0]
        stop.set()
        prober.join()
        ordered = sorted(latencies)
        quiet = sorted(idle)
        return {
            "count": count,
            "bulk_completed_s": round(bulk_done, 1),
            "all_active_s": round(all_active, 1),
            "succeeded": state["succeeded"],
            "probes": len(ordered),
            "p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 1),
            "idle_probes": len(quiet),
            "idle_p50_ms": round(statistics.median(quiet) * 1000, 1),
            "idle_p99_ms": round(quiet[int(len(quiet) * 0.99) - 1] * 1000, 1),
            # The machine's load average (1 min) when the action was posted and when every Thing was ACTIVE.
            "load_start": round(load_at_start, 1),
            "load_end": round(load_at_end, 1),
            "started": time.time() - all_active,
        }
    finally:
        for process in (server, workers):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
        if backend == "postgres":
            asyncio.run(_pg(f"DROP DATABASE IF EXISTS {database.rsplit('/', 1)[1]} WITH (FORCE)"))


def record(label: str, backend: str, chunk: int | None, workers_apart: bool, result: dict[str, float]) -> None:
    """Append the run as a row of the generated table in RESULTS.md (the table is created at the end of the bulk
    section's first paragraph the first time)."""
    text = RESULTS.read_text()
    if BEGIN not in text:
        anchor = "## Bulk actions (bench/bulk.py)\n"
        text = text.replace(anchor, f"{anchor}\n{BEGIN}\n{HEADER}{END}\n", 1)
    where = backend + (", API and workers apart" if workers_apart else "")
    row = (
        f"| {time.strftime('%Y-%m-%d %H:%M', time.gmtime(result['started']))} | {label} | {where} "
        f"| {int(result['count']):,} | {chunk or 'default'} | {result['bulk_completed_s']} | {result['all_active_s']} "
        f"| {int(result['probes']):,} | {result['p50_ms']} / {result['p99_ms']} "
        f"| {result['idle_p50_ms']} / {result['idle_p99_ms']} | {result['load_start']} / {result['load_end']} |\n"
    )
    RESULTS.write_text(text.replace(END, row + END, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--chunk", type=int, default=None, help="CELLPLANE_BULK_CHUNK (default: the platform's)")
    parser.add_argument("--workers-apart", action="store_true", help="API and workers as two processes (PostgreSQL)")
    parser.add_argument("--record", metavar="LABEL", help="append each run to RESULTS.md, LABEL naming the code")
    args = parser.parse_args()
    if args.workers_apart and args.backends != ["postgres"]:
        parser.error("--workers-apart runs on PostgreSQL only (--backends postgres): nodes share PostgreSQL")
    for backend in args.backends:
        result = run(backend, args.count, args.chunk, args.workers_apart)
        print(backend, result, flush=True)
        if args.record:
            record(args.record, backend, args.chunk, args.workers_apart, result)


if __name__ == "__main__":
    main()
