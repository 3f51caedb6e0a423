"""Several `cellplane up --role ...` nodes on one PostgreSQL database (issue 21), for the cluster tests."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import cellplane
from cellplane.domain.networks import network_sid
from cellplane.emulator import Emulator, EmulatorConfig
from tests.conftest import Account
from tests.support.network import USA, make_fleet
from tests.support.patroni import PatroniCluster
from tests.support.server import (
    Server,
    create_postgres_database,
    drop_postgres_database,
    free_port,
    postgres_available,
    server_env,
)
from tests.unit.network.peers import USA as USA_PLMN


def shared_database(why: str) -> Iterator[str]:
    """A fresh PostgreSQL database for a test's nodes (skips visibly when PostgreSQL does not answer)."""
    reason = postgres_available()
    if reason:
        pytest.skip(f"{why}: {reason}")
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


def start_node(database_url: str, roles: str, data_dir: Path, token: str, **env: str) -> Server:
    """One node with its own ports and data directory; `env`: more CELLPLANE_* settings."""
    data_dir.mkdir()
    server = Server(
        backend="postgres",
        data_dir=data_dir,
        port=free_port(),
        env=server_env(data_dir, database_url, CELLPLANE_ADMIN_TOKEN=token, **env),
        extra_args=["--role", roles],
    )
    server.start()
    return server


def make_active_sims(api: Server, count: int) -> tuple[Account, list[tuple[str, str, str]]]:
    """`count` active SIMs in a fleet allowed in the USA, made through an API node (activated by a workers node):
    the account and each SIM's (sid, iccid, imsi)."""
    created = api.admin("create-account", "--friendly-name", "cluster")
    account = Account(created["account_sid"], created["auth_token"], api)
    http = account.http()
    fleet = make_fleet(account, [USA])
    made = []
    for item in account.inventory(count):
        claimed = http.post(
            "/supersim/v1/Sims", data={"Iccid": item["iccid"], "RegistrationCode": item["registration_code"]}
        )
        assert claimed.status_code == 201, claimed.text
        sid = claimed.json()["sid"]
        assert http.post(f"/supersim/v1/Sims/{sid}", data={"Fleet": fleet.sid, "Status": "active"}).status_code == 202
        made.append((sid, item["iccid"], item["imsi"]))
    deadline = time.monotonic() + 30
    for sid, _, _ in made:
        while http.get(f"/supersim/v1/Sims/{sid}").json()["status"] != "active":
            assert time.monotonic() < deadline, f"{sid} was not activated (by the workers)"
            time.sleep(0.2)
    return account, made


def fetch(database_url: str, query: str, *args: Any) -> list[dict[str, Any]]:
    """Rows of one query on the nodes' database, read directly (what the nodes wrote)."""

    async def read() -> list[dict[str, Any]]:
        connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            return [dict(row) for row in await connection.fetch(query, *args)]
        finally:
            await connection.close()

    return asyncio.run(read())


# --- the fixture: Patroni-managed PostgreSQL and six nodes ------------------------------------------------

NODES = {
    # name: roles. The workers (job runners, the dead-gateway sweep) run on the first API node.
    "api-a": "api,workers",
    "api-b": "api",
    "aaa-a": "aaa",
    "aaa-b": "aaa",
    "gw-a": "gateway",
    "gw-b": "gateway",
}
UE_POOL, UE_SLICE = "10.80.0.0/18", "24"  # 64 slices of 256 addresses, leased by the two AAA nodes


@dataclass
class Cluster:
    """A PostgreSQL primary and synchronous standby (Patroni + etcd) and the nodes of NODES on it. Gateway `gw-x`
    sends its RADIUS to `aaa-x` (a gateway names one AAA), and `aaa-x` its Disconnect-Requests to `gw-x`."""

    root: Path
    database: PatroniCluster
    token: str = field(default_factory=lambda: os.urandom(16).hex())
    nodes: dict[str, Server] = field(default_factory=dict)
    started_in: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # seconds from the start to: primary, nodes, standby
    start_cpu: float = 0.0  # CPU seconds the start took, every process counted (cpu_seconds)

    @property
    def url(self) -> str:
        return self.database.url

    @property
    def dsn(self) -> str:
        """asyncpg's DSN of the node that takes writes now (for the tests' own reads)."""
        primary = self.database.primary()
        assert primary is not None, "no PostgreSQL primary"
        return f"postgresql://postgres:cellplane@127.0.0.1:{primary.pg_port}/cellplane"

    def __getitem__(self, name: str) -> Server:
        return self.nodes[name]

    def start(self) -> None:
        started, cpu = time.monotonic(), cpu_seconds()
        # The package's bytecode, written once while PostgreSQL starts: where PYTHONDONTWRITEBYTECODE is set (as on
        # this project's shared machine) every node start would compile the whole package again, about a quarter
        # of its CPU; an installed package has its bytecode from pip.
        compiling = subprocess.Popen(
            [sys.executable, "-m", "compileall", "-q", str(Path(cellplane.__file__).parent)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.database.launch()
        self.database.wait_for_primary(300)
        compiling.wait()
        self.phases["primary"] = time.monotonic() - started
        envs = {name: server_env(self.root / name, self.url, CELLPLANE_ADMIN_TOKEN=self.token) for name in NODES}
        for side in ("a", "b"):
            aaa, gateway = envs[f"aaa-{side}"], envs[f"gw-{side}"]
            for variable in ("CELLPLANE_AAA_AUTH_PORT", "CELLPLANE_AAA_ACCT_PORT"):
                gateway[variable] = aaa[variable]
            aaa["CELLPLANE_GATEWAY_DAE_PORT"] = gateway["CELLPLANE_GATEWAY_DAE_PORT"]
        for name, env in envs.items():
            (self.root / name).mkdir(parents=True)
            env.update(CELLPLANE_UE_IP_POOL=UE_POOL, CELLPLANE_UE_IP_POOL_SLICE=UE_SLICE)
            self.nodes[name] = Server(
                backend="postgres", data_dir=self.root / name, port=free_port(), env=env,
                extra_args=["--role", NODES[name]],
            )  # fmt: skip
        # The nodes start (the first to take the migration lock migrates) while the standby catches up.
        with ThreadPoolExecutor(len(self.nodes) + 1) as pool:
            standby = pool.submit(self.database.wait_for_sync_standby, 300)
            list(pool.map(lambda server: server.start(), self.nodes.values()))
            self.phases["nodes"] = time.monotonic() - started
            standby.result()
            self.phases["standby"] = time.monotonic() - started
        self.start_cpu = cpu_seconds() - cpu
        self.started_in = time.monotonic() - started

    def restart(self, name: str) -> None:
        """A node started again after a kill or a stop, on its own ports and data directory (and node id)."""
        self.nodes[name].start()

    def stop(self) -> None:
        for server in self.nodes.values():
            server.stop()
        self.database.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        return fetch_dsn(self.dsn, query, *args)

    def api(self, name: str = "api-a") -> Account:
        """A new account, as an API node's client sees it."""
        created = self.nodes[name].admin("create-account", "--friendly-name", "cluster")
        return Account(created["account_sid"], created["auth_token"], self.nodes[name])


def gateway_emulators(cluster: Cluster) -> list[Emulator]:
    """One emulated radio network per gateway node (gw-a, gw-b), each speaking GTP to its own gateway."""
    return [
        Emulator(
            EmulatorConfig(
                gateway_gtpc_port=int(cluster[name].env["CELLPLANE_GTPC_PORT"]),
                gateway_gtpu_port=int(cluster[name].env["CELLPLANE_GTPU_PORT"]),
                t3=3.0,
                n3=3,
                # This process also makes the load (API requests, attaches): bursts wait for it in the kernel.
                user_plane_buffer=8 << 20,
            )
        )
        for name in ("gw-a", "gw-b")
    ]


def fetch_dsn(dsn: str, query: str, *args: Any) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        connection = await asyncpg.connect(dsn)
        try:
            return [dict(row) for row in await connection.fetch(query, *args)]
        finally:
            await connection.close()

    return asyncio.run(read())


def bulk_active_sims(dsn: str, account_sid: str, count: int, tag: str) -> list[tuple[str, str]]:
    """`count` active Super SIMs of `account_sid` in a fleet allowed in the USA, each with its billing period in
    force, written by a few INSERT ... SELECT generate_series (making thousands through the API would take
    minutes). Returns each SIM's (sid, imsi); `tag` (a digit or two) keeps IMSIs and names apart between calls.

    Stamped as changed now: the AAA nodes' pollers load them within a second or two."""
    assert tag.isdigit() and len(tag) <= 3
    nap, fleet = f"HA{uuid.uuid4().hex}", f"HF{uuid.uuid4().hex}"

    async def write() -> None:
        connection = await asyncpg.connect(dsn)
        try:
            async with connection.transaction():
                await connection.execute(
                    "INSERT INTO network_access_profiles (sid, account_sid, unique_name, date_created, date_updated)"
                    " VALUES ($1, $2, $1, now(), now())",
                    nap, account_sid,
                )  # fmt: skip
                await connection.execute(
                    "INSERT INTO network_access_profile_networks (network_access_profile_sid, network_sid,"
                    " date_created) VALUES ($1, $2, now())",
                    nap, network_sid(*USA_PLMN),
                )  # fmt: skip
                await connection.execute(
                    """
                    INSERT INTO fleets (sid, account_sid, unique_name, data_enabled, data_limit, data_metering,
                        sms_commands_enabled, sms_commands_method, ip_commands_method, network_access_profile_sid,
                        date_created, date_updated)
                    VALUES ($1, $2, $1, true, 1000000, 'payg', true, 'POST', 'POST', $3, now(), now())
                    """,
                    fleet, account_sid, nap,
                )  # fmt: skip
                await connection.execute(
                    """
                    INSERT INTO sims (sid, product, account_sid, iccid, imsi, registration_code, unique_name, status,
                        fleet_sid, pending_fleet_set, ready_bytes, ready_sms, claimed_at, date_activated,
                        date_created, date_updated)
                    SELECT 'HS' || $3 || lpad(to_hex(n), 29, '0'), 'supersim', $1,
                        '89883' || $3 || lpad(n::text, 12, '0'), '00102' || $3 || lpad(n::text, 7, '0'),
                        'RC' || $3 || n, 'sim-' || $3 || '-' || n, 'active', $2, false, 0, 0,
                        now() - interval '1 day', now() - interval '1 day', now(), now()
                    FROM generate_series(1, $4) AS n
                    """,
                    account_sid, fleet, tag.rjust(3, "0"), count,
                )  # fmt: skip
                await connection.execute(
                    """
                    INSERT INTO billing_periods (sid, account_sid, sim_sid, start_time, end_time, period_type,
                        date_created, date_updated)
                    SELECT 'HB' || $2 || lpad(to_hex(n), 29, '0'), $1, 'HS' || $2 || lpad(to_hex(n), 29, '0'),
                        now() - interval '1 day', now() + interval '29 days', 'active', now(), now()
                    FROM generate_series(1, $3) AS n
                    """,
                    account_sid, tag.rjust(3, "0"), count,
                )  # fmt: skip
        finally:
            await connection.close()

    asyncio.run(write())
    rows = fetch_dsn(dsn, "SELECT sid, imsi FROM sims WHERE fleet_sid = $1 ORDER BY imsi", fleet)
    return [(row["sid"], row["imsi"]) for row in rows]


def scaled(count: int, least: int = 1, test: str = "") -> int:
    """The issue's `count`, times CELLPLANE_CLUSTER_SCALE (default 1: the issue's scale; e.g. 0.1 for a quick look),
    or times CELLPLANE_CLUSTER_SCALE_<TEST> for one test."""
    scale = os.environ.get(f"CELLPLANE_CLUSTER_SCALE_{test.upper()}") or os.environ.get("CELLPLANE_CLUSTER_SCALE", "1")
    return max(least, round(count * float(scale)))


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and everything it started (nodes, Patroni, PostgreSQL and its
    backends, etcd), those that ended included. On a shared machine the wall time of a test says more about the
    neighbours than about cellplane; this, divided by the cores, is what the test needs on a quiet machine."""
    parent_of: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parent_of[pid] = int(fields[1])
        used[pid] = sum(int(value) for value in fields[11:15]) / _TICK  # its own and its ended children's
    children: dict[int, list[int]] = {}
    for pid, parent in parent_of.items():
        children.setdefault(parent, []).append(pid)
    total, stack = 0.0, list(children.get(os.getpid(), []))
    while stack:
        pid = stack.pop()
        total += used.get(pid, 0.0)
        stack.extend(children.get(pid, []))
    mine = os.times()
    return total + mine.user + mine.system + mine.children_user + mine.children_system
