"""A worker process for the fencing tests (tests/e2e/test_fenced_work.py): a real JobRunner, or a holder of a
singleton lease, on a shared database, logging every write it tries and whether it applied (JSON lines).

    python -m tests.support.fenced_worker jobs URL LOG SEED LEASE
    python -m tests.support.fenced_worker singleton URL LOG SEED LEASE SECONDS
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sys
from typing import Any

from sqlalchemy import func, select, text

from cellplane.jobs.runner import JobRunner
from cellplane.jobs.singleton import LeaseLost, Singleton
from cellplane.services.context import PlatformContext
from cellplane.store.db import make_engine, make_sessionmaker
from cellplane.store.models import Job

KIND = "fence-test"
SINGLETON = "fence-test"


def _context(url: str) -> PlatformContext:
    engine = make_engine(url)
    return PlatformContext(sessions=make_sessionmaker(engine), engine=engine)


async def run_jobs(url: str, log_path: str, seed: int, lease: float) -> None:
    """Run every job to the end; a few handlers are slower than the lease (renewed: they keep their job), some fail
    (and are retried or dead). Claims lapse when the test stops this whole process (SIGSTOP)."""
    rng = random.Random(seed)
    ctx = _context(url)

    async def handler(_ctx: PlatformContext, payload: dict[str, Any]) -> None:
        roll = rng.random()
        if roll < 0.01:
            await asyncio.sleep(rng.uniform(1.5 * lease, 2 * lease))  # slower than the lease, on a live node
        if rng.random() < 0.15:
            raise RuntimeError("failed on purpose")

    runner = JobRunner(ctx, {KIND: handler}, concurrency=32, poll_interval=0.02, lease_seconds=lease, backoff_base=0.01)
    with open(log_path, "a", buffering=1) as log:

        def observe(job: Job, status: str, applied: bool) -> None:
            log.write(json.dumps({"id": job.id, "epoch": job.claim_epoch, "status": status, "applied": applied}) + "\n")

        runner.observers.append(observe)
        runner.start()
        try:
            while True:
                await asyncio.sleep(0.2)
                async with ctx.sessions() as session:
                    left = await session.scalar(select(func.count()).where(Job.status.in_(("pending", "running"))))
                if not left:
                    break
        finally:
            await runner.stop()
    assert ctx.engine is not None
    await ctx.engine.dispose()


async def run_singleton(url: str, log_path: str, seed: int, lease: float, seconds: float) -> None:
    """Take the lease whenever it is free, write through it with pauses (some past the lease), until `seconds`."""
    rng = random.Random(seed)
    ctx = _context(url)
    singleton = Singleton(ctx, SINGLETON, lease_seconds=lease)
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    with open(log_path, "a", buffering=1) as log:
        while loop.time() < end:
            epoch = await singleton.acquire()
            if epoch is None:
                await asyncio.sleep(rng.uniform(0.005, 0.03))
                continue
            log.write(json.dumps({"took": epoch, "holder": singleton.holder}) + "\n")
            for seq in range(rng.randint(3, 12)):
                try:
                    async with singleton.fenced() as session:
                        await session.execute(
                            text("INSERT INTO fence_log (epoch, seq) VALUES (:epoch, :seq)"),
                            {"epoch": epoch, "seq": seq},
                        )
                        if rng.random() < 0.05:  # a pause inside the transaction: the row lock holds others off
                            await asyncio.sleep(rng.uniform(0.5 * lease, 1.5 * lease))
                    applied = True
                except LeaseLost:
                    applied = False
                log.write(json.dumps({"epoch": epoch, "seq": seq, "applied": applied}) + "\n")
                if not applied:
                    break
                # Between writes: mostly short, sometimes past the lease (the other process takes over meanwhile).
                await asyncio.sleep(rng.uniform(1.2 * lease, 2 * lease) if rng.random() < 0.1 else rng.uniform(0, 0.01))
            else:
                if rng.random() < 0.5:
                    await singleton.release()
    assert ctx.engine is not None
    await ctx.engine.dispose()


def main(argv: list[str]) -> None:
    # Each refused write is logged as a warning; the test reads the JSON lines, not thousands of log lines.
    logging.getLogger("cellplane").setLevel(logging.ERROR)
    mode, url, log_path, seed, lease = argv[:5]
    if mode == "jobs":
        asyncio.run(run_jobs(url, log_path, int(seed), float(lease)))
    else:
        asyncio.run(run_singleton(url, log_path, int(seed), float(lease), float(argv[5])))


if __name__ == "__main__":
    main(sys.argv[1:])
