"""Cluster benchmark (issue 21): AAA nodes on one PostgreSQL with `--sims` SIMs (default 1,000,000).

Method. A fresh PostgreSQL database (127.0.0.1:5432) migrated with `cellplane db upgrade`, one account, one
network access profile and fleet, and `--sims` active Super SIMs in it written by one `INSERT ... SELECT
generate_series` (as bench/console.py), then VACUUM ANALYZE. A second, empty database in the same run is the
reference for memory.

- Cold start: `cellplane up --role aaa` started on each database; the time from the process's start to its
  /healthz answering, and the resident memory (VmRSS) once up. The AAA's policy cache is bounded
  (CELLPLANE_AAA_CACHE_SIMS, default 200,000) and loaded on demand: at start it reads only the SIMs with an open
  session and the Things. The reference in the same run is the same node with CELLPLANE_AAA_CACHE_SIMS=0 (no bound:
  every SIM's policy read before the node answers, as before the bound); memory per SIM = (its RSS - RSS of the
  node on the empty database) / SIMs. `--no-reference` leaves it out.
- Loading on demand (after the one-node accounting, so that its database is in the same state as the reference's):
  Access-Requests for `--attaches` distinct SIMs none of which is cached (128 in flight): the attaches answered per
  second and the AAA's CPU an attach, then the same SIMs again (cached now) as the reference; and the RSS once they
  are all cached: memory a cached SIM = (RSS - RSS on the empty database) / SIMs cached (this includes each attach's
  lease in the UE address pool).
- Accounting: `--sessions` sessions opened with Accounting Starts, then Interim-Updates with growing counters for
  `--seconds`, sent by this script (asyncio, RADIUS built with cellplane.protocols.radius, 128 requests in flight
  a node, retransmitted after 1 s); answered records/s, and the CPU seconds per record of the AAA process(es) and
  of PostgreSQL (every `postgres` process's utime+stime from /proc, before and after). First one AAA node, then
  two AAA nodes at once in the same run (the sessions split between them). The sessions' SIMs are loaded on demand
  by their Starts, before the measured window; the reference node (no bound) is measured the same way, alone.
- API: GET one SIM and a list page through one API node, then two at once (bench/cluster_api.py says how).

On a 2-core machine the loader, the AAA nodes and PostgreSQL share two cores: two nodes cannot be twice as fast
here. What the run gives is cost: CPU per record in the AAA and in PostgreSQL, from which a larger machine's
rate is predicted (RESULTS.md says how).

    .venv/bin/python bench/cluster.py --sims 1000000      # make bench-cluster; --no-record leaves RESULTS.md alone

Loading a million SIMs takes minutes: `--prepare` loads a database, prints its name and its account's SID:TOKEN and
keeps it; `--database NAME --auth SID:TOKEN` runs the measurements on it (and keeps it; drop it with `dropdb` when
done), so a change can be measured again without loading again (without `--auth`, the API measures are left out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.server import Server, free_port, server_env

import cluster_api
from cellplane.domain.networks import network_sid
from cellplane.protocols.radius import Code
from cellplane.protocols.radius.codec import build_request

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
CLI = [sys.executable, "-m", "cellplane.cli.main"]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
BEGIN, END = "<!-- bench/cluster.py: generated results start -->", "<!-- bench/cluster.py: generated results end -->"
SECRET = b"cellplane"
WINDOW = 128
TICK = os.sysconf("SC_CLK_TCK")


async def admin_sql(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(PG_ADMIN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def database_urls(name: str) -> tuple[str, str]:
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", f"postgresql://postgres@127.0.0.1:5432/{name}"


def new_database() -> tuple[str, str]:
    name = f"cellplane_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(admin_sql(f'CREATE DATABASE "{name}"'))
    return database_urls(name)


async def count_sims(dsn: str) -> int:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM sims"))
    finally:
        await connection.close()


def drop_database(dsn: str) -> None:
    asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{dsn.rsplit("/", 1)[1]}" WITH (FORCE)'))


async def load_sims(dsn: str, account: str, sims: int) -> None:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "INSERT INTO network_access_profiles (sid, account_sid, unique_name, date_created, date_updated)"
            " VALUES ('HA' || md5('bench-nap'), $1, 'bench-nap', now() - interval '1 hour', now() - interval '1 hour')",
            account,
        )
        await connection.execute(
            "INSERT INTO network_access_profile_networks (network_access_profile_sid, network_sid, date_created)"
            " VALUES ('HA' || md5('bench-nap'), $1, now() - interval '1 hour')",
            network_sid("310", "260"),
        )
        await connection.execute(
            """
            INSERT INTO fleets (sid, account_sid, unique_name, data_enabled, data_limit, data_metering,
                sms_commands_enabled, sms_commands_method, ip_commands_method, network_access_profile_sid,
                date_created, date_updated)
            VALUES ('HF' || md5('bench-fleet'), $1, 'bench-fleet', true, 1000000, 'payg', true, 'POST', 'POST',
                'HA' || md5('bench-nap'), now() - interval '1 hour', now() - interval '1 hour')
            """,
            account,
        )
        await connection.execute(
            """
            INSERT INTO sims (sid, product, account_sid, iccid, imsi, registration_code, unique_name, status,
                fleet_sid, pending_fleet_set, ready_bytes, ready_sms, claimed_at, date_activated, date_created,
                date_updated)
            SELECT 'HS' || lpad(to_hex(n), 32, '0'), 'supersim', $1, '8988307' || lpad(n::text, 13, '0'),
                '00101' || lpad(n::text, 10, '0'), 'RC' || n, 'sim-' || n, 'active',
                'HF' || md5('bench-fleet'), false, 0, 0, now() - interval '1 day', now() - interval '1 day',
                now() - interval '1 hour', now() - interval '1 hour'
            FROM generate_series(1, $2) AS n
            """,
            account,
            sims,
        )
        # Each SIM's current billing period (as an activation makes it): accounting adds to it.
        await connection.execute(
            """
            INSERT INTO billing_periods (sid, account_sid, sim_sid, start_time, end_time, period_type, date_created,
                date_updated)
            SELECT 'HB' || lpad(to_hex(n), 32, '0'), $1, 'HS' || lpad(to_hex(n), 32, '0'), now() - interval '1 day',
                now() + interval '29 days', 'active', now() - interval '1 hour', now() - interval '1 hour'
            FROM generate_series(1, $2) AS n
            """,
            account,
            sims,
        )
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


def imsi_of(n: int) -> str:
    return "00101" + str(n).rjust(10, "0")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def postgres_cpu() -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() == "postgres":
                total += cpu_seconds(int(entry.name))
        except OSError:
            continue
    return total


def start_aaa(url: str, root: Path, name: str, token: str, **extra: str) -> tuple[Server, float]:
    data_dir = root / name
    data_dir.mkdir()
    env = server_env(data_dir, url, CELLPLANE_ADMIN_TOKEN=token, CELLPLANE_TEST_START_TIMEOUT="600", **extra)
    server = Server(backend="postgres", data_dir=data_dir, port=free_port(), env=env, extra_args=["--role", "aaa"])
    started = time.monotonic()
    server.start(timeout=600)
    return server, time.monotonic() - started


class _Window(asyncio.DatagramProtocol):
    """RADIUS requests to one node on 127.0.0.1, up to WINDOW in flight by identifier, each retransmitted after 1 s."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.transport: asyncio.DatagramTransport | None = None
        self.flying: dict[int, tuple[bytes, float]] = {}
        self.free = list(range(256))
        self.answered = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def retransmit(self) -> None:
        assert self.transport is not None
        now = time.monotonic()
        for identifier, (raw, sent) in list(self.flying.items()):
            if now - sent > 1.0:
                self.flying[identifier] = (raw, now)
                self.transport.sendto(raw, ("127.0.0.1", self.port))


class Loader(_Window):
    """Accounting-Requests to one AAA node: each session's Start, then Interim-Updates, WINDOW in flight."""

    def __init__(self, port: int, nas: str, first: int, count: int) -> None:
        super().__init__(port)
        self.nas, self.first, self.count = nas, first, count
        self.turn = 0  # records sent: session = turn % count, its report number = turn // count
        self.ready = asyncio.Event()

    def next_packet(self, identifier: int) -> bytes:
        session, report = self.turn % self.count, self.turn // self.count
        self.turn += 1
        imsi = imsi_of(self.first + session)
        attributes = [
            ("User-Name", imsi),
            ("3GPP-IMSI", imsi),
            ("NAS-IP-Address", "127.0.0.1"),
            ("NAS-Identifier", self.nas),
            ("Acct-Status-Type", 1 if report == 0 else 3),
            ("Acct-Session-Id", f"{self.nas}-{session}"),
            ("Framed-IP-Address", f"10.{100 + session // 65536 % 100}.{session // 256 % 256}.{session % 256}"),
            ("3GPP-SGSN-MCC-MNC", "310260"),
            ("Acct-Input-Octets", report * 1000),
            ("Acct-Output-Octets", report * 4000),
        ]
        return build_request(int(Code.ACCOUNTING_REQUEST), identifier, attributes, SECRET)

    def send_more(self) -> None:
        assert self.transport is not None
        now = time.monotonic()
        while self.free and len(self.flying) < WINDOW:
            identifier = self.free.pop()
            raw = self.next_packet(identifier)
            self.flying[identifier] = (raw, now)
            self.transport.sendto(raw, ("127.0.0.1", self.port))

    def starts_done(self) -> bool:
        return self.answered >= self.count

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 20 or data[0] != Code.ACCOUNTING_RESPONSE or data[1] not in self.flying:
            return
        del self.flying[data[1]]
        self.free.append(data[1])
        self.answered += 1
        self.send_more()


class Attacher(_Window):
    """Access-Requests for `count` distinct SIMs from `first` on, WINDOW in flight, each retransmitted after 1 s."""

    def __init__(self, port: int, first: int, count: int) -> None:
        super().__init__(port)
        self.first, self.count = first, count
        self.sent = 0
        self.accepted = 0

    def send_more(self) -> None:
        assert self.transport is not None
        now = time.monotonic()
        while self.free and len(self.flying) < WINDOW and self.sent < self.count:
            identifier = self.free.pop()
            imsi = imsi_of(self.first + self.sent)
            self.sent += 1
            attributes = [("User-Name", imsi), ("3GPP-IMSI", imsi), ("NAS-IP-Address", "127.0.0.1"),
                          ("3GPP-SGSN-MCC-MNC", "310260")]  # fmt: skip
            raw = build_request(int(Code.ACCESS_REQUEST), identifier, attributes, SECRET)
            self.flying[identifier] = (raw, now)
            self.transport.sendto(raw, ("127.0.0.1", self.port))

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 20 or data[1] not in self.flying:
            return
        del self.flying[data[1]]
        self.free.append(data[1])
        self.answered += 1
        self.accepted += data[0] == Code.ACCESS_ACCEPT
        self.send_more()


async def run_attaches(node: Server, first: int, count: int) -> tuple[float, int]:
    """(attaches answered per second, how many were accepted) for `count` SIMs not cached."""
    loop = asyncio.get_running_loop()
    attacher = Attacher(int(node.env["CELLPLANE_AAA_AUTH_PORT"]), first, count)
    await loop.create_datagram_endpoint(lambda: attacher, local_addr=("127.0.0.1", 0))
    started = time.monotonic()
    attacher.send_more()
    while attacher.answered < count:
        await asyncio.sleep(0.2)
        attacher.retransmit()
    elapsed = time.monotonic() - started
    if attacher.transport is not None:
        attacher.transport.close()
    return count / elapsed, attacher.accepted


async def run_load(nodes: list[Server], sessions: int, seconds: float, base: int = 1) -> tuple[float, float, float]:
    """(records/s answered over `seconds` of Interim-Updates, AAA CPU s per record, PostgreSQL CPU s per record)."""
    loop = asyncio.get_running_loop()
    loaders = []
    share = sessions // len(nodes)
    for index, node in enumerate(nodes):
        nas = f"bench-{index}-{uuid.uuid4().hex[:6]}"
        loader = Loader(int(node.env["CELLPLANE_AAA_ACCT_PORT"]), nas, base + index * share, share)
        await loop.create_datagram_endpoint(lambda loader=loader: loader, local_addr=("127.0.0.1", 0))
        loaders.append(loader)
        loader.send_more()
    while not all(loader.starts_done() for loader in loaders):  # the sessions are open
        await asyncio.sleep(0.2)
        for loader in loaders:
            loader.retransmit()
    pids = [node.process.pid for node in nodes if node.process is not None]
    aaa_before, pg_before = sum(cpu_seconds(pid) for pid in pids), postgres_cpu()
    answered_before = sum(loader.answered for loader in loaders)
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        await asyncio.sleep(0.2)
        for loader in loaders:
            loader.retransmit()
    elapsed = time.monotonic() - started
    records = sum(loader.answered for loader in loaders) - answered_before
    aaa_cpu, pg_cpu = sum(cpu_seconds(pid) for pid in pids) - aaa_before, postgres_cpu() - pg_before
    for loader in loaders:
        loader.free.clear()  # send nothing more
        if loader.transport is not None:
            loader.transport.close()
    return records / elapsed, aaa_cpu / max(records, 1), pg_cpu / max(records, 1)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{cpu}, {os.cpu_count()} CPUs, Linux {platform.release()}, Python {platform.python_version()}; load {load}"


def prepare(sims: int, token: str, root: Path) -> tuple[str, str, tuple[str, str]]:
    """A new database, migrated, with one account and `sims` active SIMs; its (SQLAlchemy URL, asyncpg DSN) and the
    account's (sid, auth token)."""
    url, dsn = new_database()
    try:
        subprocess.run([*CLI, "db", "upgrade"], env={**os.environ, "CELLPLANE_DATABASE_URL": url}, check=True)
        created = subprocess.run(
            [*CLI, "admin", "create-account", "--friendly-name", "bench", "--json"],
            env=server_env(root, url, CELLPLANE_ADMIN_TOKEN=token),
            capture_output=True,
            text=True,
            check=True,
        )
        account = json.loads(created.stdout)
        started = time.monotonic()
        asyncio.run(load_sims(dsn, account["account_sid"], sims))
    except BaseException:
        drop_database(dsn)
        raise
    print(f"{sims:,} SIMs loaded in {time.monotonic() - started:.1f} s", flush=True)
    return url, dsn, (account["account_sid"], account["auth_token"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sims", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--api-seconds", type=float, default=10.0, help="per API configuration")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--cache-sims", type=int, default=200_000, help="the AAA nodes' CELLPLANE_AAA_CACHE_SIMS")
    parser.add_argument("--attaches", type=int, default=200_000, help="distinct SIMs attached on demand")
    parser.add_argument("--no-reference", action="store_true", help="no reference node without a bound")
    parser.add_argument("--keep", help="keep the nodes' data directories and logs here")
    parser.add_argument("--prepare", action="store_true", help="only load a database with --sims SIMs; print its name")
    parser.add_argument("--database", help="measure on this database (made by --prepare) instead of a new one")
    parser.add_argument("--auth", help="with --database: its account's SID:TOKEN (as --prepare prints) for the API")
    args = parser.parse_args()
    where = machine()
    token = os.urandom(16).hex()
    if args.prepare:
        with tempfile.TemporaryDirectory(prefix="cellplane-bench-cluster-") as tmp:
            url, _, (account, auth_token) = prepare(args.sims, token, Path(tmp))
        print(f"database: {url.rsplit('/', 1)[1]}\nauth: {account}:{auth_token}")
        return
    empty_url, empty_dsn = new_database()
    nodes: list[Server] = []
    dsn = ""
    try:
        subprocess.run([*CLI, "db", "upgrade"], env={**os.environ, "CELLPLANE_DATABASE_URL": empty_url}, check=True)
        with tempfile.TemporaryDirectory(prefix="cellplane-bench-cluster-") as tmp:
            root = Path(args.keep) if args.keep else Path(tmp)
            root.mkdir(parents=True, exist_ok=True)
            auth: tuple[str, str] | None = None
            if args.database:
                url, dsn = database_urls(args.database)
                args.sims = asyncio.run(count_sims(dsn))
                if args.auth:
                    sid, _, secret = args.auth.partition(":")
                    auth = (sid, secret)
            else:
                url, dsn, auth = prepare(args.sims, token, root)

            bound = {"CELLPLANE_AAA_CACHE_SIMS": str(args.cache_sims)}
            empty, empty_start = start_aaa(empty_url, root, "empty", token, **bound)
            empty_rss = rss_kib(empty.process.pid) if empty.process else 0
            empty.stop()
            reference = None
            if not args.no_reference:
                full, full_start = start_aaa(url, root, "full", token, CELLPLANE_AAA_CACHE_SIMS="0")
                nodes.append(full)
                full_rss = rss_kib(full.process.pid) if full.process else 0
                print(f"reference (every SIM loaded at start): cold start {full_start:.1f} s; RSS"
                      f" {full_rss / 1024:.0f} MiB", flush=True)  # fmt: skip
                full_load = asyncio.run(run_load([full], args.sessions, args.seconds, base=1))
                print(f"reference, one AAA node: {full_load[0]:,.0f} records/s, AAA {full_load[1] * 1e6:.0f} us,"
                      f" PostgreSQL {full_load[2] * 1e6:.0f} us CPU a record", flush=True)  # fmt: skip
                full.stop()
                nodes.remove(full)
                reference = (full_start, full_rss, full_load)
            a, start_a = start_aaa(url, root, "aaa-a", token, **bound)
            nodes.append(a)
            rss_a = rss_kib(a.process.pid) if a.process else 0
            print(f"cold start {start_a:.1f} s (empty database: {empty_start:.1f} s); RSS {rss_a / 1024:.0f} MiB",
                  flush=True)  # fmt: skip
            one = asyncio.run(run_load([a], args.sessions, args.seconds, base=1 + args.sessions))
            print(f"one AAA node: {one[0]:,.0f} records/s, AAA {one[1] * 1e6:.0f} us, PostgreSQL {one[2] * 1e6:.0f} us"
                  " CPU a record", flush=True)  # fmt: skip
            attaches = min(args.attaches, max(args.sims - 2 * args.sessions - 1, 0))
            cpu = cpu_seconds(a.process.pid) if a.process else 0.0
            attach_rate, accepted = asyncio.run(run_attaches(a, 1 + 2 * args.sessions, attaches))
            attach_cpu = ((cpu_seconds(a.process.pid) if a.process else 0.0) - cpu) / max(attaches, 1)
            rss_full = rss_kib(a.process.pid) if a.process else 0
            # The same SIMs again, now cached (those the bound kept): what an attach costs without the load.
            again = min(attaches, args.cache_sims or attaches)
            cpu = cpu_seconds(a.process.pid) if a.process else 0.0
            cached_rate, _ = asyncio.run(run_attaches(a, 1 + 2 * args.sessions + attaches - again, again))
            cached_cpu = ((cpu_seconds(a.process.pid) if a.process else 0.0) - cpu) / max(again, 1)
            cached = min(attaches, args.cache_sims) if args.cache_sims else attaches
            per_cached = (rss_full - empty_rss) * 1024 / max(cached, 1)
            print(f"{attaches:,} attaches of SIMs not cached: {attach_rate:,.0f}/s ({accepted:,} accepted), AAA"
                  f" {attach_cpu * 1e6:.0f} us CPU an attach; again, cached: {cached_rate:,.0f}/s,"
                  f" {cached_cpu * 1e6:.0f} us; RSS {rss_full / 1024:.0f} MiB with {cached:,} cached:"
                  f" {per_cached:.0f} B a cached SIM", flush=True)  # fmt: skip
            b, start_b = start_aaa(url, root, "aaa-b", token, **bound)
            nodes.append(b)
            two = asyncio.run(run_load([a, b], args.sessions, args.seconds, base=1 + args.sessions))
            print(f"two AAA nodes: {two[0]:,.0f} records/s, AAA {two[1] * 1e6:.0f} us, PostgreSQL {two[2] * 1e6:.0f}"
                  " us CPU a record", flush=True)  # fmt: skip
            assert httpx.get(f"{a.base_url}/healthz").status_code == 200
            for node in nodes:
                node.stop()
            nodes.clear()
            sids = ["HS" + format(n, "x").rjust(32, "0") for n in range(1, args.sims + 1)]
            # Without the account's token (--database without --auth): no API measures.
            api_loads: list[cluster_api.ApiLoad] = []
            if auth is not None:
                api_loads = cluster_api.run(url, root, token, auth, sids, args.api_seconds, cpu_seconds, postgres_cpu)
    finally:
        for node in nodes:
            node.stop()
        if dsn and not args.database:
            drop_database(dsn)
        drop_database(empty_dsn)
    if args.no_record:
        return
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = [
        f"| AAA cold start, {args.sims:,} SIMs (process start to /healthz), cache bounded to {args.cache_sims:,}"
        f" | {start_a:.1f} s (second node: {start_b:.1f} s; empty database: {empty_start:.1f} s) |",
        f"| AAA resident memory once up | {rss_a / 1024:.0f} MiB ({empty_rss / 1024:.0f} MiB on the empty database) |",
        f"| {attaches:,} attaches of SIMs not cached (loaded on demand, {WINDOW} in flight) | {attach_rate:,.0f}"
        f" attaches/s ({accepted:,} accepted); AAA CPU an attach {attach_cpu * 1e6:.0f} us |",
        f"| the same {again:,} SIMs attached again, cached | {cached_rate:,.0f} attaches/s; AAA CPU an attach"
        f" {cached_cpu * 1e6:.0f} us (on demand: {attach_rate / max(cached_rate, 1):.2f}x the rate) |",
        f"| AAA resident memory with {cached:,} SIMs cached | {rss_full / 1024:.0f} MiB: {per_cached:.0f} bytes a"
        " cached SIM |",
        f"| accounting, one AAA node | {one[0]:,.0f} records/s; CPU a record: AAA {one[1] * 1e6:.0f} us,"
        f" PostgreSQL {one[2] * 1e6:.0f} us |",
        f"| accounting, two AAA nodes at once | {two[0]:,.0f} records/s; CPU a record: AAA {two[1] * 1e6:.0f} us"
        f" (both), PostgreSQL {two[2] * 1e6:.0f} us |",
    ]
    if reference is not None:
        full_start, full_rss, full_load = reference
        per_sim = (full_rss - empty_rss) * 1024 / args.sims
        rows += [
            f"| reference, no bound (CELLPLANE_AAA_CACHE_SIMS=0: every SIM loaded at start): cold start | "
            f"{full_start:.1f} s ({full_start / start_a:.1f}x the bounded cache's) |",
            f"| reference, no bound: resident memory | {full_rss / 1024:.0f} MiB: {per_sim:.0f} bytes a SIM |",
            f"| reference, no bound: accounting, one AAA node | {full_load[0]:,.0f} records/s; CPU a record: AAA"
            f" {full_load[1] * 1e6:.0f} us, PostgreSQL {full_load[2] * 1e6:.0f} us (bounded:"
            f" {one[0] / full_load[0]:.2f}x the records/s) |",
        ]
    block = (
        f"{BEGIN}\nMeasured {when} on {where}. PostgreSQL 127.0.0.1, {args.sims:,} active SIMs; {args.sessions:,}"
        f" sessions, Interim-Updates for {args.seconds:.0f} s per configuration, {WINDOW} requests in flight"
        " a node.\n\n| measure | value |\n|---|---|\n"
        + "\n".join(rows)
        + "\n"
        + "".join(
            f"| API, {'one node' if load.nodes == 1 else 'two nodes at once'}, {cluster_api.LABELS[load.what]}"
            f" ({cluster_api.IN_FLIGHT} in flight a node) | {load.row()} |\n"
            for load in api_loads
        )
        + END
    )
    text = RESULTS.read_text()
    if BEGIN in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
    else:
        text += f"\n## Cluster: AAA nodes on one PostgreSQL (issue 21, bench/cluster.py)\n\n{block}\n"
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
