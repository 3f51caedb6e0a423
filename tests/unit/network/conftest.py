"""The AAA in-process on free ports, over a real migrated database (SQLite, and PostgreSQL when it answers)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from cellplane.network.aaa import AaaConfig, AaaServer
from cellplane.services.context import PlatformContext
from cellplane.store.db import make_engine, make_sessionmaker
from tests.support.db import migrated_database
from tests.unit.network.peers import FRANCE_SID, USA_SID, NasListener, Pgw, start_nas
from tests.unit.network.world import World

SECRET = b"cellplane"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from migrated_database(request.param, tmp_path_factory.mktemp("aaa"))


@pytest.fixture
async def ctx(database_url: str) -> AsyncIterator[PlatformContext]:
    engine = make_engine(database_url)
    yield PlatformContext(sessions=make_sessionmaker(engine))
    await engine.dispose()


@pytest.fixture
async def world(ctx: PlatformContext) -> World:
    """An account whose fleet allows France and the USA, data on, the default 1 GB limit."""
    return await World(ctx.sessions).setup([FRANCE_SID, USA_SID])


@pytest.fixture
async def nas() -> AsyncIterator[tuple[NasListener, int]]:
    listener, port = await start_nas(secret=SECRET)
    yield listener, port
    listener.close()


@pytest.fixture
def config(nas: tuple[NasListener, int]) -> AaaConfig:
    return AaaConfig(
        auth_port=0,
        acct_port=0,
        clients={"127.0.0.1": SECRET},
        dae_port=nas[1],
        ue_ip_pool="10.64.0.0/24",
        batch_linger=0.001,
        event_flush_interval=0.05,
        poll_interval=0.2,
        poll_overlap=2.0,
        disconnect_timeout=0.3,
        disconnect_retries=1,
    )


StartAaa = Callable[..., Awaitable[AaaServer]]


@pytest.fixture
async def start_aaa(ctx: PlatformContext, config: AaaConfig) -> AsyncIterator[StartAaa]:
    """Start an AAA (after the test has written its world, so that it loads it); stopped at the end."""
    started: list[AaaServer] = []

    async def start(**overrides: Any) -> AaaServer:
        server = AaaServer(ctx, replace(config, **overrides))
        await server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()


def pgw_for(server: AaaServer, **kwargs: Any) -> Pgw:
    return Pgw(server.auth_address[1], server.acct_address[1], secret=SECRET, timeout=1.0, **kwargs)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 5.0, interval: float = 0.05) -> Any:
    """Poll an async check until it returns something truthy (or give up and return its last value)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value or loop.time() >= deadline:
            return value
        await asyncio.sleep(interval)
