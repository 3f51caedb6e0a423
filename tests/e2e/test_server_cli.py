"""`cellplane db upgrade` and `cellplane up` as an operator types them: every flag on the command line (`--host`,
`--data-dir`, the AAA and gateway ports and secrets), no CELLPLANE_DATA_DIR, and what the server then serves:
health, the interactive docs, the OpenAPI document, RADIUS answered by pyrad on the flagged ports, a device attached
through the flagged GTP ports.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pyrad import packet as pyrad_packet
from pyrad.client import Client, Timeout
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from cellplane.store.migrate import MIGRATIONS
from tests.conftest import Account
from tests.support.network import USA, Devices, eventually, make_fleet, make_sim
from tests.support.server import (
    CLI,
    UDP_PORT_VARIABLES,
    Server,
    create_postgres_database,
    drop_postgres_database,
    free_port,
    free_ports,
    postgres_available,
    server_env,
)
from tests.unit.network.peers import Pgw

BACKENDS = ["sqlite", "postgres"]


def head_revision() -> str:
    """The newest migration's revision, read from the files (not from our own code's idea of it)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def stored_schema(url: str) -> tuple[str | None, int]:
    """The revision alembic recorded in the database, and how many SIMs the `sims` table holds."""

    async def read() -> tuple[str | None, int]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                revision = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar()
                sims = (await connection.execute(text("SELECT count(*) FROM sims"))).scalar_one()
                return revision, int(sims)
        finally:
            await engine.dispose()

    return asyncio.run(read())


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[tuple[str, str | None]]:
    """(backend, CELLPLANE_DATABASE_URL): a fresh, empty PostgreSQL database, or None for SQLite."""
    if request.param == "sqlite":
        yield "sqlite", None
        return
    reason = postgres_available()
    if reason:
        pytest.skip(reason)
    url = create_postgres_database()
    try:
        yield "postgres", url
    finally:
        drop_postgres_database(url)


def operator_env(work: Path, database_url: str | None) -> dict[str, str]:
    """The test servers' environment without CELLPLANE_DATA_DIR: the data dir comes from `--data-dir` only."""
    env = server_env(work, database_url)
    del env["CELLPLANE_DATA_DIR"]
    return env


def test_db_upgrade_then_up_with_host_and_data_dir(tmp_path: Path, backend: tuple[str, str | None]) -> None:
    name, database_url = backend
    work, data = tmp_path / "cwd", tmp_path / "data"
    work.mkdir()
    env = operator_env(work, database_url)
    sqlite_url = f"sqlite+aiosqlite:///{data / 'cellplane.db'}"

    upgraded = subprocess.run(
        [*CLI, "db", "upgrade", "--data-dir", str(data)], env=env, cwd=work, capture_output=True, text=True
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert "database at head" in upgraded.stdout
    url = database_url or sqlite_url
    assert stored_schema(url) == (head_revision(), 0)
    assert (data / "cellplane.db").exists() == (name == "sqlite")
    assert not (work / ".cellplane").exists()  # the default data dir was never used

    port = free_port()
    server = Server(backend=name, data_dir=work, port=port, env=env)
    server.extra_args = ["--host", "127.0.0.1", "--data-dir", str(data)]
    server.start()
    try:
        base = f"http://127.0.0.1:{port}"
        health = httpx.get(f"{base}/healthz", timeout=5)
        assert health.status_code == 200
        docs = httpx.get(f"{base}/docs", timeout=5)
        assert docs.status_code == 200 and "swagger" in docs.text.lower() and "/openapi.json" in docs.text
        spec = httpx.get(f"{base}/openapi.json", timeout=5)
        assert spec.status_code == 200
        document = spec.json()
        assert document["openapi"].startswith("3.")
        assert "/supersim/v1/Sims" in document["paths"]
        assert "post" in document["paths"]["/supersim/v1/Sims"]

        # The running server writes to the database of --data-dir (or CELLPLANE_DATABASE_URL), nowhere else.
        server.admin("provision-sims", "--count", "3")
        assert stored_schema(url) == (head_revision(), 3)
        assert not (work / ".cellplane").exists()
    finally:
        server.stop()
    log = server.log()
    assert f"API            http://127.0.0.1:{port}/" in log
    if name == "sqlite":
        assert str(data / "cellplane.db") in log


@dataclass
class BoundPgw(Pgw):
    """A PGW whose RADIUS packets leave from `source` (any 127/8 address is this machine's loopback)."""

    source: str = "127.0.0.1"

    def client(self) -> Client:
        client = super().client()
        client.bind((self.source, 0))
        return client


def udp_port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


def answers(pgw: Pgw, imsi: str) -> int | None:
    """The RADIUS code of the answer to an Access-Request from 310-260, or None when nobody answers."""
    try:
        return int(pgw.access(imsi, ("310", "260")).code)
    except Timeout:
        return None


@pytest.fixture
def flagged_server(tmp_path: Path) -> Iterator[tuple[Server, dict[str, int]]]:
    """`cellplane up --emulator` with every AAA and gateway port and secret given as a flag. Its environment
    still names other ports: the flags must win over the CELLPLANE_* variables."""
    names = ("aaa-auth-port", "aaa-acct-port", "gtpc-port", "gtpu-port")
    # One draw for all nine, so no flag's port is also a variable's (the test asks the variables' ports too).
    chosen = free_ports(len(names) + len(UDP_PORT_VARIABLES), socket.SOCK_DGRAM)
    ports = dict(zip(names, chosen[: len(names)], strict=True))
    from_env = {name: str(port) for name, port in zip(UDP_PORT_VARIABLES, chosen[len(names) :], strict=True)}
    env = server_env(tmp_path, None, CELLPLANE_EMULATOR_ENABLED="true", CELLPLANE_RADIUS_SECRET="from-env", **from_env)
    server = Server(backend="sqlite", data_dir=tmp_path, port=free_port(), env=env)
    server.extra_args = [
        *(arg for name, port in ports.items() for arg in (f"--{name}", str(port))),
        "--radius-secret",
        "flag-secret",
        "--radius-clients",
        "127.0.0.1,127.0.0.2=second-nas",
    ]
    server.start()
    try:
        yield server, ports
    finally:
        server.stop()


def test_up_flags_set_the_aaa_and_gateway_ports_and_secrets(flagged_server: tuple[Server, dict[str, int]]) -> None:
    server, ports = flagged_server
    auth, acct = ports["aaa-auth-port"], ports["aaa-acct-port"]
    created = server.admin("create-account")
    account = Account(created["account_sid"], created["auth_token"], server)
    fleet = make_fleet(account, [USA])
    sim = make_sim(account, fleet)
    quick = {"timeout": 0.5, "retries": 1}

    pgw = Pgw(auth, acct, secret=b"flag-secret", **quick)  # type: ignore[arg-type]
    assert answers(pgw, "901539999999999") == pyrad_packet.AccessReject
    accepted = eventually(lambda: answers(pgw, sim.imsi), lambda code: code == pyrad_packet.AccessAccept)
    assert accepted == pyrad_packet.AccessAccept
    # --radius-clients: a second NAS with a secret of its own, from its own address.
    second = BoundPgw(auth, acct, secret=b"second-nas", source="127.0.0.2", **quick)  # type: ignore[arg-type]
    assert answers(second, sim.imsi) == pyrad_packet.AccessAccept
    # Nobody answers the environment's secret or the environment's ports: the flags won.
    assert answers(Pgw(auth, acct, secret=b"from-env", **quick), sim.imsi) is None  # type: ignore[arg-type]
    env_auth = int(server.env["CELLPLANE_AAA_AUTH_PORT"])
    assert answers(Pgw(env_auth, acct, secret=b"flag-secret", **quick), sim.imsi) is None  # type: ignore[arg-type]

    # The gateway listens on the flagged GTP ports, the emulator reaches it there, the gateway asks the AAA with
    # --radius-secret and sends accounting to --aaa-acct-port: usage shows in the API.
    assert udp_port_taken(ports["gtpc-port"]) and udp_port_taken(ports["gtpu-port"])
    devices = Devices(account)
    devices.attach(sim.iccid)
    devices.traffic(sim.iccid, up=3000, down=7000)
    with account.http() as http:
        records = http.get("/supersim/v1/UsageRecords", params={"Sim": sim.sid}).json()["usage_records"]
    assert [(r["data_upload"], r["data_download"]) for r in records] == [(3000, 7000)]
    devices.reset()

    log = server.log()
    assert f"RADIUS AAA     127.0.0.1:{auth} (auth), :{acct} (acct), secret 'flag-secret'" in log
    assert f"GTP-C 127.0.0.1:{ports['gtpc-port']}, GTP-U :{ports['gtpu-port']}" in log


def test_up_refuses_two_elements_on_one_udp_port_before_starting(tmp_path: Path) -> None:
    """A flag that lands on another element's port (here the variable's GTP-U port) is refused by name, exit 2,
    before the database is touched or any socket is bound."""
    env = server_env(tmp_path, None)
    taken = env["CELLPLANE_GTPU_PORT"]
    refused = subprocess.run(
        [*CLI, "up", "--port", str(free_port()), "--gtpc-port", taken], env=env, cwd=tmp_path, capture_output=True
    )
    assert refused.returncode == 2
    assert f"gtpu_port and gtpc_port are both UDP port {taken} on 127.0.0.1" in refused.stderr.decode()
    assert not (tmp_path / "cellplane.db").exists()

    env["CELLPLANE_AAA_ACCT_PORT"] = "not-a-port"
    refused = subprocess.run([*CLI, "up"], env=env, cwd=tmp_path, capture_output=True)
    assert refused.returncode == 2
    assert "CELLPLANE_AAA_ACCT_PORT / --aaa-acct-port: Input should be a valid integer" in refused.stderr.decode()


def test_a_test_server_draws_a_udp_port_taken_before_its_first_start_again(tmp_path: Path) -> None:
    """The harness's own guard for this shared machine: a port another process binds between the draw and the
    server's bind fails that start with EADDRINUSE, and the server comes up on new ports instead."""
    env = server_env(tmp_path, None)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", int(env["CELLPLANE_GTPU_PORT"])))
        server = Server(backend="sqlite", data_dir=tmp_path, port=free_port(), env=env)
        server.start()
        try:
            # The first start stopped on the squatter's port, naming it.
            assert (
                f"CELLPLANE_GTPU_PORT / --gtpu-port: UDP 127.0.0.1:{squatter.getsockname()[1]} is in use"
                in server.log()
            )
            assert int(server.env["CELLPLANE_GTPU_PORT"]) != squatter.getsockname()[1]
            assert udp_port_taken(int(server.env["CELLPLANE_GTPU_PORT"]))
            assert httpx.get(f"{server.base_url}/healthz", timeout=5).status_code == 200
        finally:
            server.stop()
