"""The operator's tools: the `cellplane admin` CLI and the /admin/v1 surface it mirrors."""

from __future__ import annotations

import httpx

from tests.conftest import Account
from tests.support.server import Server


def test_cli_creates_accounts_keys_and_sims(server: Server) -> None:
    parent = server.cli_admin("create-account", "--friendly-name", "ops")
    assert parent["account_sid"].startswith("AC") and len(parent["auth_token"]) == 32
    child = server.cli_admin("create-account", "--parent", parent["account_sid"])
    assert child["parent_sid"] == parent["account_sid"]
    key = server.cli_admin("create-api-key", "--account", parent["account_sid"])
    assert key["sid"].startswith("SK")
    sims = server.cli_admin("provision-sims", "--count", "3", "--seed", "7")
    assert len(sims) == 3 and all(s["iccid"].startswith("8988307") and len(s["iccid"]) == 20 for s in sims)
    response = httpx.get(f"{server.base_url}/supersim/v1/Sims", auth=(key["sid"], key["secret"]))
    assert response.status_code == 200


def test_admin_surface_needs_the_operator_token(server: Server, account: Account) -> None:
    url = f"{server.base_url}/admin/v1/Accounts"
    assert httpx.post(url, auth=(account.sid, account.token)).status_code == 401
    assert httpx.post(url, auth=("admin", "wrong")).status_code == 401
    token = server.env["CELLPLANE_ADMIN_TOKEN"]
    bad = httpx.post(f"{server.base_url}/admin/v1/Sims", data={"Count": "0"}, auth=("admin", token))
    assert bad.status_code == 400 and "Count" in bad.json()["message"]
    missing = httpx.post(
        f"{server.base_url}/admin/v1/Accounts", data={"ParentSid": "AC" + "0" * 32}, auth=("admin", token)
    )
    assert missing.status_code == 404


def test_lookup_by_iccid(server: Server, account: Account) -> None:
    [sim] = account.inventory(1)
    token = server.env["CELLPLANE_ADMIN_TOKEN"]
    found = httpx.get(f"{server.base_url}/admin/v1/Sims/{sim['iccid']}", auth=("admin", token)).json()
    assert found["imsi"] == sim["imsi"] and found["account_sid"] is None
