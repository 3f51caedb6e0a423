"""Several nodes migrating one PostgreSQL at once (issue 21: every `cellplane up` migrates at start): one does the
work, the others wait on its lock and find the database at head, none fails on a table the other just made."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from sqlalchemy import text

from cellplane.store.db import make_engine
from cellplane.store.migrate import head_revision
from tests.support.server import create_postgres_database, drop_postgres_database, postgres_available


async def versions(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars())
    finally:
        await engine.dispose()


def test_nodes_started_together_migrate_once() -> None:
    reason = postgres_available()
    if reason:
        pytest.skip(reason)
    url = create_postgres_database()
    try:
        # Processes, as nodes are (Alembic's context is global to a process: threads cannot share one).
        code = f"from cellplane.store.migrate import upgrade; upgrade({url!r})"
        nodes = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE) for _ in range(3)]
        outcomes = [(node.wait(timeout=120), node.stderr.read().decode() if node.stderr else "") for node in nodes]
        assert [code for code, _ in outcomes] == [0, 0, 0], outcomes
        assert asyncio.run(versions(url)) == [head_revision()]  # one row: the head, written once
    finally:
        drop_postgres_database(url)
