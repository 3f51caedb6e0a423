"""The RADIUS part of bench/network.py: the benchmark's world, radclient input and load, the two servers, profiles.

Kept apart from bench/network.py (which runs the scenarios and writes the report) so that the GTP part of the
network benchmark can sit beside it.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from cellplane.domain.ids import Prefix, SidFactory
from cellplane.domain.networks import network_sid
from cellplane.store.db import make_engine
from cellplane.store.models import Account, BillingPeriod, Fleet, NetworkAccessProfile, NetworkAccessProfileNetwork, Sim

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / ".work" / "radius"
CLI = [sys.executable, "-m", "cellplane.cli.main"]
DICTIONARIES = str(REPO / "src/cellplane/protocols/radius")
SECRET = "cellplane"
SERVER_CPU, LOAD_CPU = "0", "1"
PORTS = {"cellplane": (28112, 28113, 28180), "freeradius": (28212, 28213)}
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


# --- the world ----------------------------------------------------------------------------------------------------


def imsi(n: int) -> str:
    return f"90153{n:010d}"


def address(n: int) -> str:
    return f"10.{64 + (n >> 16)}.{(n >> 8) & 255}.{n & 255 or 1}"


async def populate(url: str, sims: int) -> None:
    """One account, a profile allowing France, a fleet, `sims` active SIMs with their current billing period."""
    factory = SidFactory(7)
    now = datetime.now(UTC)
    account, profile = factory.new(Prefix.ACCOUNT), factory.new(Prefix.NETWORK_ACCESS_PROFILE)
    fleet = factory.new(Prefix.FLEET)
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.execute(insert(Account), [{"sid": account, "friendly_name": "bench", "auth_token": "t" * 32}])
        await conn.execute(insert(NetworkAccessProfile), [{"sid": profile, "account_sid": account}])
        await conn.execute(
            insert(NetworkAccessProfileNetwork),
            [{"network_access_profile_sid": profile, "network_sid": network_sid("208", "01")}],
        )
        await conn.execute(
            insert(Fleet),
            [{"sid": fleet, "account_sid": account, "network_access_profile_sid": profile, "data_limit": 2_000_000}],
        )
        for start in range(0, sims, 5000):
            rows, periods = [], []
            for n in range(start, min(sims, start + 5000)):
                sid = factory.new(Prefix.SUPER_SIM)
                rows.append(
                    {
                        "sid": sid,
                        "iccid": f"8988307{n:013d}",
                        "imsi": imsi(n),
                        "registration_code": "BENCH",
                        "status": "active",
                        "account_sid": account,
                        "fleet_sid": fleet,
                        "claimed_at": now,
                        "date_activated": now - timedelta(days=1),
                    }
                )
                periods.append(
                    {
                        "sid": factory.new(Prefix.BILLING_PERIOD),
                        "account_sid": account,
                        "sim_sid": sid,
                        "start_time": now - timedelta(days=1),
                        "end_time": now + timedelta(days=29),
                        "period_type": "active",
                    }
                )
            await conn.execute(insert(Sim), rows)
            await conn.execute(insert(BillingPeriod), periods)
    await engine.dispose()


def database(backend: str) -> str:
    if backend == "postgres":
        import asyncpg

        async def recreate() -> None:
            connection = await asyncpg.connect(PG_ADMIN)
            await connection.execute('DROP DATABASE IF EXISTS "cellplane_bench_radius" WITH (FORCE)')
            await connection.execute('CREATE DATABASE "cellplane_bench_radius"')
            await connection.close()

        asyncio.run(recreate())
        return "postgresql+asyncpg://postgres@127.0.0.1:5432/cellplane_bench_radius"
    path = WORK / "cellplane.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite+aiosqlite:///{path}"


# --- radclient input ----------------------------------------------------------------------------------------------


def access_file(sims: int) -> Path:
    """One Access-Request per SIM, as docs/NETWORK.md has the gateway send it."""
    blocks = (
        f'User-Name = "{imsi(n)}"\nUser-Password = "{imsi(n)}"\n3GPP-IMSI = "{imsi(n)}"\n'
        f'3GPP-IMEISV = "35268600{n % 1000000:06d}01"\n3GPP-SGSN-MCC-MNC = "20801"\n3GPP-RAT-Type = LTE-M\n'
        'Called-Station-Id = "super"\nNAS-IP-Address = 127.0.0.1\nNAS-Identifier = "bench-pgw"\n'
        "Framed-Protocol = GPRS-PDP-Context\nMessage-Authenticator = 0x00\n"
        for n in range(sims)
    )
    return _write(WORK / "access.txt", blocks)


def accounting_file(sims: int, status: str, round_: int) -> Path:
    """One Accounting-Request per session; each round's cumulative counters grow (so each is new usage)."""
    blocks = (
        f'Acct-Status-Type = {status}\nAcct-Session-Id = "bench-{n}"\nUser-Name = "{imsi(n)}"\n'
        f'3GPP-IMSI = "{imsi(n)}"\n3GPP-SGSN-MCC-MNC = "20801"\n3GPP-RAT-Type = LTE-M\n'
        f'NAS-IP-Address = 127.0.0.1\nNAS-Identifier = "bench-pgw"\nFramed-IP-Address = {address(n)}\n'
        f"Acct-Input-Octets = {1000 * round_}\nAcct-Output-Octets = {3000 * round_}\n"
        f"Acct-Input-Packets = {10 * round_}\nAcct-Output-Packets = {20 * round_}\nAcct-Session-Time = {60 * round_}\n"
        for n in range(sims)
    )
    return _write(WORK / f"acct-{status}-{round_}.txt", blocks)


def _write(path: Path, blocks: Iterator[str]) -> Path:
    path.write_text("\n".join(blocks))
    return path


@dataclass
class Run:
    target: str
    scenario: str
    requests: int
    seconds: float
    lost: int
    cpu: float = 0.0  # CPU seconds the server process used meanwhile (user + system, all its threads)

    @property
    def rate(self) -> float:
        return (self.requests - self.lost) / self.seconds

    @property
    def cpu_us(self) -> float:
        """Server CPU per answered request: what the rate would be bound by on a core of its own."""
        return 1e6 * self.cpu / max(1, self.requests - self.lost)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (/proc/<pid>/stat fields 14 and 15, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(target: str, scenario: str, port: int, kind: str, packets: Path, count: int, parallel: int, pid: int) -> Run:
    """radclient on the load CPU: every packet of the file once, `parallel` in flight; the server's CPU use too."""
    command = ["taskset", "-c", LOAD_CPU, "radclient", "-q", "-s", "-p", str(parallel), "-r", "3", "-t", "3"]
    command += ["-D", DICTIONARIES, "-f", str(packets), f"127.0.0.1:{port}", kind]
    cpu = cpu_seconds(pid)
    started = time.perf_counter()
    done = subprocess.run([*command, SECRET], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    cpu = cpu_seconds(pid) - cpu
    lost = int(m.group(1)) if (m := re.search(r"Packets lost\s*:\s*(\d+)", done.stdout)) else 0
    failed = re.search(r"Failed filter\s*:\s*(\d+)", done.stdout)
    if done.returncode not in (0, 1) or "Received" in done.stderr:
        print(done.stdout[-500:], done.stderr[-500:], file=sys.stderr)
    if failed and int(failed.group(1)):
        print(f"  {target} {scenario}: {failed.group(1)} answers did not pass radclient's filter", file=sys.stderr)
    return Run(target, scenario, count, seconds, lost, cpu)


# --- the servers --------------------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def wait_udp_answer(port: int, sims: int) -> None:
    """Until the server answers an Access-Request for a real SIM (the AAA loads its policies first)."""
    body = f'User-Name = "{imsi(sims - 1)}"\nUser-Password = "{imsi(sims - 1)}"\n3GPP-SGSN-MCC-MNC = "20801"\n'
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = subprocess.run(
            ["radclient", "-r", "1", "-t", "1", "-D", DICTIONARIES,
             f"127.0.0.1:{port}", "auth", SECRET],
            input=body, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if "Access-Accept" in done.stdout:
            return
        time.sleep(0.5)
    raise RuntimeError(f"nothing answers Access-Requests on port {port}")


def start_cellplane(url: str) -> Server:
    auth, acct, http = PORTS["cellplane"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELLPLANE_")}
    env |= {
        "CELLPLANE_DATA_DIR": str(WORK),
        "CELLPLANE_DATABASE_URL": url,
        "CELLPLANE_AAA_AUTH_PORT": str(auth),
        "CELLPLANE_AAA_ACCT_PORT": str(acct),
        "CELLPLANE_GATEWAY_ENABLED": "false",
        "CELLPLANE_EMULATOR_ENABLED": "false",
        "CELLPLANE_RATE_LIMIT": "0",
    }
    log = WORK / "cellplane.log"
    command = ["taskset", "-c", SERVER_CPU, *CLI, "up", "--port", str(http), "--log-level", "warning"]
    process = subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=WORK)
    return Server("cellplane", process, log)


def start_freeradius(sims: int) -> Server | None:
    binary = shutil.which("freeradius") or shutil.which("radiusd")
    if binary is None:
        return None
    raddb = WORK / "raddb"
    for sub in ("raddb", "log", "run", "acct"):
        (WORK / sub).mkdir(parents=True, exist_ok=True)
    auth, acct = PORTS["freeradius"]
    conf = (HERE / "freeradius.conf").read_text()
    conf = conf.replace("@WORK@", str(WORK)).replace("@AUTH@", str(auth)).replace("@ACCT@", str(acct))
    (raddb / "radiusd.conf").write_text(conf)
    (raddb / "dictionary").write_text("")
    users = (
        f'{imsi(n)} Cleartext-Password := "{imsi(n)}"\n\tFramed-IP-Address = {address(n)}\n\n' for n in range(sims)
    )
    _write(raddb / "users", users)
    shutil.rmtree(WORK / "acct", ignore_errors=True)
    log = WORK / "freeradius.log"
    command = ["taskset", "-c", SERVER_CPU, binary, "-f", "-d", str(raddb)]
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    return Server("freeradius", process, log)


# --- profile, report ----------------------------------------------------------------------------------------------


def profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy sampling of the platform during one scenario (where the time goes, if a target is missed)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        return None
    command = [
        spy,
        "record",
        "--pid",
        str(pid),
        "--gil",
        "-r",
        "250",
        "-f",
        "raw",
        "-d",
        str(int(seconds)),
        "-o",
        str(out),
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def hot_spots(raw: Path, top: int = 12) -> list[tuple[str, float]]:
    """Share of samples per leaf function (collapsed stacks: "frame;frame;... count")."""
    if not raw.exists():
        return []
    leaves: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        leaf = stack.split(";")[-1]
        name = re.sub(r"\s*\((?:/[^)]*/)?([^/)]+)\)", r" (\1)", leaf)
        leaves[name] = leaves.get(name, 0) + int(count)
        total += int(count)
    ranked = sorted(leaves.items(), key=lambda item: -item[1])[:top]
    return [(name, 100.0 * count / total) for name, count in ranked] if total else []
