"""OAuth2 client credentials and Bearer tokens, against the real server: both token endpoints in their shapes,
RFC 6749 §5.2 errors, Bearer on every surface, and a token's life (expiry, revocation, replay, other accounts)."""

from __future__ import annotations

import subprocess
from datetime import timedelta

import httpx
from sqlalchemy import update

from cellplane.services.api_clients import digest
from cellplane.store.models import AccessToken
from cellplane.store.models.base import utcnow
from tests.conftest import Account
from tests.support.db import run
from tests.support.identity import HOSTED_TOKEN, THINGS_TOKEN, bearer, create_client, issue_token, token_for
from tests.support.server import CLI, Server


def test_api_client_secret_is_shown_once_and_never_listed(account: Account) -> None:
    client = create_client(account.server, (account.sid, account.token), role="operator", lifetime="30d")
    assert client["client_id"].startswith("OC") and len(client["client_secret"]) >= 40
    assert client["role"] == "operator" and client["token_lifetime_seconds"] == 30 * 86400
    with account.http() as http:
        fetched = http.get(f"/cellplane/v1/ApiClients/{client['client_id']}").json()
        listed = http.get("/cellplane/v1/ApiClients").json()
    assert "client_secret" not in fetched and fetched["date_last_used"] is None
    assert [c["client_id"] for c in listed["api_clients"]] == [client["client_id"]]
    assert client["client_secret"] not in str(listed)


def test_both_token_endpoints_answer_in_their_platforms_shape(account: Account) -> None:
    server = account.server
    client = create_client(server, (account.sid, account.token), role="viewer", lifetime="24h")
    form = {"client_id": client["client_id"], "client_secret": client["client_secret"]}
    hosted = httpx.post(f"{server.base_url}{HOSTED_TOKEN}", data={**form, "grant_type": "client_credentials"})
    assert hosted.status_code == 200 and hosted.headers["cache-control"] == "no-store"
    body = hosted.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 86400 and body["scope"] == "viewer"
    things = httpx.post(f"{server.base_url}{THINGS_TOKEN}", data=form).json()
    assert things["token_type"] == "Bearer" and things["expires_in"] == "86400" and things["status"] == "approved"
    assert things["client_id"] == client["client_id"] and int(things["issued_at"]) > 1_700_000_000_000
    # RFC 6749 §2.3.1: the client credentials as HTTP Basic instead of the form.
    basic = httpx.post(
        f"{server.base_url}{THINGS_TOKEN}", auth=(client["client_id"], client["client_secret"]), data={}
    ).json()
    for token in (body["access_token"], things["access_token"], basic["access_token"]):
        assert httpx.get(f"{server.base_url}/supersim/v1/Sims", headers=bearer(token)).status_code == 200
    with account.http() as http:
        assert http.get(f"/cellplane/v1/ApiClients/{client['client_id']}").json()["date_last_used"] is not None


def test_token_endpoint_errors_follow_rfc_6749(account: Account) -> None:
    server = account.server
    client = create_client(server, (account.sid, account.token))
    url = f"{server.base_url}{HOSTED_TOKEN}"
    good = {
        "grant_type": "client_credentials",
        "client_id": client["client_id"],
        "client_secret": client["client_secret"],
    }

    def error(response: httpx.Response) -> tuple[int, str]:
        assert set(response.json()) == {"error", "error_description"}
        return response.status_code, response.json()["error"]

    assert error(httpx.post(url, data={**good, "client_secret": "wrong"})) == (401, "invalid_client")
    assert error(httpx.post(url, data={**good, "client_id": "OC" + "0" * 32})) == (401, "invalid_client")
    wrong_basic = httpx.post(url, data={"grant_type": "client_credentials"}, auth=(client["client_id"], "nope"))
    assert error(wrong_basic) == (401, "invalid_client")
    assert wrong_basic.headers["www-authenticate"].startswith("Basic")
    assert error(httpx.post(url, data={k: v for k, v in good.items() if k != "grant_type"})) == (
        400,
        "invalid_request",
    )
    assert error(httpx.post(url, data={**good, "grant_type": "password"})) == (400, "unsupported_grant_type")
    assert error(httpx.post(url, data={**good, "scope": "admin billing"})) == (400, "invalid_scope")
    both = httpx.post(url, data=good, auth=(client["client_id"], client["client_secret"]))
    assert error(both) == (400, "invalid_request")
    in_query = httpx.post(f"{url}?client_secret={client['client_secret']}", data=good)
    assert error(in_query) == (400, "invalid_request")
    # No client authentication at all is invalid_client, before anything else is looked at.
    assert error(httpx.post(url, content=b"{}", headers={"Content-Type": "application/json"})) == (
        401,
        "invalid_client",
    )
    assert error(httpx.post(url, data={"grant_type": "client_credentials"})) == (401, "invalid_client")


def test_a_bad_bearer_token_is_refused_on_every_surface_in_its_error_body(account: Account) -> None:
    server = account.server
    for path in ("/supersim/v1/Sims", "/supersim/v1/Sims/HS" + "0" * 32, "/wireless/v1/Sims", "/cellplane/v1/Users"):
        for token in ("not-a-token", "x" * 600, "a b"):
            response = httpx.get(f"{server.base_url}{path}", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, (path, response.text)
            assert response.headers["www-authenticate"] == 'Bearer realm="cellplane", error="invalid_token"'
            assert response.json()["code"] == 20003 and response.json()["status"] == 401


def test_token_lifecycle_expiry_revocation_replay_and_other_accounts(server: Server) -> None:
    first = server.admin("create-account", "--friendly-name", "first")
    other = server.admin("create-account", "--friendly-name", "other")
    first_auth, other_auth = (first["account_sid"], first["auth_token"]), (other["account_sid"], other["auth_token"])
    client = create_client(server, first_auth)
    token = issue_token(server, client["client_id"], client["client_secret"])
    nap = httpx.post(f"{server.base_url}/supersim/v1/NetworkAccessProfiles", data={}, headers=bearer(token)).json()
    fleet = httpx.post(
        f"{server.base_url}/supersim/v1/Fleets",
        data={"UniqueName": "f1", "NetworkAccessProfile": nap["sid"]},
        headers=bearer(token),
    )
    assert fleet.status_code == 201, fleet.text
    fleet_sid = fleet.json()["sid"]

    # Another account's token finds nothing of ours, by sid or by name, and lists none of it.
    _, other_token = token_for(server, other_auth)
    for key in (fleet_sid, "f1"):
        response = httpx.get(f"{server.base_url}/supersim/v1/Fleets/{key}", headers=bearer(other_token))
        assert response.status_code == 404 and response.json()["code"] == 20404
    listed = httpx.get(f"{server.base_url}/supersim/v1/Fleets", headers=bearer(other_token)).json()
    assert fleet_sid not in str(listed)

    # Expiry: a token past its expires_at is refused like any invalid token.
    expiring = issue_token(server, client["client_id"], client["client_secret"])

    async def expire(session: object) -> None:
        stmt = update(AccessToken).where(AccessToken.token_hash == digest(expiring))
        await session.execute(stmt.values(expires_at=utcnow() - timedelta(seconds=1)))  # type: ignore[attr-defined]

    run(server, expire)
    response = httpx.get(f"{server.base_url}/supersim/v1/Fleets", headers=bearer(expiring))
    assert response.status_code == 401 and 'error="invalid_token"' in response.headers["www-authenticate"]

    # Revocation: deleting the client refuses its (cached, just used) token at once, and every replay after.
    assert httpx.get(f"{server.base_url}/supersim/v1/Fleets/{fleet_sid}", headers=bearer(token)).status_code == 200
    deleted = httpx.delete(f"{server.base_url}/cellplane/v1/ApiClients/{client['client_id']}", auth=first_auth)
    assert deleted.status_code == 204
    for _ in range(3):
        replay = httpx.get(f"{server.base_url}/supersim/v1/Fleets/{fleet_sid}", headers=bearer(token))
        assert replay.status_code == 401 and 'error="invalid_token"' in replay.headers["www-authenticate"]
    again = httpx.post(
        f"{server.base_url}{HOSTED_TOKEN}",
        data={
            "grant_type": "client_credentials",
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        },
    )
    assert again.status_code == 401 and again.json()["error"] == "invalid_client"
    # Another account cannot see or delete a client that is not its own.
    survivor = create_client(server, first_auth)
    foreign = httpx.delete(f"{server.base_url}/cellplane/v1/ApiClients/{survivor['client_id']}", auth=other_auth)
    assert foreign.status_code == 404


def test_cli_creates_an_api_client_whose_credentials_get_a_token(account: Account) -> None:
    made = account.server.cli_admin(
        "create-api-client", "--account", account.sid, "--role", "billing", "--lifetime", "1h"
    )
    assert made["role"] == "billing" and made["client_id"].startswith("OC")
    token = issue_token(account.server, made["client_id"], made["client_secret"])
    usage = httpx.get(f"{account.server.base_url}/supersim/v1/UsageRecords", headers=bearer(token))
    assert usage.status_code == 200
    refused = httpx.post(f"{account.server.base_url}/supersim/v1/Fleets", headers=bearer(token), data={})
    assert refused.status_code == 403 and refused.json()["code"] == 20403
    assert "'billing'" in refused.json()["message"] and "'fleets:write'" in refused.json()["message"]
    bad = subprocess.run(
        [*CLI, "admin", "create-api-client", "--account", account.sid, "--role", "root"],
        env=account.server.env,
        capture_output=True,
        text=True,
        cwd=account.server.data_dir,
    )
    assert bad.returncode == 2 and "Role must be one of" in bad.stderr
