"""IP Commands survive a crash, and the platform's own emulator delivers them when driven over its HTTP API.

1. kill -9 between `queued` and `sent`: a server of its own paces dispatch (CELLPLANE_IP_COMMAND_DELAY) so
   that the commands acknowledged with 201 are still queued when it dies; their rows (the outbox: no job row
   per command) are there in the database; started again (and the device attached again), its recovery sweep
   sends every one.
2. The emulated network inside `cellplane up --emulator`, driven through /cellplane/v1/Emulator (issue 3's
   contract: POST Devices with Iccid and Network, POST Devices/{Iccid} with State, GET Devices/{Iccid}).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.store.models import IpCommand
from cellplane.store.models.base import utcnow
from tests.conftest import Account
from tests.e2e.test_ip_commands import PORT, active_sim, eventually, status_of
from tests.support import db as database
from tests.support.radio import Radio
from tests.support.server import (
    Server,
    create_postgres_database,
    drop_postgres_database,
    free_port,
    server_env,
)
from tests.support.webhooks import WebhookReceiver

DISPATCH_DELAY = 120.0  # commands stay `queued` until the test moves the clock on (see below)


@contextlib.contextmanager
def own_server(backend: str, data_dir: Path, **env: str) -> Iterator[Server]:
    """A platform of its own (a test may kill it), on the given backend, with extra settings."""
    database_url = create_postgres_database() if backend == "postgres" else None
    instance = Server(
        backend=backend, data_dir=data_dir, port=free_port(), env=server_env(data_dir, database_url, **env)
    )
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()
        if database_url:
            drop_postgres_database(database_url)


@pytest.fixture
def crashing_server(server: Server, tmp_path: Path) -> Iterator[Server]:
    with own_server(server.backend, tmp_path, CELLPLANE_IP_COMMAND_DELAY=str(DISPATCH_DELAY)) as instance:
        yield instance


def test_kill_9_with_queued_commands_loses_none(crashing_server: Server) -> None:
    created = crashing_server.admin("create-account", "--friendly-name", "crash")
    account = Account(created["account_sid"], created["auth_token"], crashing_server)
    client = account.client()
    sim = active_sim(account)
    radio = Radio(crashing_server).start()
    receiver = WebhookReceiver(auth_token=account.token).start()
    try:
        radio.attach(sim.iccid, sim.imsi)
        socket = radio.bridge(sim.iccid, PORT)
        payloads = [f"command {n}".encode() for n in range(5)]
        commands = [
            client.supersim.v1.ip_commands.create(
                sim=sim.sid, payload=p.decode(), device_port=PORT, callback_url=receiver.url
            )
            for p in payloads
        ]
        assert {c.status for c in commands} == {"queued"}
        crashing_server.stop(kill=True)  # SIGKILL: no shutdown of any kind
        assert database.run(crashing_server, queued_commands) == sorted(c.sid for c in commands)
        crashing_server.start()
        radio.attach(sim.iccid, sim.imsi)  # the new gateway holds no session: the modem attaches again
        # Move the clock on: the dispatch delay is over (a restart under load can take longer than any fixed
        # delay short enough for a test, and a command dequeued before the re-attach would rightly fail).
        database.run(crashing_server, due_now)
        arrived = {socket.receive(timeout=10) for _ in payloads}
        socket.close()
        assert arrived == set(payloads)
        for command in commands:
            status_of(account, command.sid, "sent")
        hooks = receiver.wait_for(lambda got: len(got) >= len(commands))
        assert sorted(h.params["CommandSid"] for h in hooks) == sorted(c.sid for c in commands)
        assert {h.params["Status"] for h in hooks} == {"sent"}
    finally:
        receiver.stop()
        radio.close()


async def queued_commands(session: AsyncSession) -> list[str]:
    """The sids of queued IP Commands to SIMs waiting for dispatch (the row is the work item)."""
    rows = await session.execute(
        select(IpCommand.sid).where(IpCommand.status == "queued", IpCommand.dispatch_at.is_not(None))
    )
    return sorted(rows.scalars())


async def due_now(session: AsyncSession) -> None:
    await session.execute(update(IpCommand).where(IpCommand.status == "queued").values(dispatch_at=utcnow()))


# --- 2. the platform's own emulator, over HTTP --------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulating_server(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp(f"emulating-{server.backend}")
    with own_server(server.backend, data_dir, CELLPLANE_EMULATOR_ENABLED="true") as instance:
        probe = httpx.get(f"{instance.base_url}/cellplane/v1/Emulator/Devices", timeout=5)
        if probe.status_code == 404:
            pytest.skip("the emulator's HTTP API (/cellplane/v1/Emulator, issue 3) is not routed yet")
        yield instance


def emulated_device(http: httpx.Client, iccid: str) -> dict[str, Any]:
    """Power a device on through the API and wait until it is attached (retrying as a modem would)."""
    answer = http.post("/cellplane/v1/Emulator/Devices", data={"Iccid": iccid, "Network": "310-260"})
    assert answer.status_code in (200, 201), answer.text
    deadline = time.monotonic() + 8
    while True:
        device: dict[str, Any] = http.get(f"/cellplane/v1/Emulator/Devices/{iccid}").json()
        if device["state"] == "attached" or time.monotonic() > deadline:
            break
        if device["state"] == "rejected":
            http.post(f"/cellplane/v1/Emulator/Devices/{iccid}", data={"State": "attached"})
        time.sleep(0.2)
    assert device["state"] == "attached", device
    return device


def test_the_platforms_own_emulator_receives_commands(emulating_server: Server) -> None:
    created = emulating_server.admin("create-account", "--friendly-name", "emulated")
    account = Account(created["account_sid"], created["auth_token"], emulating_server)
    receiver = WebhookReceiver(auth_token=account.token).start()
    try:
        client = account.client()
        sim = active_sim(account, ip_commands_url=f"{receiver.url}/mo")
        http = account.http()
        device_url = f"/cellplane/v1/Emulator/Devices/{sim.iccid}"
        device = emulated_device(http, sim.iccid)
        assert http.post(f"{device_url}/Apps", data={"DevicePort": PORT, "App": "log"}).status_code == 201
        command = client.supersim.v1.ip_commands.create(sim=sim.sid, payload="over http", device_port=PORT)
        assert status_of(account, command.sid, "sent").device_ip == device["ip_address"]
        logged = eventually(lambda: http.get(f"{device_url}/Apps/{PORT}/Datagrams").json()["datagrams"])
        assert [(d["payload"], d["source_ip"], d["source_port"]) for d in logged] == [("over http", "100.64.0.1", PORT)]

        http.post(device_url, data={"State": "idle"})
        paged = client.supersim.v1.ip_commands.create(sim=sim.sid, payload="page me", device_port=PORT)
        status_of(account, paged.sid, "sent")
        eventually(lambda: http.get(device_url).json()["state"] == "attached")

        sent = http.post(f"{device_url}/Datagrams", data={"SourcePort": 7001, "Payload": "hello cloud"})
        assert sent.status_code == 201, sent.text
        [hook] = receiver.wait_for(lambda got: len(got) >= 1)
        assert hook.params["Direction"] == "from_sim" and hook.params["DevicePort"] == "7001"
        assert hook.twilio_signature_valid

        http.post(device_url, data={"State": "detached"})
        lost = client.supersim.v1.ip_commands.create(sim=sim.sid, payload="nobody home", device_port=PORT)
        assert status_of(account, lost.sid, "failed").sid == lost.sid
    finally:
        receiver.stop()
