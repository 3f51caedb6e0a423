"""The platform with its emulated radio network in-process (`CELLPLANE_EMULATOR_ENABLED=true`), driven the way a
person or a test suite drives it: the twilio SDK for the SIM side, `/cellplane/v1/Emulator` over HTTP for devices.

`network_server` is one platform per backend for the whole session, shared by every module that imports it (pytest
would otherwise start one per importing module); accounts keep tests apart, and `Emulator/Reset` only ever touches
the caller's own devices.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from cellplane.domain.networks import network_sid
from tests.conftest import Account
from tests.e2e.test_sims import wait_for_status
from tests.support.server import (
    CLI,
    Server,
    create_postgres_database,
    drop_postgres_database,
    free_port,
    postgres_available,
    server_env,
)

T = TypeVar("T")
EMULATOR = "/cellplane/v1/Emulator"
USA, UK, FRANCE = "310-260", "234-15", "208-01"
USA_SID, UK_SID, FRANCE_SID = (network_sid(*key.split("-")) for key in (USA, UK, FRANCE))
# The AAA learns of a claim or a fleet within about a second (its policy cache polls the database): until then it
# refuses a SIM as unknown (83701) or fleetless (83702), and a modem simply tries again.
NOT_YET_KNOWN = (83701, 83702)
_RUNNING: dict[str, Server] = {}


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def network_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    backend: str = request.param
    if backend not in _RUNNING:
        database_url = None
        if backend == "postgres":
            reason = postgres_available()
            if reason:
                pytest.skip(reason)
            database_url = create_postgres_database()
        data_dir = tmp_path_factory.mktemp(f"network-{backend}")
        env = server_env(data_dir, database_url, CELLPLANE_EMULATOR_ENABLED="true")
        server = Server(backend=backend, data_dir=data_dir, port=free_port(), env=env)
        server.start()
        _RUNNING[backend] = server

        def stop() -> None:
            server.stop()
            if database_url:
                drop_postgres_database(database_url)

        request.config.add_cleanup(stop)
    yield _RUNNING[backend]


@pytest.fixture
def subscriber(network_server: Server) -> Account:
    created = network_server.admin("create-account", "--friendly-name", "network")
    return Account(created["account_sid"], created["auth_token"], network_server)


def eventually(check: Callable[[], T], accept: Callable[[T], bool], timeout: float = 8.0, pause: float = 0.1) -> T:
    """Ask again until the answer is accepted or the time is up; the last answer either way."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if accept(value) or time.monotonic() >= deadline:
            return value
        time.sleep(pause)


@dataclass
class Sim:
    sid: str
    iccid: str
    imsi: str


@dataclass
class Fleet:
    sid: str
    profile_sid: str


def make_fleet(account: Account, networks: list[str], **settings: Any) -> Fleet:
    client = account.client()
    profile = client.supersim.v1.network_access_profiles.create(networks=networks)
    fleet = client.supersim.v1.fleets.create(network_access_profile=profile.sid, **settings)
    return Fleet(fleet.sid, profile.sid)


def make_sim(account: Account, fleet: Fleet | None, status: str | None = "active") -> Sim:
    """A SIM claimed with the SDK, put in `fleet`, brought to `status` (asynchronous: waits for it)."""
    [item] = account.inventory(1)
    client = account.client()
    sim = client.supersim.v1.sims.create(iccid=item["iccid"], registration_code=item["registration_code"])
    changes: dict[str, Any] = {}
    if fleet is not None:
        changes["fleet"] = fleet.sid
    if status is not None:
        changes["status"] = status
    if changes:
        client.supersim.v1.sims(sim.sid).update(**changes)
        wait_for_status(client, sim.sid, status or "new")
    return Sim(sim.sid, sim.iccid, item["imsi"])


class Devices:
    """`/cellplane/v1/Emulator` as the account sees it."""

    def __init__(self, account: Account) -> None:
        self.http = account.http()
        self.http.timeout = httpx.Timeout(30)

    def power_on(self, iccid: str, network: str = USA, **params: str) -> httpx.Response:
        return self.http.post(f"{EMULATOR}/Devices", data={"Iccid": iccid, "Network": network, **params})

    def update(self, iccid: str, **params: str) -> httpx.Response:
        return self.http.post(f"{EMULATOR}/Devices/{iccid}", data=params)

    def get(self, iccid: str) -> dict[str, Any]:
        response = self.http.get(f"{EMULATOR}/Devices/{iccid}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def traffic(self, iccid: str, up: int = 0, down: int = 0) -> dict[str, Any]:
        data = {"UploadBytes": str(up), "DownloadBytes": str(down)}
        response = self.http.post(f"{EMULATOR}/Devices/{iccid}/Traffic", data=data)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def attach(
        self, iccid: str, network: str = USA, *, expect: str = "attached", code: int | None = None, **params: str
    ) -> dict[str, Any]:
        """Power on (with `params`: Imei, RatType), then attach again while the platform does not know the SIM
        yet, until the outcome is `expect` (with `code` when a rejection is expected)."""
        response = self.power_on(iccid, network, **params)
        assert response.status_code == 201, response.text
        device: dict[str, Any] = response.json()

        def settled(d: dict[str, Any]) -> bool:
            if d["state"] == "rejected" and d["error_code"] in NOT_YET_KNOWN and code not in NOT_YET_KNOWN:
                return False
            return d["state"] == expect and (code is None or d["error_code"] == code)

        deadline = time.monotonic() + 8
        while not settled(device) and time.monotonic() < deadline:
            time.sleep(0.5)  # at most 20 attaches a minute per SIM (83703): stay well under
            device = self.update(iccid, State="attached", Network=network).json()
        assert device["state"] == expect, device
        if code is not None:
            assert device["error_code"] == code, device
        return device

    def reset(self) -> None:
        assert self.http.post(f"{EMULATOR}/Reset").status_code == 200


class Process:
    """A `cellplane ...` subprocess whose output is read line by line as it comes (a thread drains the pipe)."""

    def __init__(
        self, args: list[str], server: Server, *, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        self.lines: list[str] = []
        self.popen = subprocess.Popen(
            [*CLI, *args],
            env={**(server.env if env is None else env), "COLUMNS": "200"},
            cwd=server.data_dir if cwd is None else cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        """The first line containing `text`; fails with the output so far if it never comes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((line for line in list(self.lines) if text in line), None)
            if found is not None:
                return found
            if self.popen.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never came; output:\n{self.output}")

    def interrupt(self, timeout: float = 20.0) -> int:
        """Ctrl-C, as a person would; the exit status."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
        try:
            status = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            raise
        self._reader.join(5)
        return status

    def close(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()
