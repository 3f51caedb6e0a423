"""Databases for bench/api.py: a fresh SQLite file or PostgreSQL database per backend, loaded and analyzed."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text, update

from cellplane.store.db import make_engine
from cellplane.store.models import Sim

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, for the tests' port helper
from tests.support.server import drawn_udp_ports  # the tests' port helpers, not copies
from tests.support.server import free_port as free_port
from tests.support.server import free_ports as free_ports

WORK = Path(__file__).resolve().parent / ".work"
CLI = [sys.executable, "-m", "cellplane.cli.main"]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def sh(*cmd: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def run_async(work: Callable[[], Any]) -> Any:
    return asyncio.run(work())


class Backend:
    """A fresh database for one backend: migrated, 100,000 SIMs claimed by one account, a claim pool."""

    def __init__(self, name: str, prefix: str = "api") -> None:
        self.name = name
        self.data_dir = WORK / f"{prefix}-{name}"  # one folder per benchmark: they may run at once
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(parents=True)
        self.pg_name = f"cellplane_bench_{uuid.uuid4().hex[:10]}" if name == "postgres" else None
        if self.pg_name:
            self.url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.pg_name}"
            run_async(lambda: self._pg(f'CREATE DATABASE "{self.pg_name}"'))
        else:
            self.url = f"sqlite+aiosqlite:///{self.data_dir / 'cellplane.db'}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CELLPLANE_")}
        self.env |= {"CELLPLANE_DATA_DIR": str(self.data_dir), "CELLPLANE_RATE_LIMIT": "0"}
        # The AAA and gateway run as usual but on free UDP ports: a bench never collides with a test run.
        self.env |= drawn_udp_ports()
        if self.pg_name:
            self.env["CELLPLANE_DATABASE_URL"] = self.url

    @staticmethod
    async def _pg(statement: str) -> None:
        import asyncpg

        connection = await asyncpg.connect(PG_ADMIN)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    def admin(self, *args: str) -> str:
        return sh(*CLI, "admin", *args, env=self.env, cwd=self.data_dir)

    def prepare(self, sims: int, pool: int) -> tuple[str, str]:
        """Provision and bulk-claim `sims` SIMs, then provision an unclaimed pool; returns (sid, token)."""
        sh(*CLI, "db", "upgrade", env=self.env, cwd=self.data_dir)
        account = json.loads(self.admin("create-account", "--friendly-name", "bench", "--json"))
        started = time.monotonic()
        self.admin("provision-sims", "--count", str(sims), "--seed", "1")
        claimed = run_async(lambda: self._claim_all(account["account_sid"]))
        self.admin("provision-sims", "--count", str(pool), "--seed", "2")
        run_async(self._analyze)
        print(f"  {self.name}: {claimed} SIMs claimed by SQL, {pool} in the pool ({time.monotonic() - started:.0f} s)")
        return account["account_sid"], account["auth_token"]

    async def _claim_all(self, account_sid: str) -> int:
        # What POST /Sims does per SIM (services/sims.claim), for the whole inventory at once.
        now = datetime.now(UTC)
        engine = make_engine(self.url)
        try:
            async with engine.begin() as connection:
                result = await connection.execute(
                    update(Sim)
                    .where(Sim.account_sid.is_(None))
                    .values(account_sid=account_sid, claimed_at=now, date_created=now, date_updated=now)
                )
            return int(result.rowcount)
        finally:
            await engine.dispose()

    async def _analyze(self) -> None:
        # What autovacuum does within a minute of a bulk load, done now so it does not happen during a
        # measurement: planner statistics (without them PostgreSQL believes the account owns no SIMs and
        # sorts all 100,000 for every list page) and, on PostgreSQL, reclaiming the 100,000 row versions
        # the bulk claim left behind. VACUUM refuses to run inside a transaction: autocommit.
        engine = make_engine(self.url)
        try:
            async with engine.connect() as connection:
                autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                await autocommit.execute(text("VACUUM ANALYZE sims" if self.pg_name else "ANALYZE sims"))
        finally:
            await engine.dispose()

    def query(self, stmt: Any) -> list[Any]:
        async def work() -> list[Any]:
            engine = make_engine(self.url)
            try:
                async with engine.connect() as connection:
                    return list((await connection.execute(stmt)).all())
            finally:
                await engine.dispose()

        return run_async(work)  # type: ignore[no-any-return]

    def write_pool(self, path: Path) -> int:
        rows = self.query(select(Sim.iccid, Sim.registration_code).where(Sim.account_sid.is_(None)))
        path.write_text("".join(f"{iccid},{code}\n" for iccid, code in rows))
        return len(rows)

    def claimed(self, account_sid: str) -> int:
        return int(self.query(select(func.count()).select_from(Sim).where(Sim.account_sid == account_sid))[0][0])

    def settle(self, account_sid: str) -> None:
        """Wait for claims still in flight when wrk stopped, so the next pool holds only unclaimed SIMs."""
        count = self.claimed(account_sid)
        for _ in range(20):
            time.sleep(0.5)
            count, previous = self.claimed(account_sid), count
            if count == previous:
                return

    def drop(self) -> None:
        if self.pg_name:
            run_async(lambda: self._pg(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)'))


def postgres_version() -> str | None:
    async def work() -> str:
        import asyncpg

        connection = await asyncpg.connect(PG_ADMIN)
        try:
            return str(await connection.fetchval("SHOW server_version")).split()[0]
        finally:
            await connection.close()

    try:
        return f"PostgreSQL {run_async(work)}"
    except OSError:
        return None
