"""Fenced work (issue 21) on SQLite and PostgreSQL: two runner processes on one database, each stopped with SIGSTOP
now and then for longer than the lease (a live runner renews its leases, so only a paused or dead one loses its
jobs; a few handlers are also slower than the lease, and keep their job), and no job's final status written by a
stale claim; two holders of a singleton lease whose epochs strictly increase and whose writes never overlap.

Counts: JOBS jobs per backend (1,000, not the issue's 10,000: two processes, a 0.5 s lease, 15% of runs failing
and retried; the file takes about a minute on a quiet 2-core machine, more under load). Every write either process
tries is logged with its claim epoch and whether it applied, and checked against the final rows.
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, text

from cellplane.store.db import make_engine
from cellplane.store.models import Job
from tests.support.db import migrated_database
from tests.support.fenced_worker import KIND

JOBS = 1_000
LEASE = 0.5
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from migrated_database(request.param, tmp_path_factory.mktemp("fencing"))


def _db(url: str, work: Any) -> Any:
    async def _run() -> Any:
        engine = make_engine(url)
        try:
            async with engine.begin() as connection:
                return await work(connection)
        finally:
            await engine.dispose()

    return asyncio.run(_run())


def _workers(args: list[list[str]], seconds: float) -> None:
    """Run the worker processes to their end, each stopped (SIGSTOP) now and then for longer than the lease."""
    procs = [subprocess.Popen([sys.executable, "-m", "tests.support.fenced_worker", *a], cwd=ROOT) for a in args]
    rng = random.Random(21)
    deadline = time.monotonic() + seconds
    try:
        while any(p.poll() is None for p in procs):
            assert time.monotonic() < deadline, "the workers did not finish in time"
            time.sleep(rng.uniform(0.2, 0.6))
            victim = rng.choice(procs)
            if victim.poll() is None and rng.random() < 0.5:
                victim.send_signal(signal.SIGSTOP)
                time.sleep(rng.uniform(1.2 * LEASE, 2.5 * LEASE))
                victim.send_signal(signal.SIGCONT)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
            p.wait()
    assert [p.returncode for p in procs] == [0] * len(procs)


def _lines(*paths: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for path in paths for line in path.read_text().splitlines()]


def test_no_final_status_from_a_stale_claim(database_url: str, tmp_path: Path) -> None:
    async def plant(connection: Any) -> None:
        jobs = [{"kind": KIND, "payload": {"n": n}, "max_attempts": 4} for n in range(JOBS)]
        await connection.execute(insert(Job), jobs)

    _db(database_url, plant)
    logs = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    _workers([["jobs", database_url, str(log), str(seed), str(LEASE)] for seed, log in enumerate(logs)], 120)

    async def final(connection: Any) -> dict[int, tuple[str, int]]:
        rows = await connection.execute(select(Job.id, Job.status, Job.claim_epoch).where(Job.kind == KIND))
        return {id_: (status, epoch) for id_, status, epoch in rows}

    rows = _db(database_url, final)
    writes: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for write in _lines(*logs):
        writes[write["id"]].append(write)
    assert len(rows) == JOBS
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
    print(f"\n{JOBS} jobs, {sum(len(w) for w in writes.values())} writes tried, {stale} stale writes refused")


def test_singleton_epochs_increase_and_never_overlap(database_url: str, tmp_path: Path) -> None:
    serial = "BIGSERIAL" if database_url.startswith("postgresql") else "INTEGER"
    extra = "" if database_url.startswith("postgresql") else " AUTOINCREMENT"

    async def table(connection: Any) -> None:
        await connection.execute(
            text(f"CREATE TABLE fence_log (id {serial} PRIMARY KEY{extra}, epoch BIGINT NOT NULL, seq INT NOT NULL)")
        )

    _db(database_url, table)
    logs = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    _workers([["singleton", database_url, str(log), str(seed), str(LEASE), "5"] for seed, log in enumerate(logs)], 60)

    async def written(connection: Any) -> list[tuple[int, int]]:
        return [tuple(row) for row in await connection.execute(text("SELECT epoch, seq FROM fence_log ORDER BY id"))]

    rows = _db(database_url, written)
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
    print(f"\n{len(taken)} epochs taken, {len(rows)} writes applied, {len(refused)} stale writes refused")
