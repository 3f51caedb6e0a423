"""Generated from the application's route table, not hand-picked.

- Every guarded route × every role: allowed, or 403 (code 20403) naming the role and the permission, exactly as the
  permission table (domain/permissions.py) says.
- Every route that names a resource by path, called with another account's credentials of every kind (AuthToken,
  API key, Bearer token): 404, and its lists show none of the first account's resources.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts

from cellplane.api.app import create_app
from cellplane.api.wire.guard import GuardedRoute
from cellplane.domain.permissions import ROLES, allows
from tests.compat.target import EID
from tests.support.identity import bearer, token_for
from tests.support.server import Server


@dataclass(frozen=True)
class RouteCase:
    method: str
    path: str
    permission: str

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def guarded_routes() -> list[RouteCase]:
    cases = []
    for context in iter_route_contexts(create_app(None).routes):  # type: ignore[arg-type]
        route = context.original_route
        if isinstance(route, GuardedRoute) and context.path:
            cases.extend(RouteCase(m, context.path, route.permission) for m in sorted(route.methods or ()))
    return cases


ROUTES = guarded_routes()
DUMMY = "HS" + "0" * 32


def test_every_customer_route_declares_a_permission() -> None:
    """A route of the customer surfaces without a declaration would be admin-only (fail closed): say so here."""
    undeclared = []
    for context in iter_route_contexts(create_app(None).routes):  # type: ignore[arg-type]
        path = context.path or ""
        if path.startswith(("/supersim/", "/wireless/", "/cellplane/")) and not isinstance(
            context.original_route, GuardedRoute
        ):
            undeclared.append(path)
    assert not undeclared
    assert len(ROUTES) > 60


@pytest.fixture(scope="module")
def role_tokens(server: Server) -> dict[str, str]:
    created = server.admin("create-account", "--friendly-name", "matrix")
    auth = (created["account_sid"], created["auth_token"])
    return {role: token_for(server, auth, role)[1] for role in ROLES}


@pytest.mark.parametrize("case", ROUTES, ids=str)
def test_route_answers_each_role_as_the_permission_table_says(
    case: RouteCase, role_tokens: dict[str, str], server: Server
) -> None:
    path = re.sub(r"\{[^}]+\}", DUMMY, case.path)
    for role, token in role_tokens.items():
        response = httpx.request(case.method, f"{server.base_url}{path}", headers=bearer(token), timeout=30)
        if allows(role, case.permission):
            assert response.status_code != 403, (role, response.text)
            assert response.status_code < 500, (role, response.text)
        else:
            assert response.status_code == 403, (role, response.status_code, response.text)
            body = response.json()
            assert body["status"] == 403 and refusal_code(case.path, body) in (20403, "Forbidden")
            assert f"'{role}'" in body["message"] and f"'{case.permission}'" in body["message"]


def refusal_code(path: str, body: dict[str, Any]) -> object:
    """Each surface's own error body: /things/v1 has its platform's envelope (THINGS.md), the rest `code`."""
    return body["name"] if path.startswith("/things/v1") else body["code"]


# --- another account's credentials ---------------------------------------------------------------------------


@dataclass
class Owned:
    """One account's resources, by the path parameter values that name them."""

    auth: tuple[str, str]
    fills: dict[str, str]


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201, 202), response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def owned(server: Server) -> Owned:
    """An account with one resource of every kind a path can name, made through the API as a user would."""
    created = server.admin("create-account", "--friendly-name", "owner")
    auth = (created["account_sid"], created["auth_token"])
    inventory = server.admin("provision-sims", "--count", "1", "--product", "supersim")[0]
    wireless = server.admin("provision-sims", "--count", "1", "--product", "wireless", "--account", auth[0])[0]
    with httpx.Client(base_url=server.base_url, auth=auth, timeout=30) as http:
        sim = _ok(
            http.post(
                "/supersim/v1/Sims",
                data={"Iccid": inventory["iccid"], "RegistrationCode": inventory["registration_code"]},
            )
        )
        nap = _ok(http.post("/supersim/v1/NetworkAccessProfiles", data={}))
        network = _ok(http.get("/supersim/v1/Networks", params={"PageSize": 1}))["networks"][0]
        _ok(http.post(f"/supersim/v1/NetworkAccessProfiles/{nap['sid']}/Networks", data={"Network": network["sid"]}))
        fleet = _ok(http.post("/supersim/v1/Fleets", data={"NetworkAccessProfile": nap["sid"]}))
        profile = _ok(http.post("/supersim/v1/ESimProfiles", data={"Eid": EID}))
        plan = _ok(http.post("/wireless/v1/RatePlans", data={"UniqueName": "owned-plan"}))
        client = _ok(http.post("/cellplane/v1/ApiClients", data={"Role": "viewer", "TokenLifetime": "1h"}))
        user = _ok(
            http.post(
                "/cellplane/v1/Users",
                data={"Email": f"{auth[0].lower()}@example.com", "Role": "viewer", "Password": "correct horse 1"},
            )
        )
        audit = {"audit_events": []}
        for _ in range(50):  # the audit log is written a few milliseconds after the change
            audit = _ok(http.get("/cellplane/v1/AuditEvents", params={"PageSize": 1}))
            if audit["audit_events"]:
                break
            time.sleep(0.05)
    fills = {
        "/supersim/v1/Sims/{sid}": sim["sid"],
        "/supersim/v1/Sims/{sim_sid}": sim["sid"],
        "/supersim/v1/Fleets/{sid}": fleet["sid"],
        "/supersim/v1/NetworkAccessProfiles/{sid}": nap["sid"],
        "/supersim/v1/NetworkAccessProfiles/{profile}": nap["sid"],
        "/Networks/{sid}@nap": network["sid"],
        "/supersim/v1/ESimProfiles/{sid}": profile["sid"],
        "/wireless/v1/Sims/{sid}": wireless["sid"],
        "/wireless/v1/Sims/{sim}": wireless["sid"],
        "/wireless/v1/RatePlans/{sid}": plan["sid"],
        "/cellplane/v1/ApiClients/{sid}": client["client_id"],
        "/cellplane/v1/Users/{sid}": user["sid"],
    }
    fills["/cellplane/v1/AuditEvents/{sid}"] = audit["audit_events"][0]["sid"]
    fills.update(owned_things(server, auth))
    return Owned(auth=auth, fills=fills)


def owned_things(server: Server, auth: tuple[str, str]) -> dict[str, str]:
    """One of every /things/v1 resource a path names, made through that surface (JSON) as its user would."""
    thing = server.admin("provision-sims", "--count", "1", "--product", "things", "--account", auth[0])[0]
    with httpx.Client(base_url=f"{server.base_url}/things/v1", auth=auth, timeout=30) as http:
        network = _ok(http.post("/networks", json={"name": "owned-net"}))["id"]
        pool = _ok(http.post(f"/networks/{network}/ipPools", json={"cidr": "10.91.0.0/24"}))["id"]
        route = _ok(http.post(f"/networks/{network}/routes", json={"destination": "192.0.2.0/24", "target": "uplink"}))
        nat = _ok(
            http.post(
                f"/networks/{network}/natRules",
                json={"protocol": "tcp", "publicPort": 8080, "privateIp": "10.91.0.5", "privatePort": 80},
            )
        )
        tunnel = _ok(http.post(f"/networks/{network}/vpnTunnels", json=THINGS_BODIES["/vpnTunnels"]))["id"]
        profile = _ok(http.post("/ipProfiles", json={"name": "owned-profile"}))["id"]
        group = _ok(http.post("/thingsGroups", json={"name": "owned-group", "networkId": network}))["id"]
        bulk = _ok(
            http.post(
                "/bulkActions",
                json={
                    "action": "addTags",
                    "parameters": {"tags": ["owned"]},
                    "selection": {"thingIds": [thing["sid"]]},
                },
            )
        )["id"]
    return {
        "/things/v1/things/{key}": thing["sid"],
        "/things/v1/networks/{sid}": network,
        "/things/v1/networks/{network_sid}": network,
        "/things/v1/networks/{network_sid}/ipPools/{sid}": pool,
        "/things/v1/networks/{network_sid}/routes/{sid}": route["id"],
        "/things/v1/networks/{network_sid}/natRules/{sid}": nat["id"],
        "/things/v1/networks/{network_sid}/vpnTunnels/{sid}": tunnel,
        "/things/v1/ipProfiles/{sid}": profile,
        "/things/v1/thingsGroups/{sid}": group,
        "/things/v1/bulkActions/{sid}": bulk,
    }


# Paths whose resources this test cannot make through the API, with why (they are checked by their own tests).
NOT_MADE_HERE = {
    "/supersim/v1/Networks/{sid}": "the visited networks are a catalogue shared by every account",
    "/supersim/v1/IpCommands/{sid}": "needs an attached SIM (tests/e2e/test_ip_commands.py)",
    "/supersim/v1/SmsCommands/{sid}": "needs an attached SIM (tests/e2e/test_sms_commands.py)",
    "/wireless/v1/Commands/{sid}": "needs an active SIM on a rate plan with commands (test_wireless_commands.py)",
    "/cellplane/v1/ConnectionEvents/{sid}": "written by the network side only (test_connection_events.py)",
    "/cellplane/v1/WebhookDeliveries/{sid}": "written by the webhook sender only",
    "/things/v1/billingReports/downloads/{sid}": "made by a report over the inline limit (test_things_billing.py)",
}


def fill(path: str, fills: dict[str, str]) -> str | None:
    """The path with the owner's sids in place of its parameters, or None if some parameter cannot be filled."""
    if path.endswith("/Networks/{sid}") and "NetworkAccessProfiles" in path:
        path = path.replace("/Networks/{sid}", "/Networks/" + fills["/Networks/{sid}@nap"])
    for template, sid in sorted(fills.items(), key=lambda item: -len(item[0])):
        if "{" in template and path.startswith(template):
            path = template[: template.rindex("{")] + sid + path[len(template) :]
    return None if "{" in path else path


# A valid body for each /things/v1 create under another account's resource: the 404 must come from the lookup.
THINGS_BODIES = {
    "/ipPools": {"cidr": "10.92.0.0/24"},
    "/routes": {"destination": "198.51.100.0/24", "target": "uplink"},
    "/natRules": {"protocol": "tcp", "publicPort": 8081, "privateIp": "10.91.0.6", "privatePort": 80},
    "/sms": {"text": "hello"},
    "/vpnTunnels": {
        "peerAddress": "198.51.100.9",
        "preSharedKey": "owned-tunnel-key",
        "remoteCidrs": ["192.168.77.0/24"],
    },
}


def things_body(path: str) -> bytes:
    body = next((body for suffix, body in THINGS_BODIES.items() if path.endswith(suffix)), {})
    return json.dumps(body).encode()


def other_credentials(server: Server) -> dict[str, dict[str, Any]]:
    created = server.admin("create-account", "--friendly-name", "intruder")
    auth = (created["account_sid"], created["auth_token"])
    key = server.admin("create-api-key", "--account", auth[0])
    token = token_for(server, auth, "admin")[1]
    return {
        "auth_token": {"auth": auth},
        "api_key": {"auth": (key["sid"], key["secret"])},
        "bearer": {"headers": bearer(token)},
    }


def test_another_accounts_credentials_find_nothing(owned: Owned, server: Server) -> None:
    kinds = other_credentials(server)
    addressed = [case for case in ROUTES if "{" in case.path]
    unfilled = {case.path for case in addressed if fill(case.path, owned.fills) is None}
    assert unfilled <= set(NOT_MADE_HERE), unfilled - set(NOT_MADE_HERE)
    checked = 0
    for case in addressed:
        path = fill(case.path, owned.fills)
        if path is None:
            continue
        for kind, credentials in kinds.items():
            data = {"Network": owned.fills["/Networks/{sid}@nap"]} if path.endswith("/Networks") else None
            content = things_body(path) if path.startswith("/things/v1") and case.method != "GET" else None
            if content is not None:
                data = None
            response = httpx.request(
                case.method, f"{server.base_url}{path}", data=data, content=content, timeout=30, **credentials
            )
            assert response.status_code == 404, (kind, str(case), response.status_code, response.text)
            assert refusal_code(case.path, response.json()) in (20404, "NotFound")
            checked += 1
    assert checked >= 3 * 25
    # The owner still has every one of them (no DELETE or update by the other account went through).
    with httpx.Client(base_url=server.base_url, auth=owned.auth, timeout=30) as http:
        for template in owned.fills:
            if template.startswith("/") and "{" in template and template.endswith("{sid}"):
                assert http.get(fill(template, owned.fills) or template).status_code == 200, template
    # Lists show none of the owner's resources.
    owner_sids = set(owned.fills.values())
    for case in ROUTES:
        if "{" in case.path or case.method != "GET":
            continue
        for kind, credentials in kinds.items():
            response = httpx.get(f"{server.base_url}{case.path}", timeout=30, **credentials)
            assert response.status_code in (200, 400), (kind, str(case), response.text)
            leaked = [sid for sid in owner_sids if sid in response.text]
            assert not leaked or case.path == "/supersim/v1/Networks", (kind, str(case), leaked)
