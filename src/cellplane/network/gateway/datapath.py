"""The gateway's data-path thread: an event loop of its own that owns the GTP-U socket and every routing domain's TUN.

Why a thread: the platform's event loop also runs the API, the AAA, the job runner and database pollers, tens of
milliseconds of ORM work at a time; a device packet that arrives then waits for all of it (the p99 of
bench/dataplane.py's round trips). Here packets are read and written by a loop that does nothing else, and the GIL is
handed over at most every SWITCH_INTERVAL (Python's default is 5 ms) when both threads want it; the system calls that
are most of a packet's cost (a TUN write runs the domain's forwarding and nftables) release it anyway.

One writer: every session counter and policer bucket is changed on this thread only. The control side (the platform's
loop) asks for sends through `call` (IP Commands to devices) or `run_coroutine` (generated downlink), and reads the
counters, which are plain integers. An ended session leaves the user path on this thread, after what was queued for
it is counted, and only then is its Accounting Stop made (gateway.py `_retire`): the Stop holds every packet.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger("cellplane.gateway.datapath")

T = TypeVar("T")
# How long a thread that wants the GIL waits before the holder must let go (seconds). Python's 5 ms default is a
# data packet's worst wait behind the control loop's Python code; half a millisecond bounds it below the 1 ms target
# at the cost of more hand-overs when both threads are busy.
SWITCH_INTERVAL = 0.0005
STOP_PATIENCE = 5.0  # seconds to wait for the thread's loop to do a step asked of it before giving up


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop  # uvicorn[standard]'s; the platform's own loop is one too
    except ImportError:  # pragma: no cover - uvloop is a dependency, but the stdlib loop works as well
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


class DataPath:
    """An event loop on a thread of its own; a component of the gateway (start/stop)."""

    def __init__(self, name: str = "cellplane-datapath") -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        loop = _new_loop()
        ready = threading.Event()
        self.loop = loop
        self._thread = threading.Thread(target=self._run, args=(loop, ready), name=self.name, daemon=True)
        self._thread.start()
        ready.wait()
        if sys.getswitchinterval() > SWITCH_INTERVAL:
            sys.setswitchinterval(SWITCH_INTERVAL)

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def stop(self) -> None:
        """Stop the loop after what was asked of it so far, and wait for the thread."""
        thread, loop = self._thread, self.loop
        if thread is None or loop is None:
            return
        with contextlib.suppress(RuntimeError):  # already closed
            loop.call_soon_threadsafe(loop.stop)
        thread.join(STOP_PATIENCE)
        if thread.is_alive():
            log.warning("data-path thread did not stop within %s s", STOP_PATIENCE)
        self._thread = None
        self.loop = None

    # --- asking the thread ----------------------------------------------------------------------------------------

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` on the data path soon (here and now while it is not running); fire and forget."""
        if self.loop is None or not self.running:
            fn(*args)
            return
        self.loop.call_soon_threadsafe(fn, *args)

    def submit(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        """`fn(*args)` on the data path; its result (or exception) in the returned future."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def step() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args))
            except BaseException as error:  # handed to whoever waits
                future.set_exception(error)

        self.call(step)
        return future

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the data path, waiting for it (blocking: for rare steps such as removing a domain, which
        must not close a TUN the thread still reads)."""
        if threading.current_thread() is self._thread:
            return fn(*args)
        return self.submit(fn, *args).result(STOP_PATIENCE)

    async def run_async(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the data path, awaited from another loop; RuntimeError when the thread stopped first."""
        try:
            return await asyncio.wait_for(asyncio.wrap_future(self.submit(fn, *args)), STOP_PATIENCE)
        except TimeoutError:
            raise RuntimeError("the data path did not run the step asked of it") from None

    async def run_coroutine(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """A coroutine run on the data path's loop (one that sends packets), awaited from another loop."""
        if self.loop is None or not self.running:
            return await coroutine
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))
