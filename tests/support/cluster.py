"""Several `cellplane up --role ...` nodes on one PostgreSQL database (issue 21), for the cluster tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.conftest import Account
from tests.support.network import USA, make_fleet
from tests.support.server import (
    Server,
    create_postgres_database,
    drop_postgres_database,
    free_port,
    postgres_available,
    server_env,
)


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
