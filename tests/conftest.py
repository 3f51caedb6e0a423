"""Fixtures: the real platform in a subprocess (SQLite, and PostgreSQL when it answers), accounts, SIMs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from twilio.rest import Client

from tests.support.server import (
    Server,
    create_postgres_database,
    drop_postgres_database,
    free_port,
    postgres_available,
    server_env,
)

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One running platform per backend for the whole session; tests isolate by account."""
    backend = request.param
    database_url = None
    if backend == "postgres":
        reason = postgres_available()
        if reason:
            pytest.skip(reason)
        database_url = create_postgres_database()
    data_dir = tmp_path_factory.mktemp(f"cellplane-{backend}")
    instance = Server(backend=backend, data_dir=data_dir, port=free_port(), env=server_env(data_dir, database_url))
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()
        if database_url:
            drop_postgres_database(database_url)


@dataclass
class Account:
    sid: str
    token: str
    server: Server

    def client(self) -> Client:
        client = Client(self.sid, self.token)
        client.supersim.base_url = f"{self.server.base_url}/supersim"
        client.wireless.base_url = f"{self.server.base_url}/wireless"
        return client

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.base_url, auth=(self.sid, self.token), timeout=10)

    def inventory(self, count: int, product: str = "supersim") -> list[dict[str, Any]]:
        sims: list[dict[str, Any]] = self.server.admin("provision-sims", "--count", str(count), "--product", product)
        return sims

    def claim(self, count: int) -> list[Any]:
        """Provision and claim `count` Super SIMs through the SDK; returns the SDK's Sim instances."""
        client = self.client()
        return [
            client.supersim.v1.sims.create(iccid=s["iccid"], registration_code=s["registration_code"])
            for s in self.inventory(count)
        ]


@pytest.fixture
def account(server: Server) -> Account:
    created = server.admin("create-account", "--friendly-name", "test")
    return Account(created["account_sid"], created["auth_token"], server)


@pytest.fixture
def client(account: Account) -> Client:
    return account.client()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path
