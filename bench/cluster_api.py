"""The API part of the cluster benchmark (issue 21): GET one SIM and a list page through one API node, then two.

Method. On bench/cluster.py's database (`--sims` active Super SIMs), `cellplane up --role api` nodes on their own
ports. The load is this module's asyncio httpx client: `IN_FLIGHT` requests in flight a node, each a GET of one
random SIM (`/supersim/v1/Sims/{sid}`), then in a second measure each a GET of the list's first page
(`/supersim/v1/Sims?PageSize=50`), for `seconds` each; first one node, then two nodes at once in the same run (the
client splits its requests between them). For each: answered requests/s, client-side latency p50/p99, and the CPU
seconds per request of the API process(es) and of PostgreSQL (utime+stime from /proc, before and after). Every
answer must be a 200.

On 2 shared cores the client, the nodes and PostgreSQL compete: two nodes show what a request costs and that the
nodes share one database correctly, not twice the rate. The CPU a request is the figure to carry to a larger
machine.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from tests.support.server import Server, free_port, server_env

IN_FLIGHT = 16
PAGE = "/supersim/v1/Sims?PageSize=50"
LABELS = {"sim": "GET one SIM", "page": "GET the list's first page (50 SIMs)"}


@dataclass(frozen=True)
class ApiLoad:
    """What one configuration (one node, or two at once) gave."""

    nodes: int
    what: str  # "sim" or "page"
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    api_cpu_us: float  # all API nodes' CPU seconds per request, in microseconds
    postgres_cpu_us: float

    def row(self) -> str:
        return (
            f"{self.requests_per_second:,.0f} requests/s; latency p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms;"
            f" CPU a request: API {self.api_cpu_us:.0f} us, PostgreSQL {self.postgres_cpu_us:.0f} us"
        )


def start_api(url: str, root: Path, name: str, token: str) -> Server:
    data_dir = root / name
    data_dir.mkdir()
    env = server_env(data_dir, url, CELLPLANE_ADMIN_TOKEN=token)
    server = Server(backend="postgres", data_dir=data_dir, port=free_port(), env=env, extra_args=["--role", "api"])
    server.start(timeout=120)
    return server


async def _drive(
    nodes: list[Server], auth: tuple[str, str], sids: list[str], what: str, seconds: float
) -> tuple[int, list[float]]:
    """Requests for `seconds` through every node at once: (answered, each request's latency in seconds)."""
    latencies: list[float] = []
    answered = 0
    rng = random.Random(21)
    deadline = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal answered
        while time.monotonic() < deadline:
            path = PAGE if what == "page" else f"/supersim/v1/Sims/{rng.choice(sids)}"
            started = time.perf_counter()
            response = await client.get(path)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise AssertionError(f"{path}: {response.status_code} {response.text[:200]}")
            answered += 1

    clients = [
        httpx.AsyncClient(base_url=node.base_url, auth=auth, timeout=30, limits=httpx.Limits(max_connections=IN_FLIGHT))
        for node in nodes
    ]
    try:
        await asyncio.gather(*(worker(client) for client in clients for _ in range(IN_FLIGHT)))
    finally:
        for client in clients:
            await client.aclose()
    return answered, latencies


def measure(
    nodes: list[Server], auth: tuple[str, str], sids: list[str], what: str, seconds: float, cpu_of, postgres_cpu
) -> ApiLoad:
    """One configuration: `cpu_of(pid)` and `postgres_cpu()` are bench/cluster.py's /proc readers."""
    asyncio.run(_drive(nodes, auth, sids, what, 2.0))  # warm: connections, plans, caches
    pids = [node.process.pid for node in nodes if node.process]
    api_before, pg_before = sum(cpu_of(pid) for pid in pids), postgres_cpu()
    started = time.monotonic()
    answered, latencies = asyncio.run(_drive(nodes, auth, sids, what, seconds))
    elapsed = time.monotonic() - started
    api_cpu, pg_cpu = sum(cpu_of(pid) for pid in pids) - api_before, postgres_cpu() - pg_before
    cuts = statistics.quantiles(latencies, n=100)
    return ApiLoad(
        nodes=len(nodes),
        what=what,
        requests_per_second=answered / elapsed,
        p50_ms=cuts[49] * 1000,
        p99_ms=cuts[98] * 1000,
        api_cpu_us=api_cpu / answered * 1e6,
        postgres_cpu_us=pg_cpu / answered * 1e6,
    )


def run(
    url: str, root: Path, token: str, auth: tuple[str, str], sids: list[str], seconds: float, cpu_of, postgres_cpu
) -> list[ApiLoad]:
    """One API node, then two at once, on the same database in the same run: GET a SIM, then the list's page."""
    nodes: list[Server] = []
    loads: list[ApiLoad] = []
    try:
        for name in ("api-a", "api-b"):
            nodes.append(start_api(url, root, name, token))
            for what in ("sim", "page"):
                loads.append(measure(nodes, auth, sids, what, seconds, cpu_of, postgres_cpu))
                print(f"{len(nodes)} API node(s), {LABELS[what]}: {loads[-1].row()}", flush=True)
        return loads
    finally:
        for node in nodes:
            node.stop()
