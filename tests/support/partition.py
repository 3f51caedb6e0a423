"""A network partition between a node and its PostgreSQL, made without touching the host's own network rules: the
node runs in a network namespace the test creates (`cellplane-test<tag>-partition`), joined to the host by a veth
pair whose ends take a /30 of 198.18.0.0/15; a PostgreSQL instance of the test's own listens on the host end; the
partition is an nftables table *inside the namespace* that drops the PostgreSQL port both ways (a half-open TCP
connection, as a switch failure or a stopped VM gives: no reset, no error, only silence). Everything is removed
afterwards, also when the test fails: the namespace (with its veth and its nftables table), the PostgreSQL and its
directory.

The namespace's name is claimed like a data plane instance's (network/dataplane/names.py): a data plane starting
meanwhile on this machine (another test) sweeps the `cellplane-<instance>-*` namespaces whose owner process is gone,
and would otherwise take this one for a leftover; if the test process dies, that same sweep removes it.

Needs root (namespaces, nftables, PostgreSQL run as the `postgres` user), `ip`, `nft` and PostgreSQL 15's binaries;
`available()` says why not (the tools are installed when root may).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from cellplane.network.dataplane import names
from tests.support.server import free_port
from tests.support.system_packages import install as install_packages

PG_BIN = Path("/usr/lib/postgresql/15/bin")
TABLE = "cellplane_partition"


def available() -> str | None:
    """None when this machine can run the partition test, else why not."""
    if os.geteuid() != 0:
        return "the partition test makes a network namespace and runs PostgreSQL as `postgres`: it needs root"
    if not (shutil.which("ip") and shutil.which("nft")):
        install_packages("iproute2", "nftables")
    if not (shutil.which("ip") and shutil.which("nft")):
        return "ip and nft are not installed and could not be (apt-get install iproute2 nftables)"
    if not (PG_BIN / "initdb").exists():
        install_packages("postgresql-15")
    if not (PG_BIN / "initdb").exists():
        return f"no PostgreSQL 15 binaries in {PG_BIN} (apt-get install postgresql-15)"
    return None


def _run(*command: str, input: str | None = None) -> None:
    subprocess.run(command, check=True, capture_output=True, text=True, input=input, timeout=60)


@dataclass
class Namespace:
    """A network namespace and a veth pair to the host: `host_ip` on the host's end, `ns_ip` inside."""

    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    host_ip: str = ""
    ns_ip: str = ""
    created: bool = False

    @property
    def instance(self) -> str:
        return f"test{self.tag}"

    @property
    def name(self) -> str:
        return names.netns_name(self.instance, "partition")

    @property
    def host_if(self) -> str:
        return f"cpt{self.tag}h"  # interface names are at most 15 characters

    def create(self) -> None:
        taken = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True, check=True).stdout
        rng = random.Random()
        while True:  # a /30 of 198.19.128.0/17 that no interface here has (other tests draw from 198.18.0.0/15 too)
            base = f"198.19.{rng.randrange(128, 256)}.{rng.randrange(0, 64) * 4}"
            prefix = base.rsplit(".", 1)[0]
            last = int(base.rsplit(".", 1)[1])
            self.host_ip, self.ns_ip = f"{prefix}.{last + 1}", f"{prefix}.{last + 2}"
            if f" {self.host_ip}/" not in taken and f" {self.ns_ip}/" not in taken:
                break
        names.claim(self.instance)
        _run("ip", "netns", "add", self.name)
        self.created = True
        _run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", "eth0", "netns", self.name)
        _run("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
        _run("ip", "link", "set", self.host_if, "up")
        self.run("ip", "addr", "add", f"{self.ns_ip}/30", "dev", "eth0")
        self.run("ip", "link", "set", "eth0", "up")
        self.run("ip", "link", "set", "lo", "up")

    def command(self, *command: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *command]

    def run(self, *command: str, input: str | None = None) -> None:
        _run(*self.command(*command), input=input)

    def partition(self, peer: str, port: int) -> None:
        """Drop every packet between this namespace and `peer`:`port`, both ways (inside the namespace only)."""
        rules = f"""
table inet {TABLE} {{
    chain out {{ type filter hook output priority 0; policy accept; ip daddr {peer} tcp dport {port} drop; }}
    chain in {{ type filter hook input priority 0; policy accept; ip saddr {peer} tcp sport {port} drop; }}
}}
"""
        self.run("nft", "-f", "-", input=rules)

    def heal(self) -> None:
        self.run("nft", "delete", "table", "inet", TABLE)

    def delete(self) -> None:
        """The namespace goes, and with it its veth pair (both ends) and its nftables table."""
        if self.created:
            subprocess.run(["ip", "netns", "delete", self.name], capture_output=True, check=False)
            subprocess.run(["ip", "link", "delete", self.host_if], capture_output=True, check=False)
            self.created = False
        names.release(self.instance)


@dataclass
class Postgres:
    """A PostgreSQL 15 of the test's own (initdb as `postgres`, fsync off), listening on `host`:`port` only."""

    host: str
    port: int = field(default_factory=free_port)
    root: Path | None = None

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@{self.host}:{self.port}/cellplane"

    def start(self, trusted: str) -> None:
        """Start it, trusting connections from the network `trusted` (CIDR) and the local socket, with a database
        `cellplane`."""
        self.root = Path(tempfile.mkdtemp(prefix="cellplane-test-pg-"))
        shutil.chown(self.root, "postgres", "postgres")
        data = self.root / "data"
        as_postgres = ["runuser", "-u", "postgres", "--"]
        _run(*as_postgres, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync")
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {trusted} trust\n")
        options = (
            f"-c listen_addresses={self.host} -c port={self.port} -c unix_socket_directories={self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        _run(*as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(self.root / "pg.log"), "-o", options,
             "-w", "-t", "60", "start")  # fmt: skip
        _run(*as_postgres, str(PG_BIN / "psql"), "-h", str(self.root), "-p", str(self.port), "-c",
             "CREATE DATABASE cellplane")  # fmt: skip

    def stop(self) -> None:
        if self.root is None:
            return
        data = self.root / "data"
        if (data / "postmaster.pid").exists():
            subprocess.run(
                ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True, check=False, timeout=60,
            )  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def log(self) -> str:
        path = self.root / "pg.log" if self.root else None
        return path.read_text(errors="replace")[-3000:] if path and path.exists() else ""
