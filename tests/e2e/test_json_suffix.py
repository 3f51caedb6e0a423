"""The optional `.json` extension (issue 14, finding 10): every path of the Super SIM and Wireless surfaces answers
with and without it, the hot routes of api/wire/hot.py included; other surfaces are not widened.

The paths come from the app's own route table (every GET of both surfaces, placeholders filled with a real
resource of the account where one exists, else a well-formed sid that answers 404 the same way both ways).
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import Account
from tests.support.server import Server


def surface_gets() -> list[str]:
    """Every GET path template of the Super SIM and Wireless surfaces, from the assembled app's route table."""
    from scripts.spec_coverage import routed_paths

    return sorted(path for method, path in routed_paths() if method == "GET" and path.startswith(PREFIXES))


PREFIXES = ("/supersim/v1/", "/wireless/v1/")
TEMPLATES = surface_gets()


def test_the_route_table_has_both_surfaces() -> None:
    assert "/supersim/v1/Sims/{Sid}" in TEMPLATES and "/wireless/v1/Sims" in TEMPLATES
    assert len(TEMPLATES) >= 25


NO_SUCH = "XX" + "0" * 32


def fill(template: str, sim_sid: str | None) -> str:
    """A concrete path: the first placeholder of a Super SIM path gets the account's SIM, any other a sid of no
    resource (which must answer the same 404 both ways)."""
    if sim_sid is not None:
        template = re.sub(r"\{[^}]+\}", sim_sid, template, count=1)
    return re.sub(r"\{[^}]+\}", NO_SUCH, template)


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_get_answers_the_same_with_json(account: Account, template: str) -> None:
    sim_sid = account.claim(1)[0].sid if template.startswith("/supersim/v1/Sims/{") else None
    path = fill(template, sim_sid)
    with account.http() as http:
        plain, suffixed = http.get(path), http.get(path + ".json")
    assert suffixed.status_code == plain.status_code, (path, suffixed.text)
    assert plain.status_code in (200, 400, 404), (path, plain.text)
    if plain.status_code == 200:
        assert suffixed.json().keys() == plain.json().keys()
    else:
        assert suffixed.json()["code"] == plain.json()["code"]


def test_writes_and_hot_routes_take_json(account: Account, server: Server) -> None:
    [sim] = account.claim(1)
    with account.http() as http:
        fetched = http.get(f"/supersim/v1/Sims/{sim.sid}.json")  # the hot GET one SIM
        assert (fetched.status_code, fetched.json()["sid"]) == (200, sim.sid)
        renamed = http.post(f"/supersim/v1/Sims/{sim.sid}.json", data={"UniqueName": "json-meter"})
        assert (renamed.status_code, renamed.json()["unique_name"]) == (200, "json-meter")
        command = {"Sim": sim.sid, "Payload": "x", "DevicePort": "9"}
        sent = http.post("/supersim/v1/IpCommands.json", data=command)  # the hot POST IpCommands
        plain = http.post("/supersim/v1/IpCommands", data=command)
        # The SIM is new: the endpoint itself refuses it, the same way both ways (not a 404 of an unknown path).
        assert (
            (sent.status_code, sent.json()["message"])
            == (plain.status_code, plain.json()["message"])
            == (
                400,
                plain.json()["message"],
            )
        )
        assert sim.sid in sent.json()["message"]
        listed = http.get("/wireless/v1/Sims.json")
        assert listed.status_code == 200 and "sims" in listed.json()
        assert http.get("/cellplane/v1/ConnectionEvents.json").status_code == 404  # only the two hosted surfaces
