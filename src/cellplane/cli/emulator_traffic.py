"""`cellplane emulator run --traffic URL`: devices whose traffic comes from real clients (HTTP, MQTT, UDP).

Each such device gets what a device shell gets (cli/device_shell.py): a network namespace of its own whose only
interface is a TUN with the session's address, carried in GTP-U by the emulated SGW. Its traffic models
(emulator/traffic_models.py) run on a thread that lives in that namespace, so their sockets are the device's: the
packets go through the gateway and the routing domain, and the platform counts them as the SIM's usage.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass, field

from pyroute2.netns import NETNS_RUN_DIR  # type: ignore[import-untyped]
from rich.console import Console

from cellplane.emulator import DeviceView, Emulator
from cellplane.emulator.traffic_models import NamespaceWorker, TrafficModel
from cellplane.network.dataplane.device_ns import DeviceNamespace

NAMESPACES_AT_ONCE = 8  # namespace set-up forks pyroute2 helpers: a few at a time on a small machine


@dataclass
class Lane:
    """One device's namespace, TUN link and worker thread, and the models it runs."""

    iccid: str
    models: list[TrafficModel]
    namespace: DeviceNamespace = field(default_factory=lambda: DeviceNamespace("wwan0"))
    worker: NamespaceWorker | None = None
    link: object | None = None


@dataclass
class Round:
    """What one round of every device's models did, per model URL."""

    octets: Counter[str] = field(default_factory=Counter)
    runs: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    first_error: dict[str, str] = field(default_factory=dict)


async def open_lanes(emulator: Emulator, chosen: dict[str, list[TrafficModel]]) -> list[Lane]:
    """A lane for each connected device with models (`chosen`: ICCID -> models); devices without a session get
    none (they have nothing to carry the packets)."""
    lanes: list[Lane] = []
    gate = asyncio.Semaphore(NAMESPACES_AT_ONCE)
    loop = asyncio.get_running_loop()

    async def one(iccid: str, models: list[TrafficModel]) -> None:
        view = emulator.device(iccid)
        if view.session is None:
            return
        lane = Lane(iccid, models)
        async with gate:
            lanes.append(lane)
            await asyncio.to_thread(lane.namespace.create)
            await asyncio.to_thread(lane.namespace.address, view.session["ip_address"])

        def follow(changed: DeviceView) -> None:
            address = changed.session["ip_address"] if changed.session else None
            loop.run_in_executor(None, lane.namespace.address, address)  # pyroute2 runs a loop of its own

        lane.link = emulator.attach_tun(iccid, lane.namespace.tun_fd, follow)
        lane.worker = NamespaceWorker(f"{NETNS_RUN_DIR}/{lane.namespace.name}", f"device-{iccid[-6:]}")

    await asyncio.gather(*(one(iccid, models) for iccid, models in chosen.items()))
    return lanes


async def run_round(lanes: list[Lane]) -> Round:
    """Every lane's models once, the lanes at the same time (each lane's models one after the other)."""
    done = Round()

    async def lane_round(lane: Lane) -> None:
        assert lane.worker is not None
        for model in lane.models:
            url = model.url
            done.runs[url] += 1
            try:
                done.octets[url] += await asyncio.wrap_future(lane.worker.submit(model))
            except Exception as error:  # the server's or the network's answer: reported, the next round tries again
                done.failures[url] += 1
                done.first_error.setdefault(url, f"{type(error).__name__}: {error}")

    await asyncio.gather(*(lane_round(lane) for lane in lanes if lane.worker is not None))
    return done


def report(done: Round, console: Console) -> None:
    for url in sorted(done.runs):
        failed = done.failures[url]
        line = f"traffic {url}: {done.runs[url] - failed}/{done.runs[url]} devices, {done.octets[url]:,} payload bytes"
        if failed:
            line += f"; failed: {done.first_error[url]}"
        console.print(line, highlight=False, markup=False)


async def close_lanes(lanes: list[Lane]) -> None:
    """Stop the workers and TUN links; the namespaces go (what a kill leaves, the next start sweeps)."""
    for lane in lanes:
        if lane.worker is not None:
            lane.worker.close()
        stop = getattr(lane.link, "stop", None)
        if stop is not None:
            stop()
    for lane in lanes:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(lane.namespace.destroy)
