"""An idle job runner (issue 16): it does not claim every `poll_interval` (each claim is a transaction on the event
loop the gateway's packets share), yet a job due later still runs when it falls due, and one committed by another
process without waking this one is found within `idle_poll`."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from cellplane.jobs.runner import JobRunner
from cellplane.services.context import PlatformContext
from cellplane.services.outbox import enqueue
from cellplane.store.models import Job


def recording_runner(ctx: PlatformContext, kind: str, ran: list[float], **options: Any) -> JobRunner:
    async def handler(_ctx: PlatformContext, _payload: dict[str, Any]) -> None:
        ran.append(time.monotonic())

    return JobRunner(ctx, {kind: handler}, **options)


async def first_run(runner: JobRunner, ran: list[float]) -> None:
    """Wait up to 5 s for the runner's first job to run, then stop the runner."""
    for _ in range(100):
        if ran:
            break
        await asyncio.sleep(0.05)
    await runner.stop()
    assert ran, "the job never ran"


async def test_an_idle_runner_claims_once_per_idle_poll(ctx: PlatformContext) -> None:
    runner = recording_runner(ctx, "idle-quiet", [], poll_interval=0.05, idle_poll=1.0)
    claims = 0
    claim = runner.claim

    async def counted(limit: int) -> list[Job]:
        nonlocal claims
        claims += 1
        return await claim(limit)

    runner.claim = counted  # type: ignore[method-assign]
    runner.start()
    await asyncio.sleep(2.5)
    await runner.stop()
    # Polling every poll_interval would have claimed about 50 times.
    assert 1 <= claims <= 5


async def test_a_job_due_later_runs_when_it_falls_due(ctx: PlatformContext) -> None:
    ran: list[float] = []
    runner = recording_runner(ctx, "idle-later", ran, poll_interval=0.05, idle_poll=10.0)
    runner.start()
    await asyncio.sleep(0.3)  # idle: asleep for up to idle_poll
    async with ctx.sessions() as session, session.begin():
        enqueue(session, "idle-later", {}, delay=0.5)
    committed = time.monotonic()
    ctx.wake_workers()  # as every caller of enqueue does after its commit
    await first_run(runner, ran)
    assert 0.4 <= ran[0] - committed < 3.0  # at its run_at, not at the next idle poll (10 s)


async def test_a_job_committed_without_a_wake_is_found_within_idle_poll(ctx: PlatformContext) -> None:
    ran: list[float] = []
    runner = recording_runner(ctx, "idle-elsewhere", ran, poll_interval=0.05, idle_poll=1.0)
    runner.start()
    await asyncio.sleep(0.3)
    async with ctx.sessions() as session, session.begin():  # another node's API: no wake-up reaches this runner
        enqueue(session, "idle-elsewhere", {})
    committed = time.monotonic()
    await first_run(runner, ran)
    assert ran[0] - committed < 2.5
