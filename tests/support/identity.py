"""API clients and Bearer tokens for tests: made through the platform's own endpoints, as a user would."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.server import Server

HOSTED_TOKEN = "/api-services/v1/auth/token"
THINGS_TOKEN = "/oauth/client_credential/accesstoken?grant_type=client_credentials"


def create_client(server: Server, auth: tuple[str, str], role: str = "admin", lifetime: str = "1h") -> dict[str, Any]:
    """POST /cellplane/v1/ApiClients with Basic `auth`; the body holds client_id and the one-time client_secret."""
    response = httpx.post(
        f"{server.base_url}/cellplane/v1/ApiClients",
        data={"Role": role, "TokenLifetime": lifetime, "FriendlyName": f"{role} client"},
        auth=auth,
        timeout=10,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def issue_token(server: Server, client_id: str, client_secret: str) -> str:
    response = httpx.post(
        f"{server.base_url}{HOSTED_TOKEN}",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_for(server: Server, auth: tuple[str, str], role: str = "admin", lifetime: str = "1h") -> tuple[str, str]:
    """(client_id, access token) of a new client of `role` of the account `auth` belongs to."""
    client = create_client(server, auth, role, lifetime)
    return client["client_id"], issue_token(server, client["client_id"], client["client_secret"])
