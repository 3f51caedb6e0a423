"""Start the real `cellplane up` in a subprocess on a free port, against SQLite or PostgreSQL."""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "cellplane.cli.main"]
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    return free_ports(1, kind)[0]


def free_ports(count: int, kind: int = socket.SOCK_STREAM) -> list[int]:
    """`count` distinct free ports, drawn below the kernel's ephemeral range.

    A port from that range (what binding port 0 gives) can be handed by the kernel to any process's outgoing socket
    as soon as ours closes, so a server restarted on its old ports could find one taken (it happened in CI). Below
    the range only a bind that names the port takes it. Each xdist worker draws from its own slice, in turn from a
    random start, so parallel workers' servers never draw one port and a port comes back only after the slice wraps."""
    ports: list[int] = []
    candidates = _candidates()
    with contextlib.ExitStack() as held:
        for _ in range(len(_draw_slice())):
            if len(ports) == count:
                break
            port = next(candidates)
            sock = held.enter_context(socket.socket(socket.AF_INET, kind))
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            ports.append(port)
    if len(ports) < count:
        raise RuntimeError(f"no {count} free ports left in {_draw_slice()}")
    return ports


_DRAW_FLOOR = 10_000  # above the well-known and most fixed service ports


@functools.cache
def _draw_slice() -> range:
    """This process's slice of the ports below the ephemeral range."""
    try:
        ceiling = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ceiling = 32_768
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    width = (ceiling - _DRAW_FLOOR) // max(workers, 1)
    start = _DRAW_FLOOR + int(worker) * width if worker.isdigit() else _DRAW_FLOOR
    return range(start, start + width)


@functools.cache
def _candidates() -> Iterator[int]:
    """The slice's ports in turn, for the whole process, from a random start."""
    ports = _draw_slice()
    first = random.randrange(len(ports))
    return itertools.cycle([*ports[first:], *ports[:first]])


def postgres_available() -> str | None:
    """None when PostgreSQL answers on 127.0.0.1:5432, else the reason it does not."""
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return None
    except OSError as exc:
        return f"PostgreSQL does not answer on 127.0.0.1:5432 ({exc})"


def create_postgres_database(prefix: str = "cellplane_test") -> str:
    """A fresh, empty database named `prefix` and a random suffix; returns its SQLAlchemy URL."""
    import asyncio

    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"

    async def _create() -> None:
        connection = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(_create())
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


def drop_postgres_database(url: str) -> None:
    import asyncio

    import asyncpg

    name = url.rsplit("/", 1)[-1]

    async def _drop() -> None:
        connection = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    asyncio.run(_drop())


class ServerExitedEarly(RuntimeError):
    """The platform process ended before it answered /healthz; the message carries its log."""


# The network elements' ports, each drawn free for every test server (see server_env).
UDP_PORT_VARIABLES = tuple(
    f"CELLPLANE_{name}" for name in ("AAA_AUTH_PORT", "AAA_ACCT_PORT", "GTPC_PORT", "GTPU_PORT", "GATEWAY_DAE_PORT")
)


def drawn_udp_ports() -> dict[str, str]:
    """A free UDP port for each network element, all different."""
    ports = free_ports(len(UDP_PORT_VARIABLES), socket.SOCK_DGRAM)
    return {name: str(port) for name, port in zip(UDP_PORT_VARIABLES, ports, strict=True)}


@dataclass
class Server:
    """A running platform process and the environment that reaches its database."""

    backend: str
    data_dir: Path
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    extra_args: list[str] = field(default_factory=list)
    started_once: bool = False
    # The process's descriptor limit (RLIMIT_NOFILE, as `ulimit -n`), for tests of what a server does at its limit.
    max_open_files: int | None = None
    # Where its API answers, and what runs the command (e.g. `ip netns exec NAME` for a node in a namespace).
    host: str = "127.0.0.1"
    command_prefix: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float | None = None) -> None:
        """Start and wait for /healthz (90 s, or CELLPLANE_TEST_START_TIMEOUT on a machine too loaded for that).
        On a first start, a UDP port that another process took between the draw and the bind (this machine is
        shared) is drawn again, once; a restart keeps its ports."""
        if timeout is None:
            timeout = float(os.environ.get("CELLPLANE_TEST_START_TIMEOUT", "90"))
        try:
            self._start(timeout)
        except ServerExitedEarly as exc:
            # `cellplane up` names a busy port ("... UDP 127.0.0.1:N is in use") before it binds anything; a port
            # taken after that probe still fails at the bind ("Address already in use").
            busy = ": UDP " in str(exc) and "is in use" in str(exc)
            if self.started_once or not (busy or "Address already in use" in str(exc)):
                raise
            self.env.update(drawn_udp_ports())
            self._start(timeout)
        self.started_once = True

    def _start(self, timeout: float) -> None:
        self.log_path = self.data_dir / f"server-{self.port}.log"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [*self.command_prefix, *CLI, "up", "--port", str(self.port), "--log-level", "warning", *self.extra_args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.data_dir,
            preexec_fn=self._limit_files if self.max_open_files else None,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerExitedEarly(f"server exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        # Not healthy in time: end it, or it lives on as an orphan (the fixture that started it never stops it),
        # and on a shared machine every orphan makes the next start slower still.
        self.stop(kill=True)
        raise RuntimeError(f"server did not become healthy in {timeout:.0f}s:\n{self.log()}")

    def _limit_files(self) -> None:
        import resource

        assert self.max_open_files is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.max_open_files, self.max_open_files))

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path and self.log_path.exists() else ""

    def admin(self, *args: str) -> Any:
        """The operator's `cellplane admin ... --json`, answered through /admin/v1 (fast) when it can be.

        The HTTP admin surface and the CLI call the same services; the CLI itself is exercised by
        `cli_admin` in tests of its own.
        """
        command, options = args[0], _options(args[1:])
        token = self.env["CELLPLANE_ADMIN_TOKEN"]
        auth = ("admin", token)
        if command == "create-account" and set(options) <= {"--friendly-name", "--parent"}:
            data = {"FriendlyName": options.get("--friendly-name"), "ParentSid": options.get("--parent")}
            response = httpx.post(f"{self.base_url}/admin/v1/Accounts", data=_clean(data), auth=auth, timeout=30)
            response.raise_for_status()
            return response.json()
        if command == "create-api-key" and set(options) <= {"--account", "--friendly-name"}:
            url = f"{self.base_url}/admin/v1/Accounts/{options['--account']}/Keys"
            response = httpx.post(url, data=_clean({"FriendlyName": options.get("--friendly-name")}), auth=auth)
            response.raise_for_status()
            return response.json()
        if command == "provision-sims" and set(options) <= {"--count", "--product", "--account", "--seed"}:
            data = {
                "Count": options.get("--count"),
                "Product": options.get("--product"),
                "AccountSid": options.get("--account"),
                "Seed": options.get("--seed"),
            }
            response = httpx.post(f"{self.base_url}/admin/v1/Sims", data=_clean(data), auth=auth, timeout=120)
            response.raise_for_status()
            return response.json()["sims"]
        return self.cli_admin(*args)

    def cli_admin(self, *args: str) -> Any:
        """Run `cellplane admin ... --json` against this server's database and parse its output."""
        result = subprocess.run(
            [*CLI, "admin", *args, "--json"], env=self.env, capture_output=True, text=True, cwd=self.data_dir
        )
        if result.returncode != 0:
            raise RuntimeError(f"admin {args} failed: {result.stderr}")
        return json.loads(result.stdout)


def _options(args: tuple[str, ...]) -> dict[str, str]:
    options: dict[str, str] = {}
    index = 0
    while index < len(args):
        name = args[index]
        if index + 1 < len(args) and not args[index + 1].startswith("--"):
            options[name] = args[index + 1]
            index += 2
        else:
            options[name] = ""
            index += 1
    return options


def _clean(data: dict[str, str | None]) -> dict[str, str]:
    return {name: value for name, value in data.items() if value}


def server_env(data_dir: Path, database_url: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELLPLANE_")}
    env.update(
        {
            "CELLPLANE_DATA_DIR": str(data_dir),
            "CELLPLANE_SIM_UPDATE_DELAY": "0",
            "CELLPLANE_RATE_LIMIT": "0",
            "CELLPLANE_JOB_BACKOFF_BASE": "0.05",
            "PYTHONUNBUFFERED": "1",
            "CELLPLANE_ADMIN_TOKEN": uuid.uuid4().hex,
            # Packets through routing domains are the data plane tests' own (they ask for "on"); the other servers
            # skip building a namespace each, so dozens of them start side by side as quickly as before.
            "CELLPLANE_DATA_PLANE": "off",
            # Tests' callback receivers listen on 127.0.0.1: the lab setting (tests of the policy turn it off).
            "CELLPLANE_WEBHOOK_ALLOW_PRIVATE": "true",
        }
    )
    # Every network element on its own free port, so servers of parallel runs never collide, nor two of one.
    env.update(drawn_udp_ports())
    if database_url:
        env["CELLPLANE_DATABASE_URL"] = database_url
    env.update(extra)
    return env
