"""The standalone emulator's run: attach a fleet of devices with a progress display, make traffic, serve the control
API if asked, and on Ctrl-C (or SIGTERM) detach every device before stopping."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import signal
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import uvicorn
from fastapi import FastAPI, Request
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from cellplane.cli.emulator import SimLine
from cellplane.emulator import DeviceView, Emulator, EmulatorConfig, SimRecord
from cellplane.emulator import http as emulator_http
from cellplane.emulator.http_wire import WireError, error_response
from cellplane.runtime.emulated import resolve_network

if TYPE_CHECKING:
    from cellplane.cli.emulator_traffic import Lane
    from cellplane.emulator.traffic_models import TrafficModel

CONNECTED = ("attached", "idle", "edrx")


@dataclass(frozen=True)
class FleetRun:
    sims: list[SimLine]
    mcc: str
    mnc: str
    rat: str
    gateway: tuple[str, int]
    gtpu_port: int
    upload: int
    every: float
    concurrency: int
    retries: int
    api: tuple[str, int] | None
    token: str | None
    once: bool
    seed: int | None
    # Real clients' traffic (--traffic URL), by device kind ("": every device without a kind of its own).
    models: dict[str, list[TrafficModel]] = field(default_factory=dict)

    def models_of(self, sim: SimLine) -> list[TrafficModel]:
        return self.models.get(sim.kind or "", []) or self.models.get("", [])


def run_fleet(plan: FleetRun) -> int:
    """The exit status: 0, or 1 when `--once` and some device never attached."""
    return asyncio.run(_main(plan))


async def _main(plan: FleetRun) -> int:
    by_iccid = {sim.iccid: sim for sim in plan.sims}

    async def lookup(iccid: str) -> SimRecord | None:
        sim = by_iccid.get(iccid)
        return SimRecord(iccid, sim.imsi) if sim is not None else None

    config = EmulatorConfig(
        gateway_host=plan.gateway[0],
        gateway_gtpc_port=plan.gateway[1],
        gateway_gtpu_port=plan.gtpu_port,
        seed=plan.seed,
    )
    emulator = Emulator(config, sim_lookup=lookup)
    console = Console()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await emulator.start()
    server: _ApiServer | None = None
    lanes: list[Lane] = []
    failed = False
    try:
        console.print(
            f"emulated RAN/SGW at GTP-C {_at(emulator.gtpc_address)}, GTP-U {_at(emulator.gtpu_address)} "
            f"-> gateway {_at(plan.gateway)} (GTP-U :{plan.gtpu_port})"
        )
        if plan.api is not None:
            server = await _ApiServer.start(control_app(emulator, plan.token or "", by_iccid), plan.api)
            console.print(f"control API at http://{_at(plan.api)}{emulator_http.PREFIX} (token auth)")
        await _until(stop, _attach_all(emulator, plan, console))
        if plan.upload and not stop.is_set():
            await _until(stop, _traffic(emulator, plan, console))
        if plan.models and not stop.is_set():
            lanes = await _lanes(emulator, plan)
            failed = await _model_round(lanes, console, stop)
        if plan.once:
            console.print(_states(emulator))
        else:
            console.print("[bold]Ctrl-C[/] detaches every device and stops.")
            await _watch(emulator, plan, console, stop, lanes)
        connected = all(d.state in CONNECTED for d in emulator.devices())
        return 0 if not plan.once or (connected and not failed) else 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if server is not None:
            await server.stop()
        if lanes:
            from cellplane.cli.emulator_traffic import close_lanes

            await close_lanes(lanes)
        await _detach_all(emulator, console)
        await emulator.stop()


async def _until(stop: asyncio.Event, work: Awaitable[object]) -> None:
    """Run `work`, abandoning it if Ctrl-C comes first."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    for pending in (task, stopper):
        if not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
    if task.done() and not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        console=console,
    )


async def _bounded(limit: int, items: Sequence[str], work: Callable[[str], Awaitable[None]]) -> None:
    gate = asyncio.Semaphore(limit)

    async def one(item: str) -> None:
        async with gate:
            await work(item)

    await asyncio.gather(*(one(item) for item in items))


async def _attach_all(emulator: Emulator, plan: FleetRun, console: Console) -> None:
    with _progress(console) as progress:
        task = progress.add_task("attaching", total=len(plan.sims), note="")
        tally: Counter[str] = Counter()

        async def power_on(iccid: str) -> None:
            sim = next(s for s in plan.sims if s.iccid == iccid)
            view = await emulator.power_on(iccid, mcc=plan.mcc, mnc=plan.mnc, rat=plan.rat, imei=sim.imei)
            tally[view.state] += 1
            progress.update(task, advance=1, note=", ".join(f"{n} {s}" for s, n in sorted(tally.items())))

        await _bounded(plan.concurrency, [s.iccid for s in plan.sims], power_on)
        for attempt in range(plan.retries):
            rejected = [d.iccid for d in emulator.devices() if d.state == "rejected"]
            if not rejected:
                break
            # A modem retries a refused attach after a while (the platform may just not know the SIM yet).
            await asyncio.sleep(1.0 + attempt)
            tally.clear()
            progress.update(task, description=f"retrying ({attempt + 1})", completed=0, total=len(rejected))

            async def again(iccid: str) -> None:
                view = await emulator.set_state(iccid, "attached")
                tally[view.state] += 1
                progress.update(task, advance=1, note=", ".join(f"{n} {s}" for s, n in sorted(tally.items())))

            await _bounded(plan.concurrency, rejected, again)


async def _traffic(emulator: Emulator, plan: FleetRun, console: Console | None) -> int:
    """Each connected device sends `plan.upload` octets; returns the octets sent."""
    ready = [d.iccid for d in emulator.devices() if d.state in CONNECTED]
    sent = 0
    with _progress(console or Console(quiet=True)) as progress:
        task = progress.add_task("traffic", total=len(ready), note=f"{plan.upload} bytes up each")

        async def send(iccid: str) -> None:
            nonlocal sent
            with contextlib.suppress(Exception):  # a device the network detached meanwhile sends nothing
                sent += (await emulator.traffic(iccid, up=plan.upload))["up_bytes"]
            progress.update(task, advance=1)

        await _bounded(plan.concurrency, ready, send)
    return sent


async def _lanes(emulator: Emulator, plan: FleetRun) -> list[Lane]:
    """A namespace, TUN and worker thread for each connected device that has traffic models."""
    from cellplane.cli.emulator_traffic import open_lanes

    connected = {d.iccid for d in emulator.devices() if d.state in CONNECTED}
    chosen = {sim.iccid: plan.models_of(sim) for sim in plan.sims if sim.iccid in connected and plan.models_of(sim)}
    return await open_lanes(emulator, chosen)


async def _model_round(lanes: list[Lane], console: Console, stop: asyncio.Event) -> bool:
    """Every device's models once, each line of the report a model; True when some run failed."""
    from cellplane.cli.emulator_traffic import Round, report, run_round

    done: list[Round] = []

    async def work() -> None:
        done.append(await run_round(lanes))

    await _until(stop, work())
    if not done:
        return False
    report(done[0], console)
    return bool(sum(done[0].failures.values()))


async def _watch(
    emulator: Emulator, plan: FleetRun, console: Console, stop: asyncio.Event, lanes: list[Lane] | None = None
) -> None:
    """A live table of device states until Ctrl-C; traffic again every `plan.every` seconds if asked."""
    loop = asyncio.get_running_loop()
    repeats = plan.every > 0 and (plan.upload or lanes)
    next_traffic = loop.time() + plan.every if repeats else None
    with Live(_states(emulator), console=console, refresh_per_second=2, transient=False) as live:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            if next_traffic is not None and loop.time() >= next_traffic:
                if plan.upload:
                    await _until(stop, _traffic(emulator, plan, None))
                if lanes:
                    await _model_round(lanes, Console(quiet=True), stop)
                next_traffic = loop.time() + plan.every
            live.update(_states(emulator))
    if not console.is_terminal:
        console.line()  # a terminal's Live ends its table with a new line; a pipe's does not


async def _detach_all(emulator: Emulator, console: Console) -> None:
    devices = [d.iccid for d in emulator.devices()]
    if not devices:
        return
    with _progress(console) as progress:
        task = progress.add_task("detaching", total=len(devices), note="")

        async def off(iccid: str) -> None:
            with contextlib.suppress(Exception):
                await emulator.power_off(iccid)
            progress.update(task, advance=1)

        await _bounded(64, devices, off)


def _states(emulator: Emulator) -> Table:
    devices = emulator.devices()
    table = Table(title=f"{len(devices)} devices", show_edge=False)
    for column in ("state", "devices", "uplink bytes", "downlink bytes", "why"):
        table.add_column(column, justify="left" if column in ("state", "why") else "right")
    by_state: dict[str, list[DeviceView]] = {}
    for device in devices:
        by_state.setdefault(device.state, []).append(device)
    for state, group in sorted(by_state.items()):
        reasons = Counter(f"{d.code or ''} {d.reason}".strip() for d in group if d.reason)
        why = "; ".join(f"{reason} ({n})" for reason, n in reasons.most_common(3))
        up = sum(d.usage["up_bytes"] for d in group)
        down = sum(d.usage["down_bytes"] for d in group)
        table.add_row(state, str(len(group)), f"{up:,}", f"{down:,}", why)
    return table


def _at(address: tuple[str, int]) -> str:
    return f"{address[0]}:{address[1]}"


# --- the control API, standalone ------------------------------------------------------------------------------


def control_app(emulator: Emulator, token: str, sims: Collection[str]) -> FastAPI:
    """The same routes as in the platform; a caller is whoever has the token, and may drive the SIMs of the file."""
    app = FastAPI(title="cellplane emulator", docs_url="/docs", redoc_url=None)

    async def authenticate(request: Request) -> str:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        presented = value.strip() if scheme.lower() == "bearer" else _basic_password(value) if scheme else None
        if not token or presented is None or not hmac.compare_digest(presented.encode(), token.encode()):
            raise WireError(401, 20003, "Authentication failed: use the control API token (Bearer, or Basic password)")
        return "operator"

    async def owns(_caller: object, iccids: Sequence[str]) -> Collection[str]:
        return [iccid for iccid in iccids if iccid in sims]

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        message = exc.detail if isinstance(exc.detail, str) else "Request failed"
        return error_response(WireError(exc.status_code, 20000 + exc.status_code, message))

    app.include_router(emulator_http.router(emulator, authenticate, owns, resolve_network=resolve_network))
    app.add_exception_handler(StarletteHTTPException, http_error)
    return app


def _basic_password(value: str) -> str | None:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    _, sep, password = decoded.partition(":")
    return password if sep else None


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Ctrl-C belongs to the emulator run, which detaches the devices first and then stops this server.
        yield


class _ApiServer:
    def __init__(self, server: _Uvicorn, task: asyncio.Task[None]) -> None:
        self.server, self.task = server, task

    @classmethod
    async def start(cls, app: FastAPI, at: tuple[str, int]) -> _ApiServer:
        server = _Uvicorn(uvicorn.Config(app, host=at[0], port=at[1], log_level="warning", access_log=False))
        task = asyncio.create_task(server.serve(), name="emulator-api")
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError(f"the control API could not listen on {_at(at)}")
            await asyncio.sleep(0.02)
        return cls(server, task)

    async def stop(self) -> None:
        self.server.should_exit = True
        with contextlib.suppress(Exception):
            await self.task
