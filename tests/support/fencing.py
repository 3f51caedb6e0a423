"""The fenced-work scenario (issue 21), shared by the quick check (tests/e2e/test_fenced_work.py, 1,000 jobs on
SQLite and PostgreSQL) and the cluster test at the issue's scale (tests/cluster/test_fenced_work_scale.py, 10,000
jobs on PostgreSQL): two worker processes (tests/support/fenced_worker.py) on one database, each stopped with
SIGSTOP now and then for longer than the lease, every write they try logged with its claim epoch and checked
against the final rows.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text

from cellplane.store.db import make_engine
from cellplane.store.models import Job
from tests.support.fenced_worker import KIND

ROOT = Path(__file__).resolve().parents[2]


def on_database(url: str, work: Any) -> Any:
    """Run `work(connection)` in one committed transaction (from a synchronous test)."""

    async def _run() -> Any:
        engine = make_engine(url)
        try:
            async with engine.begin() as connection:
                return await work(connection)
        finally:
            await engine.dispose()

    return asyncio.run(_run())


def run_workers(args: list[list[str]], seconds: float, lease: float, seed: int = 21) -> int:
    """Run the worker processes to their end, each stopped (SIGSTOP) now and then for longer than the lease;
    how many pauses there were."""
    procs = [subprocess.Popen([sys.executable, "-m", "tests.support.fenced_worker", *a], cwd=ROOT) for a in args]
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    pauses = 0
    try:
        while any(p.poll() is None for p in procs):
            assert time.monotonic() < deadline, "the workers did not finish in time"
            time.sleep(rng.uniform(0.2, 0.6))
            victim = rng.choice(procs)
            if victim.poll() is None and rng.random() < 0.5:
                victim.send_signal(signal.SIGSTOP)
                time.sleep(rng.uniform(1.2 * lease, 2.5 * lease))
                victim.send_signal(signal.SIGCONT)
                pauses += 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
            p.wait()
    assert [p.returncode for p in procs] == [0] * len(procs)
    return pauses


def _lines(*paths: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for path in paths for line in path.read_text().splitlines()]


def jobs_scenario(url: str, directory: Path, jobs: int, lease: float, seconds: float) -> str:
    """`jobs` jobs run by two paused-now-and-then runners; asserts no final status came from a stale claim.
    A one-line summary."""

    async def plant(connection: Any) -> None:
        for start in range(0, jobs, 1000):
            batch = [
                {"kind": KIND, "payload": {"n": n}, "max_attempts": 4} for n in range(start, min(jobs, start + 1000))
            ]
            await connection.execute(insert(Job), batch)

    on_database(url, plant)
    logs = [directory / "a.jsonl", directory / "b.jsonl"]
    pauses = run_workers(
        [["jobs", url, str(log), str(seed), str(lease)] for seed, log in enumerate(logs)], seconds, lease
    )

    async def final(connection: Any) -> dict[int, tuple[str, int]]:
        rows = await connection.execute(select(Job.id, Job.status, Job.claim_epoch).where(Job.kind == KIND))
        return {id_: (status, epoch) for id_, status, epoch in rows}

    rows = on_database(url, final)
    writes: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for write in _lines(*logs):
        writes[write["id"]].append(write)
    assert len(rows) == jobs
    stale = 0
    for job_id, (status, epoch) in rows.items():
        assert status in ("done", "dead"), (job_id, status)
        mine = writes[job_id]
        applied = [w for w in mine if w["applied"]]
        # The final status is the one written by the job's latest claim, and by nobody else.
        last = [w for w in applied if w["epoch"] == epoch]
        assert [w["status"] for w in last] == [status], (job_id, mine)
        # Any earlier claim's applied write can only be a retry (a final one would have ended the job there).
        assert all(w["status"] == "pending" for w in applied if w["epoch"] < epoch), (job_id, mine)
        assert len({w["epoch"] for w in applied}) == len(applied), (job_id, mine)  # one write per claim
        refused = [w for w in mine if not w["applied"]]
        assert all(w["epoch"] < epoch for w in refused), (job_id, mine)  # only stale claims are refused
        stale += len(refused)
    # The pauses did make claims lapse and be taken over: the fencing was exercised, not only present.
    assert stale > 0
    tried = sum(len(w) for w in writes.values())
    return f"{jobs} jobs, {pauses} pauses, {tried} writes tried, {stale} stale writes refused"


def singleton_scenario(url: str, directory: Path, lease: float, holding: float, seconds: float) -> str:
    """Two holders of one singleton lease for `holding` seconds; asserts epochs strictly increase and epochs' writes
    never overlap. A one-line summary."""
    serial = "BIGSERIAL" if url.startswith("postgresql") else "INTEGER"
    extra = "" if url.startswith("postgresql") else " AUTOINCREMENT"

    async def table(connection: Any) -> None:
        await connection.execute(
            text(f"CREATE TABLE fence_log (id {serial} PRIMARY KEY{extra}, epoch BIGINT NOT NULL, seq INT NOT NULL)")
        )

    on_database(url, table)
    logs = [directory / "a.jsonl", directory / "b.jsonl"]
    args = [["singleton", url, str(log), str(seed), str(lease), str(holding)] for seed, log in enumerate(logs)]
    run_workers(args, seconds, lease)

    async def written(connection: Any) -> list[tuple[int, int]]:
        return [tuple(row) for row in await connection.execute(text("SELECT epoch, seq FROM fence_log ORDER BY id"))]

    rows = on_database(url, written)
    entries = _lines(*logs)
    taken = [e["took"] for e in entries if "took" in e]
    # Every epoch granted once, to one process: the database's conditional UPDATE raised it each time.
    assert len(taken) == len(set(taken)) and len(taken) >= 4, taken
    for log in logs:  # and each process saw them increase
        mine = [e["took"] for e in _lines(log) if "took" in e]
        assert mine == sorted(mine)
    # In commit order, writes never go back to an older epoch: epoch N's all land before any of N+1's.
    epochs = [epoch for epoch, _ in rows]
    assert epochs == sorted(epochs), epochs
    # Exactly what the holders were told applied is in the table; what was refused is not.
    applied = sorted((e["epoch"], e["seq"]) for e in entries if e.get("applied") is True)
    assert sorted(rows) == applied
    refused = [e for e in entries if e.get("applied") is False]
    assert refused, "no holder outlived its lease: the test did not exercise the fencing"
    return f"{len(taken)} epochs taken, {len(rows)} writes applied, {len(refused)} stale writes refused"
