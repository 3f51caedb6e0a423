"""Users at /cellplane/v1/Users, and the audit log at /cellplane/v1/AuditEvents: every change through any surface
or the CLI, with who, what, when and from where."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import Account
from tests.support.identity import bearer, token_for


def events(http: httpx.Client, wanted: int = 1, **params: str) -> list[dict[str, Any]]:
    """The account's audit events matching `params`, once at least `wanted` are there (written a moment later)."""
    found: list[dict[str, Any]] = []
    for _ in range(100):
        response = http.get("/cellplane/v1/AuditEvents", params=params)
        assert response.status_code == 200, response.text
        found = response.json()["audit_events"]
        if len(found) >= wanted:
            break
        time.sleep(0.05)
    return found


def test_users_are_managed_by_admins_and_never_show_a_password(account: Account) -> None:
    password = "a long secret passphrase"
    with account.http() as http:
        made = http.post(
            "/cellplane/v1/Users",
            data={"Email": f"Ops.{account.sid}@Example.com", "Role": "operator", "Password": password},
        )
        assert made.status_code == 201, made.text
        user = made.json()
        assert user["email"] == f"ops.{account.sid.lower()}@example.com" and user["role"] == "operator"
        assert password not in made.text and "password" not in str(user).lower()
        bad = http.post("/cellplane/v1/Users", data={"Email": "x@example.com", "Role": "root", "Password": password})
        assert bad.status_code == 400 and "Role" in bad.json()["message"]
        updated = http.post(f"/cellplane/v1/Users/{user['sid']}", data={"Role": "billing"}).json()
        assert updated["role"] == "billing"
        assert [u["sid"] for u in http.get("/cellplane/v1/Users").json()["users"]] == [user["sid"]]
        _, viewer = token_for(account.server, (account.sid, account.token), "viewer")
        refused = httpx.get(f"{account.server.base_url}/cellplane/v1/Users", headers=bearer(viewer))
        assert refused.status_code == 403 and "users:read" in refused.json()["message"]
        assert http.delete(f"/cellplane/v1/Users/{user['sid']}").status_code == 204
        assert http.get(f"/cellplane/v1/Users/{user['sid']}").status_code == 404


def test_every_change_is_recorded_with_who_what_when_and_where(account: Account) -> None:
    server = account.server
    client_id, token = token_for(server, (account.sid, account.token), "operator")
    key = server.admin("create-api-key", "--account", account.sid)
    started = datetime.now(UTC) - timedelta(seconds=1)
    as_client = httpx.Client(base_url=server.base_url, headers=bearer(token))
    with account.http() as http, as_client:
        nap = as_client.post("/supersim/v1/NetworkAccessProfiles", data={}).json()
        fleet = http.post(
            "/supersim/v1/Fleets", data={"NetworkAccessProfile": nap["sid"]}, auth=(key["sid"], key["secret"])
        ).json()
        http.post(f"/supersim/v1/Fleets/{fleet['sid']}", data={"UniqueName": "audited"})  # the AuthToken
        http.get(f"/supersim/v1/Fleets/{fleet['sid']}")  # a read: not a change
        refused = as_client.post("/cellplane/v1/Users", data={})  # refused: not a change either
        assert refused.status_code == 403

        by_token = events(http, Actor=client_id, Resource="networks")
        assert len(by_token) == 1
        event = by_token[0]
        assert (event["actor_kind"], event["role"], event["resource_sid"]) == ("api_client", "operator", nap["sid"])
        assert event["action"] == "POST /supersim/v1/NetworkAccessProfiles" and event["source"] == "127.0.0.1"
        assert event["status"] == 201 and datetime.fromisoformat(event["timestamp"]) >= started.replace(microsecond=0)

        fleet_events = events(http, 2, Resource="fleets")
        assert [(e["actor_kind"], e["actor_sid"]) for e in fleet_events] == [
            ("auth_token", account.sid),
            ("api_key", key["sid"]),
        ]
        assert all(e["resource_sid"] == fleet["sid"] for e in fleet_events)
        assert not [e for e in events(http, 0) if e["action"].startswith("GET ")]
        later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert events(http, 0, StartTime=later) == []
        fetched = http.get(f"/cellplane/v1/AuditEvents/{event['sid']}").json()
        assert fetched == event
        bad = http.get("/cellplane/v1/AuditEvents", params={"Resource": "everything"})
        assert bad.status_code == 400 and "Resource" in bad.json()["message"]
        # The token endpoint's use is the client's, on its account's log.
        assert any(e["action"] == "POST /api-services/v1/auth/token" for e in events(http, 1, Actor=client_id))

    # The operator's CLI: recorded in the same transaction as the change, from "cli@host".
    made = server.cli_admin("create-api-client", "--account", account.sid, "--role", "viewer")
    with account.http() as http:
        cli = [e for e in events(http, 1, Resource="api_clients") if e["resource_sid"] == made["client_id"]]
    assert cli and cli[0]["actor_kind"] == "operator" and cli[0]["source"].startswith("cli@")
    assert cli[0]["action"] == "cellplane admin create-api-client"
    # Another account sees none of it.
    other = server.admin("create-account")
    with httpx.Client(base_url=server.base_url, auth=(other["account_sid"], other["auth_token"])) as http:
        assert http.get("/cellplane/v1/AuditEvents").json()["audit_events"] == []
        assert http.get(f"/cellplane/v1/AuditEvents/{event['sid']}").status_code == 404
