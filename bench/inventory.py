"""Inventory import benchmark (issue 2: "100,000 rows must import in well under a minute").

Writes an operator's CSV of `--rows` SIMs (iccid with a Luhn check digit, imsi, registration_code) into a temporary
folder, then per backend and repeat: a fresh database (SQLite file in a temporary data dir, or a new PostgreSQL
database at 127.0.0.1:5432) migrated with `cellplane db upgrade` (not timed), and
`cellplane admin provision-sims --from-csv FILE` timed as the operator runs it: the whole process, from Python's
start to its exit, wall clock. The rows in the `sims` table are counted afterwards. The same command on a CSV of
only its header line, timed first on the same database, is the fixed cost (interpreter, imports, the migration
check); the import's own rate is rows / (time - fixed cost). Prints rows/s; rewrites the
generated block of the "Inventory import" section of bench/RESULTS.md (`--no-record` leaves it alone).

    make bench-inventory      # or: .venv/bin/python bench/inventory.py --backends sqlite --repeats 1
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import platform
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from cellplane.domain.iccid import make_iccid

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
CLI = [sys.executable, "-m", "cellplane.cli.main"]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
BEGIN, END = (
    "<!-- bench/inventory.py: generated results start -->",
    "<!-- bench/inventory.py: generated results end -->",
)
TARGET_SECONDS = 60.0


def write_csv(path: Path, rows: int) -> None:
    """An operator's list: ICCIDs of an issuer of its own (8944...), IMSIs on a test PLMN, 10-character codes."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["iccid", "imsi", "registration_code"])
        for serial in range(rows):
            writer.writerow([make_iccid("4450", serial, length=20), f"00101{serial:010d}", f"RC{serial:08d}"])


async def _pg(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(PG_ADMIN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _count(url: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(text("SELECT count(*) FROM sims"))).scalar_one())
    finally:
        await engine.dispose()


def postgres_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def run_once(backend: str, csv_path: Path, rows: int, work: Path) -> dict[str, Any]:
    data_dir = work / f"{backend}-{uuid.uuid4().hex[:8]}"
    data_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELLPLANE_")}
    env["CELLPLANE_DATA_DIR"] = str(data_dir)
    pg_name = f"cellplane_bench_{uuid.uuid4().hex[:10]}" if backend == "postgres" else None
    if pg_name:
        asyncio.run(_pg(f'CREATE DATABASE "{pg_name}"'))
        env["CELLPLANE_DATABASE_URL"] = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{pg_name}"
    url = env.get("CELLPLANE_DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir / 'cellplane.db'}"
    try:
        subprocess.run([*CLI, "db", "upgrade"], env=env, cwd=data_dir, check=True, capture_output=True)
        empty = work / "header-only.csv"
        empty.write_text("iccid,imsi,registration_code\n")
        fixed = timed_import(empty, env, data_dir)
        seconds = timed_import(csv_path, env, data_dir)
        stored = asyncio.run(_count(url))
        if stored != rows:
            raise RuntimeError(f"{stored} SIMs stored, {rows} expected")
        return {
            "seconds": seconds,
            "fixed": fixed,
            "rows_per_s": rows / seconds,
            "import_rows_per_s": rows / (seconds - fixed),
        }
    finally:
        if pg_name:
            asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))


def timed_import(path: Path, env: dict[str, str], data_dir: Path) -> float:
    """Wall-clock seconds of `cellplane admin provision-sims --from-csv PATH`, start to exit."""
    started = time.perf_counter()
    done = subprocess.run(
        [*CLI, "admin", "provision-sims", "--from-csv", str(path)], env=env, cwd=data_dir, capture_output=True
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"provision-sims failed:\n{done.stderr.decode()[-3000:]}")
    return seconds


def machine() -> dict[str, Any]:
    info = Path("/proc/cpuinfo").read_text()
    cpu = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line)
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "ram_gib": round(mem_kb / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


def markdown(
    rows: int, repeats: int, results: dict[str, list[dict[str, Any]]], host: dict[str, Any], load: list[str]
) -> str:
    lines = [
        f"Measured {host['date']} on {host['cpu']} ({host['nproc']} cores, shared; {host['ram_gib']} GiB), "
        f"Linux {host['kernel']}, Python {host['python']}, SQLite {host['sqlite']}. "
        f"{rows:,} rows, median of {repeats} run(s). Load average {load[0]} at the start, {load[1]} at the end.",
        "",
        "| backend | whole command, s (median) | min – max | rows/s | fixed cost, s | import alone, rows/s "
        "| under a minute |",
        "|---|---|---|---|---|---|---|",
    ]
    for backend, runs in results.items():
        seconds = [r["seconds"] for r in runs]
        median = statistics.median(seconds)
        fixed = statistics.median(r["fixed"] for r in runs)
        alone = statistics.median(r["import_rows_per_s"] for r in runs)
        lines.append(
            f"| {backend} | {median:.1f} | {min(seconds):.1f} – {max(seconds):.1f} | {rows / median:,.0f} | "
            f"{fixed:.1f} | {alone:,.0f} | {'yes' if max(seconds) < TARGET_SECONDS else 'NO'} |"
        )
    return "\n".join(lines)


def record(block: str) -> None:
    """Replace this script's generated block in RESULTS.md; the first time, append the section."""
    content = RESULTS.read_text()
    generated = f"{BEGIN}\n{block}\n{END}"
    if BEGIN in content and END in content:
        head, _, rest = content.partition(BEGIN)
        content = head + generated + rest.partition(END)[2]
    else:
        content = content.rstrip("\n") + f"\n\n## Inventory import (bench/inventory.py)\n\n{generated}\n"
    RESULTS.write_text(content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--no-record", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if "postgres" in backends and not postgres_up():
        print("PostgreSQL does not answer on 127.0.0.1:5432: skipping it", file=sys.stderr)
        backends.remove("postgres")

    load = [" ".join(f"{x:.2f}" for x in os.getloadavg())]
    with tempfile.TemporaryDirectory(prefix="cellplane-bench-inventory-") as folder:
        work = Path(folder)
        csv_path = work / "sims.csv"
        write_csv(csv_path, args.rows)
        print(f"{args.rows:,} rows in {csv_path} ({csv_path.stat().st_size / 2**20:.1f} MiB)")
        results: dict[str, list[dict[str, Any]]] = {}
        for backend in backends:
            for repeat in range(args.repeats):
                run = run_once(backend, csv_path, args.rows, work)
                results.setdefault(backend, []).append(run)
                print(
                    f"{backend} #{repeat + 1}: {run['seconds']:.2f} s ({run['fixed']:.2f} s fixed), "
                    f"{run['rows_per_s']:,.0f} rows/s, import alone {run['import_rows_per_s']:,.0f} rows/s",
                    flush=True,
                )

    load.append(" ".join(f"{x:.2f}" for x in os.getloadavg()))
    block = markdown(args.rows, args.repeats, results, machine(), load)
    print()
    print(block)
    if not args.no_record:
        record(block)


if __name__ == "__main__":
    main()
