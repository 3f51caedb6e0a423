"""A newcomer's first hour (issue 14): what `make up` installs, a busy port at start, the CLI finding the platform
from any folder, a truthful banner and demo at a restart, and a parent account's view of its subaccounts' SIMs."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Account
from tests.e2e.test_sims import wait_for_status
from tests.support.network import EMULATOR, UK, eventually, make_fleet
from tests.support.server import CLI, REPO, Server, drawn_udp_ports, free_port, server_env


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a shell with no CELLPLANE_* variable set."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("CELLPLANE_")}, **extra}


# --- 2. `make up` installs what the tour uses --------------------------------------------------------------------


def test_make_up_installs_the_twilio_sdk_the_tour_imports() -> None:
    """`make up` installs the base package (`pip install -e .`); the tour's first line imports twilio."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert any(re.match(r"twilio\b", dependency) for dependency in project["dependencies"])
    assert "$(BIN)/pip install -q -e .\n" in (REPO / "Makefile").read_text()


# --- 6. a busy port stops `cellplane up` with one line, before anything is printed or minted ----------------------


@pytest.mark.parametrize(
    ("held", "kind", "setting"),
    [
        ("--port", socket.SOCK_STREAM, "CELLPLANE_PORT / --port: TCP"),
        ("--aaa-auth-port", socket.SOCK_DGRAM, "CELLPLANE_AAA_AUTH_PORT / --aaa-auth-port: UDP"),
        ("--gtpu-port", socket.SOCK_DGRAM, "CELLPLANE_GTPU_PORT / --gtpu-port: UDP"),
        ("CELLPLANE_GATEWAY_DAE_PORT", socket.SOCK_DGRAM, "CELLPLANE_GATEWAY_DAE_PORT: UDP"),
    ],
)
def test_a_busy_port_exits_2_naming_the_setting_before_anything_is_printed(
    tmp_path: Path, held: str, kind: int, setting: str
) -> None:
    data_dir = tmp_path / "data"
    env = clean_env(**drawn_udp_ports())
    args = ["up", "--demo", "--data-dir", str(data_dir), "--port", str(free_port())]
    with socket.socket(socket.AF_INET, kind) as squatter:
        squatter.bind(("127.0.0.1", 0))
        if kind == socket.SOCK_STREAM:
            squatter.listen()
        port = squatter.getsockname()[1]
        if held.startswith("--"):
            args += [held, str(port)]
        else:
            env[held] = str(port)
        result = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)

    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr == f"error: {setting} 127.0.0.1:{port} is in use\n"
    assert not data_dir.exists()  # no database, no operator token, no demo credentials minted


# --- 7. every command finds the platform as the server does, and makes none --------------------------------------


def test_admin_in_an_empty_folder_says_where_it_looked_and_creates_nothing(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CLI, "admin", "create-account", "--json"], env=clean_env(), capture_output=True, text=True, cwd=tmp_path
    )

    assert result.returncode == 2
    assert "--data-dir" in result.stderr and "CELLPLANE_DATA_DIR" in result.stderr
    assert str(tmp_path / ".cellplane") in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_admin_from_another_folder_acts_on_the_running_platform(server: Server, tmp_path: Path) -> None:
    """With CELLPLANE_DATA_DIR (or the database URL), as the server was started."""
    result = subprocess.run(
        [*CLI, "admin", "create-account", "--json"], env=server.env, capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    answer = httpx.get(
        f"{server.base_url}/supersim/v1/Sims", auth=(created["account_sid"], created["auth_token"]), timeout=10
    )
    assert answer.status_code == 200
    assert list(tmp_path.iterdir()) == []


def test_the_bridge_without_a_platform_names_where_to_point_it(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CLI, "device", "bridge", "--iccid", "8988307000000000061", "--deliver-to", "127.0.0.1:9"],
        env=clean_env(COLUMNS="300"),
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "--data-dir" in message and "CELLPLANE_DATA_DIR" in message and "--platform" in message
    assert list(tmp_path.iterdir()) == []


# --- 9. a truthful banner, and a demo that keeps the user's changes -----------------------------------------------


@pytest.fixture
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("demo")
    server = Server("sqlite", data_dir, free_port(), server_env(data_dir, None), extra_args=["--demo"])
    server.start()
    try:
        yield server
    finally:
        server.stop()


def banner(log: str) -> str:
    """The last banner of the server's log (a restart appends its own)."""
    return log[log.rindex("is starting") :]


def test_a_restart_shows_the_demo_as_changed_and_powers_on_only_devices_that_can_attach(demo: Server) -> None:
    seeded = json.loads((demo.data_dir / "demo.json").read_text())
    account = Account(seeded["account_sid"], seeded["auth_token"], demo)
    client = account.client()
    iccid = {sim["unique_name"]: sim["iccid"] for sim in seeded["sims"]}
    http = account.http()

    def devices() -> dict[str, str]:
        return {d["iccid"]: d["state"] for d in http.get(f"{EMULATOR}/Devices").json()["devices"]}

    eventually(devices, lambda found: len(found) == 5 and set(found.values()) == {"attached"})
    uk_only = make_fleet(account, [UK], unique_name="uk-only")
    client.supersim.v1.sims("demo-sim-3").update(unique_name="Meter 7")
    client.supersim.v1.sims("demo-sim-2").update(status="inactive")
    client.supersim.v1.sims("demo-sim-4").update(fleet=uk_only.sid)
    wait_for_status(client, "demo-sim-2", "inactive")
    wait_for_status(client, "demo-sim-4", "active")

    demo.stop()
    demo.start()
    shown = banner(demo.log())

    assert f"AccountSid     {seeded['account_sid']}" in shown  # seeded once: the same account
    assert re.search(rf"Meter 7\s+{iccid['demo-sim-3']}  active, fleet demo-fleet", shown), shown
    assert re.search(rf"demo-sim-2\s+{iccid['demo-sim-2']}  inactive, fleet demo-fleet", shown), shown
    assert re.search(rf"demo-sim-4\s+{iccid['demo-sim-4']}  active, fleet uk-only", shown), shown
    assert "3 emulated devices powering on, attaching to 310-260" in shown
    assert "not demo-sim-2: inactive" in shown
    assert "not demo-sim-4: fleet's profile does not allow 310-260" in shown
    assert "demo-sim-3 " not in shown  # the old name is nowhere

    powered = eventually(devices, lambda found: len(found) == 3 and set(found.values()) == {"attached"})
    assert set(powered) == {iccid["demo-sim-1"], iccid["demo-sim-3"], iccid["demo-sim-5"]}
    # The devices the network would refuse were not powered on: no rejected attach after the restart.
    events = http.get("/cellplane/v1/ConnectionEvents", params={"EventType": "attach_rejected"}).json()
    assert events["connection_events"] == []


# --- 10. a parent's view of its subaccounts' SIMs ----------------------------------------------------------------


@pytest.fixture
def family(server: Server) -> tuple[Account, Account]:
    parent = server.admin("create-account", "--friendly-name", "parent")
    child = server.admin("create-account", "--friendly-name", "child", "--parent", parent["account_sid"])
    return (
        Account(parent["account_sid"], parent["auth_token"], server),
        Account(child["account_sid"], child["auth_token"], server),
    )


def test_a_parent_commands_and_lists_the_subaccount_sims_it_can_fetch(family: tuple[Account, Account]) -> None:
    parent, child = family
    fleet = make_fleet(child, [UK], unique_name="child-fleet")
    [sim] = child.claim(1)
    child.client().supersim.v1.sims(sim.sid).update(fleet=fleet.sid, status="active", unique_name="child-meter")
    wait_for_status(child.client(), sim.sid, "active")
    client = parent.client()

    assert client.supersim.v1.sims(sim.sid).fetch().account_sid == child.sid
    listed = [s.sid for s in client.supersim.v1.sims.list()]
    assert sim.sid in listed
    ip = client.supersim.v1.ip_commands.create(sim=sim.sid, payload="hi", device_port=6000)
    sms = client.supersim.v1.sms_commands.create(sim=sim.sid, payload="hi")

    assert ip.sim_sid == sim.sid and ip.account_sid == child.sid  # the command belongs with the SIM
    assert sms.sim_sid == sim.sid and sms.account_sid == child.sid
    assert client.supersim.v1.ip_commands(ip.sid).fetch().sid == ip.sid
    assert client.supersim.v1.sms_commands(sms.sid).fetch().sid == sms.sid
    # The subaccount sees the commands to its SIM, and sees only its own SIMs.
    assert child.client().supersim.v1.ip_commands(ip.sid).fetch().sim_sid == sim.sid
    assert [s.sid for s in child.client().supersim.v1.sims.list()] == [sim.sid]


def test_a_subaccount_cannot_command_its_parents_sims(family: tuple[Account, Account]) -> None:
    parent, child = family
    [sim] = parent.claim(1)
    answer: Any = child.http().post("/supersim/v1/IpCommands", data={"Sim": sim.sid, "Payload": "x", "DevicePort": 1})
    assert answer.status_code == 404
    assert sim.sid not in [s.sid for s in child.client().supersim.v1.sims.list()]
