"""A PostgreSQL primary and a synchronous standby managed by Patroni with etcd (Debian's packages), on this machine,
for the failover tests: random ports, its own directories, everything killed and removed afterwards.

Patroni and PostgreSQL run as the `postgres` user (initdb refuses root). Short timings (ttl 10 s, loop_wait 1 s)
so that a primary's loss is noticed and the standby promoted within about ten seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.server import free_ports
from tests.support.system_packages import install as install_packages

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def available() -> str | None:
    """None when Patroni, etcd and PostgreSQL 15's binaries can be run here, else why not (installed when root)."""
    if os.geteuid() != 0:
        return "the failover test runs Patroni as the postgres user: it needs root"
    if not (shutil.which("patroni") and shutil.which("etcd")):
        install_packages("patroni", "etcd-server")
    if not (shutil.which("patroni") and shutil.which("etcd")):
        return "patroni and etcd are not installed and could not be (apt-get install patroni etcd-server)"
    if not (PG_BIN / "postgres").exists():
        return f"no PostgreSQL 15 binaries in {PG_BIN}"
    return None


@dataclass
class Node:
    name: str
    pg_port: int
    rest_port: int
    process: subprocess.Popen[bytes] | None = None

    def role(self) -> str | None:
        try:
            return str(httpx.get(f"http://127.0.0.1:{self.rest_port}/patroni", timeout=1).json().get("role"))
        except (httpx.HTTPError, ValueError):
            return None


@dataclass
class PatroniCluster:
    root: Path
    scope: str = field(default_factory=lambda: f"cellplane-{uuid.uuid4().hex[:8]}")
    nodes: list[Node] = field(default_factory=list)
    etcd: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        etcd_client, etcd_peer, *ports = free_ports(6)
        self.etcd_client, self.etcd_peer = etcd_client, etcd_peer
        self.nodes = [Node("pg1", ports[0], ports[1]), Node("pg2", ports[2], ports[3])]

    @property
    def url(self) -> str:
        """cellplane's URL: both nodes, the one that takes writes chosen at each connection."""
        hosts = "&".join(f"host=127.0.0.1:{node.pg_port}" for node in self.nodes)
        return f"postgresql+asyncpg://postgres:cellplane@/cellplane?{hosts}&target_session_attrs=read-write"

    def start(self, timeout: float = 90) -> None:
        """Start etcd and both nodes; return once there is a primary, its standby streams synchronously, and the
        database `cellplane` exists."""
        self.launch()
        self.wait_for_primary(timeout)
        self.wait_for_sync_standby(timeout)

    def launch(self) -> None:
        """Start etcd and both Patroni nodes, without waiting for them."""
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.root, "postgres", "postgres")
        self.etcd = subprocess.Popen(
            [
                "etcd", "--name", "etcd0", "--data-dir", str(self.root / "etcd"),
                "--listen-client-urls", f"http://127.0.0.1:{self.etcd_client}",
                "--advertise-client-urls", f"http://127.0.0.1:{self.etcd_client}",
                "--listen-peer-urls", f"http://127.0.0.1:{self.etcd_peer}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.etcd_peer}",
                "--initial-cluster", f"etcd0=http://127.0.0.1:{self.etcd_peer}",
            ],
            stdout=(self.root / "etcd.log").open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        for node in self.nodes:
            self._launch(node)

    def wait_for_primary(self, timeout: float = 90) -> None:
        """Until a primary takes writes and has the database `cellplane` (its standby may still be on its way:
        without one, Patroni's synchronous_mode lets the primary commit alone)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.primary() is not None:
                try:
                    self._create_database()
                except subprocess.CalledProcessError:
                    pass  # promoted, but not accepting connections yet
                else:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"the Patroni cluster had no primary in {timeout:.0f} s:\n{self.logs()}")

    def wait_for_sync_standby(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            roles = sorted(str(node.role()) for node in self.nodes)
            if roles in (["primary", "replica"], ["master", "replica"]) and self.sync_standby() is not None:
                return
            time.sleep(0.2)
        raise RuntimeError(f"the Patroni cluster had no synchronous standby in {timeout:.0f} s:\n{self.logs()}")

    def _launch(self, node: Node) -> None:
        config = {
            "scope": self.scope,
            "name": node.name,
            "restapi": {"listen": f"127.0.0.1:{node.rest_port}", "connect_address": f"127.0.0.1:{node.rest_port}"},
            "etcd3": {"hosts": [f"127.0.0.1:{self.etcd_client}"]},
            "bootstrap": {
                "dcs": {
                    "ttl": 10,
                    "loop_wait": 1,
                    "retry_timeout": 4,
                    "synchronous_mode": True,
                    "postgresql": {"use_pg_rewind": True, "parameters": {"wal_log_hints": "on"}},
                },
                "initdb": [{"encoding": "UTF8"}, {"locale": "C"}],
            },
            "postgresql": {
                "listen": f"127.0.0.1:{node.pg_port}",
                "connect_address": f"127.0.0.1:{node.pg_port}",
                "data_dir": str(self.root / node.name),
                "bin_dir": str(PG_BIN),
                "pgpass": str(self.root / f"{node.name}.pgpass"),
                "authentication": {
                    "superuser": {"username": "postgres", "password": "cellplane"},
                    "replication": {"username": "replicator", "password": "cellplane"},
                    "rewind": {"username": "postgres", "password": "cellplane"},
                },
                "pg_hba": [
                    "local all all trust",
                    "host all all 127.0.0.1/32 md5",
                    "host replication all 127.0.0.1/32 md5",
                ],
                "parameters": {"unix_socket_directories": str(self.root), "max_connections": 200},
                # The standby's copy starts with a checkpoint on the primary, by default a spread one: with the nodes'
                # migrations just written it waited up to 99 s (checkpoint_completion_target of a 5 min timeout).
                "basebackup": [{"checkpoint": "fast"}],
            },
        }
        path = self.root / f"{node.name}.yml"
        path.write_text(json.dumps(config))  # JSON is YAML
        shutil.chown(path, "postgres", "postgres")
        log = (self.root / f"{node.name}.log").open("ab")
        node.process = subprocess.Popen(
            ["runuser", "-u", "postgres", "--", "patroni", str(path)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def cluster_state(self) -> dict[str, object]:
        for node in self.nodes:
            try:
                state: dict[str, object] = httpx.get(f"http://127.0.0.1:{node.rest_port}/cluster", timeout=1).json()
                return state
            except (httpx.HTTPError, ValueError):
                continue
        return {}

    def sync_standby(self) -> str | None:
        members = self.cluster_state().get("members", [])
        for member in members if isinstance(members, list) else []:
            if member.get("role") == "sync_standby" and member.get("state") in ("streaming", "running"):
                return str(member["name"])
        return None

    def primary(self) -> Node | None:
        for node in self.nodes:
            if node.role() in ("primary", "master"):
                return node
        return None

    def _create_database(self) -> None:
        primary = self.primary()
        assert primary is not None
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "psql"), "-h", str(self.root), "-p", str(primary.pg_port),
             "-c", "CREATE DATABASE cellplane"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip

    def kill(self, node: Node) -> None:
        """The machine is lost: Patroni and its PostgreSQL killed at once (kill -9 of the whole process group)."""
        assert node.process is not None
        with_postmaster = self._postmaster(node)
        os.killpg(node.process.pid, signal.SIGKILL)
        if with_postmaster is not None:
            try:
                os.killpg(with_postmaster, signal.SIGKILL)
            except ProcessLookupError:
                pass
        node.process.wait()

    def _postmaster(self, node: Node) -> int | None:
        pid_file = self.root / node.name / "postmaster.pid"
        try:
            return os.getpgid(int(pid_file.read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            return None

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}" for path in sorted(self.root.glob("*.log"))
        )

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                self.kill(node)
            else:
                postmaster = self._postmaster(node)
                if postmaster is not None:
                    try:
                        os.killpg(postmaster, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        if self.etcd is not None:
            self.etcd.kill()
            self.etcd.wait()
        shutil.rmtree(self.root, ignore_errors=True)
