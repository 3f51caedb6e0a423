"""Web console benchmark (issue 19: "every page's server time p99 < 100 ms with 1,000,000 SIMs on PostgreSQL, the
SIM list and its search included; the first load of the console under 300 KB of assets").

Method. A fresh PostgreSQL database (127.0.0.1:5432), migrated with `cellplane db upgrade`; one account made with
`cellplane admin create-account`; `--sims` Super SIMs of that account written by one `INSERT ... SELECT
generate_series` (the admin import runs at ~7,000 rows/s on PostgreSQL, bench/RESULTS.md "Inventory import", too
slow to load a million here), with a fleet, a rate plan, 30 days of hourly usage for 200 SIMs, 20,000 connection
events, 20,000 IP Commands and 2,000 webhook deliveries of that account; for the private-network and security
pages, 20,000 Things in the account's default network (2,000 with a locked address), a bulk action over them
(1 % failed), 20 firewall rules each way, 10 routes, 30 users, 30 API clients and 50,000 audit events; then
VACUUM ANALYZE. `cellplane up` serves it (no emulator). A signed-in client (the console's own cookie) asks each
page `--requests` times, one at a time after 10 warm-up requests; the time is the client's, from sending the
request to the last byte of the answer over loopback (an upper bound of the server's time). p50 and p99 per page;
then the first load: the sign-in page's HTML and every asset it references, as sent with and without gzip.

    .venv/bin/python bench/console.py --sims 1000000            # ~3 min; --no-record to leave RESULTS.md alone
    .venv/bin/python bench/console.py --reuse cellplane_bench_console_1m   # load once, keep, measure again

With `--reuse NAME` the database NAME is kept after the run; a later run with the same name migrates it (`cellplane
db upgrade`, so a new migration is applied to the loaded data too) and measures without loading again. The bench's
account and its credentials are kept in the database's comment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.server import Server, free_port, server_env

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
CLI = [sys.executable, "-m", "cellplane.cli.main"]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
BEGIN, END = "<!-- bench/console.py: generated results start -->", "<!-- bench/console.py: generated results end -->"
TARGET_MS = 100.0
THINGS = 20_000  # Things of the private network (THINGS.md), beside the Super SIMs
AUDIT = 50_000  # audit events of the account
ASSET_BUDGET = 300_000


async def _admin_sql(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(PG_ADMIN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _kept(name: str) -> dict[str, Any] | None:
    """What a kept database holds (its comment: the account, its credentials and the SIM count), or None when there
    is no such database or it was not loaded to the end."""
    import asyncpg

    connection = await asyncpg.connect(PG_ADMIN)
    try:
        comment = await connection.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", name
        )
        exists = await connection.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name)
    finally:
        await connection.close()
    if comment:
        return dict(json.loads(comment))
    if exists:
        await _admin_sql(f'DROP DATABASE "{name}" WITH (FORCE)')  # a load that did not finish
    return None


async def _load(dsn: str, account: str, sims: int) -> None:
    """The bulk data, in SQL: a million rows in seconds (what is loaded is said in the module docstring)."""
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            """
            INSERT INTO network_access_profiles (sid, account_sid, unique_name, date_created, date_updated)
            VALUES ('HA' || md5('bench-nap'), $1, 'bench-nap', now(), now());
            """,
            account,
        )
        await connection.execute(
            """
            INSERT INTO fleets (sid, account_sid, unique_name, data_enabled, data_limit, data_metering,
                sms_commands_enabled, sms_commands_method, ip_commands_method, network_access_profile_sid,
                date_created, date_updated)
            VALUES ('HF' || md5('bench-fleet'), $1, 'bench-fleet', true, 1000, 'payg', true, 'POST', 'POST',
                'HA' || md5('bench-nap'), now(), now());
            """,
            account,
        )
        await connection.execute(
            """
            INSERT INTO rate_plans (sid, account_sid, unique_name, data_enabled, data_metering, data_limit,
                data_limit_strategy, messaging_enabled, voice_enabled, national_roaming_enabled,
                national_roaming_data_limit, international_roaming, international_roaming_data_limit,
                date_created, date_updated)
            SELECT 'WP' || md5('bench-plan'), $1, 'bench-plan', true, 'payg', 1000, 'block', true, false, true,
                1000, '[]', 1000, now(), now();
            """,
            account,
        )
        started = time.monotonic()
        await connection.execute(
            """
            INSERT INTO sims (sid, product, account_sid, iccid, imsi, registration_code, unique_name, status,
                fleet_sid, pending_fleet_set, ready_bytes, ready_sms, date_created, date_updated)
            SELECT 'HS' || lpad(to_hex(n), 32, '0'), 'supersim', $1, '8988307' || lpad(n::text, 13, '0'),
                '00101' || lpad(n::text, 10, '0'), 'RC' || n, 'sim-' || n,
                (ARRAY['new','ready','active','active','inactive'])[1 + n % 5],
                CASE WHEN n % 10 = 0 THEN 'HF' || md5('bench-fleet') END, false, 0, 0, now(), now()
            FROM generate_series(1, $2) AS n;
            """,
            account,
            sims,
        )
        print(f"  {sims:,} SIMs inserted in {time.monotonic() - started:.1f} s", flush=True)
        await connection.execute(
            """
            INSERT INTO usage_buckets (account_sid, sim_sid, fleet_sid, network_sid, hour, bytes_up, bytes_down,
                sms_to_sim, sms_from_sim, ip_to_sim, ip_from_sim)
            SELECT $1, 'HS' || lpad(to_hex(s), 32, '0'), NULL, '', date_trunc('hour', now()) - h * interval '1 hour',
                1000 + s * 7, 5000 + h * 11, 0, 0, 0, 0
            FROM generate_series(1, 200) AS s, generate_series(0, 24 * 30 - 1) AS h;
            """,
            account,
        )
        await connection.execute(
            """
            INSERT INTO connection_events (sid, account_sid, sim_sid, iccid, event_type, mcc, mnc, timestamp)
            SELECT 'EV' || lpad(to_hex((extract(epoch from now()) * 1000)::bigint - n * 1000), 12, '0')
                    || lpad(to_hex(n), 20, '0'),
                $1, 'HS' || lpad(to_hex(1 + n % 200), 32, '0'), NULL,
                (ARRAY['attach_accepted','attach_rejected','session_started','session_ended'])[1 + n % 4],
                '310', '260', now() - n * interval '1 second'
            FROM generate_series(1, 20000) AS n;
            """,
            account,
        )
        await connection.execute(
            """
            INSERT INTO ip_commands (sid, account_sid, sim_sid, sim_iccid, status, direction, device_port,
                payload_type, payload, date_created, date_updated)
            SELECT 'HG' || lpad(to_hex((extract(epoch from now()) * 1000)::bigint - n * 1000), 12, '0')
                    || lpad(to_hex(n), 20, '0'),
                $1, 'HS' || lpad(to_hex(1 + n % 200), 32, '0'), '8988307' || lpad((1 + n % 200)::text, 13, '0'),
                (ARRAY['sent','sent','failed','received'])[1 + n % 4], 'to_sim', 6655, 'text', 'ping',
                now() - n * interval '1 second', now() - n * interval '1 second'
            FROM generate_series(1, 20000) AS n;
            """,
            account,
        )
        await connection.execute(
            """
            INSERT INTO webhook_deliveries (sid, account_sid, event, url, method, params, idempotency_token, status,
                attempts, last_status_code, date_created, date_updated)
            SELECT 'WD' || lpad(to_hex((extract(epoch from now()) * 1000)::bigint - n * 1000), 12, '0')
                    || lpad(to_hex(n), 20, '0'),
                $1, 'ip_command.sent', 'http://127.0.0.1:9/hook', 'POST', '{"A": "1"}', md5(n::text),
                CASE WHEN n % 10 = 0 THEN 'failed' ELSE 'delivered' END, 1, 500, now(), now()
            FROM generate_series(1, 2000) AS n;
            """,
            account,
        )
        await _load_things_and_identity(connection, account)
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


async def _load_things_and_identity(connection: Any, account: str) -> None:
    """The pages of the Things and identity issues: THINGS Things in the account's default group (one in ten with
    a locked address of its pool), a bulk action over all of them (1 % failed), 20 firewall rules each way, 30
    users, 30 API clients and AUDIT audit events."""
    group, network = await connection.fetchrow(
        "SELECT sid, network_sid FROM things_groups WHERE default_for = $1", account
    )
    await connection.execute(
        """
        INSERT INTO sims (sid, product, account_sid, iccid, imsi, registration_code, status, things_group_sid,
            locked_ip, pending_fleet_set, ready_bytes, ready_sms, date_created, date_updated)
        SELECT 'TH' || lpad(to_hex(n), 32, '0'), 'things', $1, '8931080' || lpad(n::text, 13, '0'),
            '20408' || lpad(n::text, 10, '0'), 'TC' || n, 'active', $2,
            CASE WHEN n % 10 = 0 THEN '10.200.' || (n / 10 / 250) || '.' || (1 + (n / 10) % 250) END,
            false, 0, 0, now(), now()
        FROM generate_series(1, $3) AS n;
        """,
        account,
        group,
        THINGS,
    )
    await connection.execute(
        """
        INSERT INTO things_bulk_actions (sid, account_sid, action, parameters, selection, status, total, succeeded,
            failed, completed_at, date_created, date_updated)
        VALUES ('BA' || md5('bench-bulk'), $1, 'addTags', '{"tags": ["bench"]}', $2, 'completed', $3, $3 - $3 / 100,
            $3 / 100, now(), now(), now());
        """,
        account,
        '{"thingsGroupId": "' + group + '"}',
        THINGS,
    )
    await connection.execute(
        """
        INSERT INTO things_bulk_items (bulk_sid, position, thing_sid, outcome, error, date_updated)
        SELECT 'BA' || md5('bench-bulk'), n - 1, 'TH' || lpad(to_hex(n), 32, '0'),
            CASE WHEN n % 100 = 0 THEN 'failed' ELSE 'succeeded' END,
            CASE WHEN n % 100 = 0 THEN 'The Thing is RETIRED' END, now()
        FROM generate_series(1, $1) AS n;
        """,
        THINGS,
    )
    rules = [
        {"action": "allow", "protocol": "tcp", "remoteCidr": f"10.{n}.0.0/16", "remotePorts": str(8000 + n)}
        for n in range(20)
    ]
    await connection.execute(
        """UPDATE things_ip_profiles SET inbound = $2, outbound = $2
        WHERE sid = (SELECT ip_profile_sid FROM things_groups WHERE sid = $1)""",
        group,
        json.dumps(rules),
    )
    await connection.execute(
        """
        INSERT INTO things_routes (sid, account_sid, network_sid, destination, target, date_created, date_updated)
        SELECT 'RT' || lpad(to_hex(n), 32, '0'), $1, $2, '172.' || (16 + n) || '.0.0/16', 'uplink', now(), now()
        FROM generate_series(1, 10) AS n;
        """,
        account,
        network,
    )
    await connection.execute(
        """
        INSERT INTO users (sid, account_sid, email, role, password_hash, failed_sign_ins, date_created, date_updated)
        SELECT 'US' || lpad(to_hex(n), 32, '0'), $1, 'user' || n || '@bench.example', 'viewer', 'x', 0, now(), now()
        FROM generate_series(1, 30) AS n;
        """,
        account,
    )
    await connection.execute(
        """
        INSERT INTO api_clients (sid, account_sid, role, token_lifetime, secret_hash, date_created, date_updated)
        SELECT 'OC' || lpad(to_hex(n), 32, '0'), $1, 'operator', '24h', md5(n::text), now(), now()
        FROM generate_series(1, 30) AS n;
        """,
        account,
    )
    await connection.execute(
        """
        INSERT INTO audit_events (sid, account_sid, actor_kind, actor_sid, role, action, resource, resource_sid,
            status, source, timestamp)
        SELECT 'AE' || lpad(to_hex((extract(epoch from now()) * 1000)::bigint - n * 1000), 12, '0')
                || lpad(to_hex(n), 20, '0'),
            $1, 'user', 'US' || lpad(to_hex(1 + n % 30), 32, '0'), 'operator',
            'POST /supersim/v1/Sims/HS' || lpad(to_hex(1 + n % 1000), 32, '0'),
            (ARRAY['sims','fleets','networks','bulk'])[1 + n % 4], 'HS' || lpad(to_hex(1 + n % 1000), 32, '0'),
            200, '127.0.0.1', now() - n * interval '1 second'
        FROM generate_series(1, $2) AS n;
        """,
        account,
        AUDIT,
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def pages(client: httpx.Client, sims: int, things: dict[str, str]) -> dict[str, str]:
    """Each page the console has, with the searches the issue names; a deep page by its keyset position."""
    middle = max(1, sims // 2)
    sim_sid = "HS" + format(middle, "x").rjust(32, "0")
    return {
        "dashboard": "/console",
        "SIM list, first page": "/console/sims",
        "SIM list, page at the middle (keyset)": f"/console/sims?after={sim_sid}",
        "SIM list, status filter": "/console/sims?status=inactive",
        "SIM list, fleet filter": f"/console/sims?fleet=HF{_md5('bench-fleet')}",
        "search by ICCID": f"/console/sims?q=8988307{middle:013d}",
        "search by ICCID prefix": f"/console/sims?q=8988307{middle // 1000:010d}",
        "search by name": f"/console/sims?q=sim-{middle}",
        # Prefixes whose matches lie together in sid order (ICCIDs and names come in batches), away from the start.
        "search by ICCID prefix, 10,000 together": f"/console/sims?q=8988307{middle // 10000:09d}",
        "search by ICCID prefix, 100,000 together": f"/console/sims?q=8988307{middle // 100000:08d}",
        f"search by ICCID prefix, the {THINGS:,} Things": "/console/sims?q=8931080",
        "search by the start of every name": "/console/sims?q=sim-",
        "search by IP address": "/console/sims?q=10.64.0.9",
        "search by IMEI": "/console/sims?q=356938035643809",
        "one SIM": "/console/sims/HS" + format(7, "x").rjust(32, "0"),
        "fleets and profiles": "/console/fleets",
        "rate plans": "/console/rate-plans",
        "webhook deliveries": "/console/webhooks",
        "emulated network": "/console/lab",
        "bulk actions": "/console/bulk-actions",
        f"one bulk action ({THINGS:,} items)": f"/console/bulk-actions/BA{_md5('bench-bulk')}",
        "private networks (pool usage)": "/console/networks",
        "one network": f"/console/networks/{things['network']}",
        "IP Profiles": "/console/ip-profiles",
        "firewall rule editor": f"/console/ip-profiles/{things['profile']}",
        "users": "/console/users",
        "API clients": "/console/api-clients",
        "audit log": "/console/audit",
        "audit log, by resource": "/console/audit?resource=networks",
    }


def _things_sids(url: str, account: dict[str, str]) -> dict[str, str]:
    async def read() -> dict[str, str]:
        import asyncpg

        connection = await asyncpg.connect(url.replace("+asyncpg", ""))
        try:
            row = await connection.fetchrow(
                "SELECT network_sid, ip_profile_sid FROM things_groups WHERE default_for = $1", account["account_sid"]
            )
        finally:
            await connection.close()
        return {"network": row["network_sid"], "profile": row["ip_profile_sid"]}

    return asyncio.run(read())


def _md5(text: str) -> str:
    import hashlib

    return hashlib.md5(text.encode()).hexdigest()


def measure(
    base_url: str, account: dict[str, str], sims: int, requests: int, things: dict[str, str], only: str | None = None
) -> dict[str, tuple[float, float, float, float]]:
    results: dict[str, tuple[float, float, float, float]] = {}
    with httpx.Client(base_url=base_url, timeout=30) as client:
        signed = client.post(
            "/console/sign-in", data={"username": account["account_sid"], "password": account["auth_token"]}
        )
        assert signed.status_code == 303, signed.text
        for name, path in pages(client, sims, things).items():
            if only is not None and only not in name:
                continue
            for _ in range(10):
                warm = client.get(path)
                assert warm.status_code == 200, (path, warm.status_code, warm.text[:500])
            times, server = [], []
            for _ in range(requests):
                started = time.perf_counter()
                answer = client.get(path)
                times.append((time.perf_counter() - started) * 1000)
                answer.raise_for_status()
                server.append(float(answer.headers["server-timing"].split("dur=")[1]))
            results[name] = (
                statistics.median(server),
                percentile(server, 0.99),
                statistics.median(times),
                percentile(times, 0.99),
            )
            p50, p99, client_p50, client_p99 = results[name]
            print(
                f"  {name:40s} server {p50:6.1f} / {p99:6.1f} ms, client {client_p50:6.1f} / {client_p99:6.1f}",
                flush=True,
            )
    return results


def first_load(base_url: str) -> tuple[int, int]:
    """Bytes of the sign-in page and its assets: as sent with gzip, and uncompressed."""
    with httpx.Client(base_url=base_url) as client:
        html = client.get("/console/sign-in")
        assets = re.findall(r'(?:src|href)="(/console/static/[^"]+)"', html.text)
        plain = len(html.content)
        zipped = len(html.content)
        for asset in assets:
            plain += len(client.get(asset, headers={"Accept-Encoding": "identity"}).content)
            answer = client.get(asset, headers={"Accept-Encoding": "gzip"})
            zipped += int(answer.headers.get("content-length", len(answer.content)))
    return zipped, plain


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{cpu}, {os.cpu_count()} CPUs, Linux {platform.release()}, Python {platform.python_version()}; load {load}"


def record(
    sims: int, requests: int, results: dict[str, tuple[float, float, float, float]], load: tuple[int, int], where: str
) -> None:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = "\n".join(
        f"| {name} | {p50:.1f} | {p99:.1f} | {'yes' if p99 < TARGET_MS else 'no'} | {c50:.1f} | {c99:.1f} |"
        for name, (p50, p99, c50, c99) in results.items()
    )
    block = (
        f"{BEGIN}\nMeasured {when} on {where}. PostgreSQL, {sims:,} SIMs in one account, {requests} requests per "
        f"page, one at a time. Server: the page's own Server-Timing; client: request sent to last byte read.\n\n"
        f"| page | server p50 ms | server p99 ms | p99 < {TARGET_MS:.0f} ms | client p50 ms | client p99 ms |\n"
        f"|---|---|---|---|---|---|\n{rows}\n\n"
        f"First load (sign-in page + its assets): {load[0]:,} bytes as sent (gzip), {load[1]:,} bytes uncompressed "
        f"(budget {ASSET_BUDGET:,}).\n{END}"
    )
    text = RESULTS.read_text()
    if BEGIN in text:
        start, end = text.index(BEGIN), text.index(END) + len(END)
        text = text[:start] + block + text[end:]
    else:
        text = text.rstrip() + "\n\n## Console (bench/console.py)\n\n" + block + "\n"
    RESULTS.write_text(text)


def main() -> None:
    # A stop (SIGTERM) still drops the benchmark's database and stops its server (the finally blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sims", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--reuse", metavar="NAME", help="keep the loaded database NAME and measure it again later")
    parser.add_argument("--only", metavar="TEXT", help="measure only the pages whose name contains TEXT")
    args = parser.parse_args()
    name = args.reuse or f"cellplane_bench_console_{uuid.uuid4().hex[:8]}"
    kept = asyncio.run(_kept(name)) if args.reuse else None
    if kept is None:
        asyncio.run(_admin_sql(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    data_dir = Path(tempfile.mkdtemp(prefix="cellplane-bench-console-"))
    env = server_env(data_dir, url)
    try:
        subprocess.run([*CLI, "db", "upgrade"], env=env, cwd=data_dir, check=True, capture_output=True)
        server = Server(backend="postgres", data_dir=data_dir, port=free_port(), env=env)
        server.start(timeout=600)  # the machine is shared: a start (the AAA loads every SIM) may wait for CPU
        try:
            if kept is None:
                account = server.cli_admin("create-account", "--friendly-name", "bench-console")
                print(f"loading {args.sims:,} SIMs ...", flush=True)
                asyncio.run(_load(url.replace("+asyncpg", ""), account["account_sid"], args.sims))
                if args.reuse:
                    kept = {"account": account, "sims": args.sims}
                    comment = json.dumps(kept).replace("'", "''")
                    asyncio.run(_admin_sql(f"COMMENT ON DATABASE \"{name}\" IS '{comment}'"))
            else:
                account, args.sims = kept["account"], kept["sims"]
                print(f"reusing {name}: {args.sims:,} SIMs", flush=True)
            where = machine()
            results = measure(server.base_url, account, args.sims, args.requests, _things_sids(url, account), args.only)
            load = first_load(server.base_url)
            print(f"  first load: {load[0]:,} bytes gzip, {load[1]:,} bytes uncompressed")
        finally:
            server.stop()
        if not args.no_record and not args.only:
            record(args.sims, args.requests, results, load, where)
    finally:
        if not args.reuse:
            asyncio.run(_admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
