"""Settings updates through the SDK: written at a SIM's first activation, scheduled then successful, filters."""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import Account
from tests.e2e.test_billing_periods import activate

FIELDS = {"sid", "iccid", "sim_sid", "status", "packages", "date_completed", "date_created", "date_updated"}


def wait_for_success(client: Any, sim: str) -> Any:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = client.supersim.v1.settings_updates.list(sim=sim)
        if found and found[0].status == "successful":
            return found
        time.sleep(0.05)
    raise AssertionError(f"no successful settings update for {sim}: {found}")


def test_first_activation_installs_the_base_settings(account: Account) -> None:
    client = account.client()
    [sim, idle] = account.claim(2)
    client.supersim.v1.sims(sim.sid).update(unique_name="settings-meter")
    assert client.supersim.v1.settings_updates.list() == []

    activate(account, sim.sid, "ready")
    [update] = wait_for_success(client, sim.sid)
    assert update.sid.startswith("OB") and len(update.sid) == 34
    assert (update.sim_sid, update.iccid) == (sim.sid, sim.iccid)
    assert update.packages[0]["name"] == "base-settings" and update.packages[0]["version"] == "1.0.0"
    assert update.date_completed is not None and update.date_completed >= update.date_created
    with account.http() as http:
        raw = http.get("/supersim/v1/SettingsUpdates").json()
    assert set(raw["settings_updates"][0]) == FIELDS and raw["meta"]["key"] == "settings_updates"

    # Later status changes are not first activations: still one update.
    activate(account, sim.sid, "active")
    activate(account, sim.sid, "inactive")
    assert [u.sid for u in client.supersim.v1.settings_updates.list()] == [update.sid]

    # The Sim filter takes a sid, a unique name or an ICCID; Status filters too.
    for key in (sim.sid, "settings-meter", sim.iccid):
        assert [u.sid for u in client.supersim.v1.settings_updates.list(sim=key)] == [update.sid]
    assert client.supersim.v1.settings_updates.list(sim=idle.sid) == []
    assert client.supersim.v1.settings_updates.list(sim="no-such-sim") == []
    assert [u.sid for u in client.supersim.v1.settings_updates.list(status="successful")] == [update.sid]
    assert client.supersim.v1.settings_updates.list(status="scheduled") == []
    with account.http() as http:
        bad = http.get("/supersim/v1/SettingsUpdates", params={"Status": "done"})
    assert bad.status_code == 400 and "Status" in bad.json()["message"]


def test_history_follows_a_moved_sim(account: Account) -> None:
    server = account.server
    child = server.admin("create-account", "--parent", account.sid)
    child_client = Account(child["account_sid"], child["auth_token"], server).client()
    client = account.client()
    [sim] = account.claim(1)
    activate(account, sim.sid, "active")
    [update] = wait_for_success(client, sim.sid)
    assert child_client.supersim.v1.settings_updates.list() == []
    # The other account cannot filter its way to a SIM it does not own.
    assert child_client.supersim.v1.settings_updates.list(sim=sim.iccid) == []

    client.supersim.v1.sims(sim.sid).update(account_sid=child["account_sid"])
    assert [u.sid for u in child_client.supersim.v1.settings_updates.list(sim=sim.sid)] == [update.sid]
    assert client.supersim.v1.settings_updates.list() == []
