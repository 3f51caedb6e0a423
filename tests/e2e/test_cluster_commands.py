"""IP Commands through an API node that runs no gateway (issue 21): the command is written by the API node and
claimed, through the database, by the gateway node that holds the SIM's session (woken by a PostgreSQL NOTIFY),
which sends it into the device's tunnel. The device is emulated in the test process and attached over GTP; its
bridge app hands what it receives to a real UDP socket of the test.

Two gateway nodes: each command reaches the device whichever gateway it is attached at, and a command to a SIM
attached nowhere still fails with 83400 (a gateway node claims it and finds no session).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import make_active_sims, shared_database, start_node
from tests.support.radio import HostSocket, Radio
from tests.support.server import Server

DEVICE_PORT = 4242


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    yield from shared_database("commands cross nodes through the shared PostgreSQL")


def wait_for_status(http, sid: str, wanted: set[str], within: float = 10.0) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while (command := http.get(f"/supersim/v1/IpCommands/{sid}").json())["status"] not in wanted:
        assert time.monotonic() < deadline, command
        time.sleep(0.1)
    return command  # type: ignore[no-any-return]


def test_an_ip_command_made_on_an_api_node_reaches_the_gateway_holding_the_session(
    database_url: str, tmp_path: Path
) -> None:
    token = os.urandom(16).hex()
    api = start_node(database_url, "api", tmp_path / "api", token)
    edges: list[Server] = []
    radios: list[Radio] = []
    sockets: list[HostSocket] = []
    try:
        edges = [start_node(database_url, "aaa,gateway,workers", tmp_path / f"edge{i}", token) for i in (1, 2)]
        account, sims = make_active_sims(api, 3)
        http = account.http()
        radios = [Radio(edge).start() for edge in edges]
        # SIM 0 at the first gateway, SIM 1 at the second, SIM 2 attached nowhere.
        for radio, (_, iccid, imsi) in zip(radios, sims[:2], strict=True):
            radio.attach(iccid, imsi)
            sockets.append(radio.bridge(iccid, DEVICE_PORT))
        time.sleep(1.5)  # the sessions' accounting Starts are in the database (the AAA's group commit)

        for round_ in range(3):
            for (sid, _, _), host in zip(sims[:2], sockets, strict=True):
                payload = f"to {sid}, round {round_}"
                made = http.post("/supersim/v1/IpCommands", data={"Sim": sid, "Payload": payload, "DevicePort": 4242})
                assert made.status_code == 201, made.text
                assert host.receive(timeout=5.0) == payload.encode(), f"{payload!r} did not reach the device"
                command = wait_for_status(http, made.json()["sid"], {"sent", "failed"})
                assert command["status"] == "sent" and command["device_ip"], command

        lost = http.post("/supersim/v1/IpCommands", data={"Sim": sims[2][0], "Payload": "x", "DevicePort": 4242})
        assert lost.status_code == 201, lost.text
        failed = wait_for_status(http, lost.json()["sid"], {"sent", "failed"})
        assert (failed["status"], failed["error_code"]) == ("failed", 83400), failed
    finally:
        for host in sockets:
            host.close()
        for radio in radios:
            radio.close()
        for edge in edges:
            edge.stop()
        api.stop()
