"""Live updates for open console pages, by server-sent events.

One feed per process, not a loop per page: a single task looks for what changed (new connection events, the
status of the SIMs and commands that open pages show) only while someone is watching, woken by every committed
API change (`ctx.wake_workers`) and at least every `interval` seconds for changes made by the network side.
Each open page holds one subscription and receives only its own account's news, as HTML fragments to swap in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from cellplane.services import overview, things_bulk
from cellplane.services.context import PlatformContext
from cellplane.store.models import BulkAction, BulkItem, ConnectionEvent

log = logging.getLogger("cellplane.console")
FAILED_SHOWN = 100  # failed items a bulk action's page lists (the first by position; the API pages through all)
KEEPALIVE = 15.0  # seconds between comments that keep proxies from closing an idle stream
CLOSE = ""  # put on a subscription's queue when the platform stops: its stream ends

Renderer = Callable[[str, dict[str, object]], str]


@dataclass(eq=False)
class Subscription:
    """One open page: its account, the SIM it shows (if any), the commands it waits on."""

    account_sid: str
    sim_sid: str | None = None
    bulk_sid: str | None = None  # a bulk action's page: its progress until it ends
    commands: set[str] = field(default_factory=set)
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(maxsize=200))
    # Where the page's own render left the events: the stream first sends what came after it.
    since: str | None = None
    delivered_upto: str = ""
    sim_state: tuple[str, str | None] | None = None
    command_states: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    bulk_state: tuple[str, int, int, int] | None = None
    failed_shown: int | None = None  # the failures the page's list holds, as last sent (None: as rendered)
    failed_full: bool = False  # the list holds FAILED_SHOWN and says more failed: later ones do not change it

    def push(self, message: dict[str, object]) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # a stalled browser misses updates, never blocks the feed
            self.queue.put_nowait(json.dumps(message))


class LiveFeed:
    """The process's one change watcher; pages subscribe, the watcher renders and pushes fragments."""

    def __init__(self, ctx: PlatformContext, render: Renderer, interval: float = 0.5) -> None:
        self.ctx = ctx
        self.render = render
        self.interval = interval
        self.subscriptions: set[Subscription] = set()
        self._cursor: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = ctx.new_waker()
        self._watchers = asyncio.Event()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="console-live-feed")

    def release(self) -> None:
        """End every open stream (safe from a signal handler): the server is about to stop, and it waits for open
        connections before it shuts its components down, so the streams must end first."""
        loop = getattr(self, "_loop", None)
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._close_streams)

    def _close_streams(self) -> None:
        for sub in list(self.subscriptions):
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.put_nowait(CLOSE)

    async def stop(self) -> None:
        self._close_streams()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def watch_command(self, account_sid: str, sim_sid: str, command_sid: str) -> None:
        """A command sent from a page: every page of that SIM follows it to its final status."""
        for sub in self.subscriptions:
            if sub.account_sid == account_sid and sub.sim_sid == sim_sid:
                sub.commands.add(command_sid)
        self._wake.set()

    async def stream(self, subscription: Subscription) -> AsyncIterator[str]:
        """The text/event-stream of one page, until the browser goes away."""
        self.subscriptions.add(subscription)
        self._watchers.set()
        self._wake.set()
        try:
            yield "retry: 2000\n\n"
            while True:
                try:
                    message = await asyncio.wait_for(subscription.queue.get(), KEEPALIVE)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if message == CLOSE:
                    return
                yield f"data: {message}\n\n"
        finally:
            self.subscriptions.discard(subscription)

    async def _run(self) -> None:
        while True:
            if not self.subscriptions:
                self._watchers.clear()
                self._cursor = None  # pages opened later start from their own first render
                await self._watchers.wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            try:
                await self._tick()
            except Exception:  # a failed look is retried on the next tick; the feed must not die
                log.exception("console live feed: looking for changes failed")

    async def _tick(self) -> None:
        subs = list(self.subscriptions)
        if not subs:
            return
        sims = {sub.sim_sid for sub in subs if sub.sim_sid}
        commands = {sid for sub in subs for sid in sub.commands}
        bulks = {sub.bulk_sid for sub in subs if sub.bulk_sid}
        async with self.ctx.sessions() as session:
            if self._cursor is None:
                self._cursor = await overview.event_cursor(session)
            found = await overview.changes(session, self._cursor, sims, commands)
            progress = await things_bulk.progress(session, bulks)
            failures = {
                sid: await things_bulk.failures(session, sid, FAILED_SHOWN)
                for sid in self._failures_to_read(subs, progress)
            }
            for sub in subs:
                if sub.since is not None:
                    missed = await overview.catch_up(session, sub.account_sid, sub.sim_sid, sub.since)
                    sub.since = None
                    for event in missed:
                        sub.push(self._event_message(event))
                    sub.delivered_upto = missed[-1].sid if missed else ""
        self._cursor = found.cursor
        for sub in subs:
            self._deliver(sub, found)
            if sub.bulk_sid is not None and sub.bulk_sid in progress:
                self._deliver_bulk(sub, progress[sub.bulk_sid], failures.get(sub.bulk_sid))

    @staticmethod
    def _failures_to_read(subs: list[Subscription], progress: dict[str, BulkAction]) -> set[str]:
        """The bulk actions whose failed-items list some open page shows short of what failed since it was sent."""
        wanted: set[str] = set()
        for sub in subs:
            bulk = progress.get(sub.bulk_sid or "")
            if bulk is None or bulk.account_sid != sub.account_sid or sub.failed_full:
                continue
            # A page's first look re-reads the list: failures may have come between its render and its stream.
            if bulk.failed > 0 and bulk.failed != sub.failed_shown:
                wanted.add(bulk.sid)
        return wanted

    def _deliver_bulk(self, sub: Subscription, bulk: BulkAction, failed: tuple[list[BulkItem], bool] | None) -> None:
        """A bulk action's counts and status, and its failed items, each time they change (its own account's only)."""
        if bulk.account_sid != sub.account_sid:
            return
        state = (bulk.status, bulk.total, bulk.succeeded, bulk.failed)
        if state != sub.bulk_state:
            sub.bulk_state = state
            html = self.render("fragments/bulk_progress.html", {"bulk": bulk})
            sub.push({"target": f"progress-{sub.bulk_sid}", "mode": "replace", "html": html})
        if failed is not None:
            items, more = failed
            sub.failed_shown, sub.failed_full = bulk.failed, more
            html = self.render("fragments/bulk_failed.html", {"bulk": bulk, "failed": items, "more_failed": more})
            sub.push({"target": f"failed-{sub.bulk_sid}", "mode": "replace", "html": html})

    def _deliver(self, sub: Subscription, found: overview.Changes) -> None:
        for event in found.events:
            if event.sid <= sub.delivered_upto:
                continue  # already sent by the catch-up
            if event.account_sid == sub.account_sid and sub.sim_sid in (None, event.sim_sid):
                sub.push(self._event_message(event))
        if sub.sim_sid is not None and sub.sim_sid in found.sims:
            state = found.sims[sub.sim_sid]
            if state != sub.sim_state:
                sub.sim_state = state
                html = self.render("fragments/sim_status.html", {"status": state[0], "pending": state[1]})
                sub.push({"target": "sim-status", "mode": "replace", "html": html})
        for sid in list(sub.commands):
            if sid not in found.commands:
                continue
            state = found.commands[sid]
            if state != sub.command_states.get(sid):
                sub.command_states[sid] = state
                html = self.render("fragments/command_status.html", {"sid": sid, "status": state[0], "error": state[1]})
                sub.push({"target": f"status-{sid}", "mode": "replace", "html": html})
            if state[0] not in ("queued", "scheduled"):
                sub.commands.discard(sid)

    def _event_message(self, event: ConnectionEvent) -> dict[str, object]:
        html = self.render("fragments/event_row.html", {"event": event})
        return {"target": "events", "mode": "prepend", "html": html}
