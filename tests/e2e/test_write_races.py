"""Writes that hold under concurrency (issue 22): claims, status and fleet changes, unique names, reserved names.

Each race is real: many requests sent at once with httpx.AsyncClient and asyncio.gather to a real server on each
backend. A request that loses gets a 4xx that says so; no 2xx is ever given for a change that will not happen.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Account
from tests.support.server import (
    Server,
    create_postgres_database,
    drop_postgres_database,
    free_port,
    postgres_available,
    server_env,
)

USA = "310-410"
# Long enough that every request of a burst arrives while the first accepted update is still `scheduled`.
SLOW_UPDATE = 3.0


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def slow_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A platform whose SIM updates stay `scheduled` for SLOW_UPDATE seconds, as in production."""
    database_url = None
    if request.param == "postgres":
        reason = postgres_available()
        if reason:
            pytest.skip(reason)
        database_url = create_postgres_database()
    data_dir = tmp_path_factory.mktemp(f"slow-{request.param}")
    env = server_env(data_dir, database_url, CELLPLANE_SIM_UPDATE_DELAY=str(SLOW_UPDATE))
    server = Server(backend=request.param, data_dir=data_dir, port=free_port(), env=env)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        if database_url:
            drop_postgres_database(database_url)


def new_account(server: Server) -> Account:
    created = server.admin("create-account", "--friendly-name", "races")
    return Account(created["account_sid"], created["auth_token"], server)


def client(account: Account) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=account.server.base_url, auth=(account.sid, account.token), timeout=30)


async def burst(account: Account, path: str, bodies: list[dict[str, str]]) -> list[httpx.Response]:
    """POST every body to `path` at the same moment, each on a connection of its own."""
    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(
        base_url=account.server.base_url, auth=(account.sid, account.token), timeout=30, limits=limits
    ) as http:
        return list(await asyncio.gather(*(http.post(path, data=body) for body in bodies)))


def claimed_sim(account: Account) -> str:
    [item] = account.inventory(1)
    with account.http() as http:
        created = http.post(
            "/supersim/v1/Sims", data={"Iccid": item["iccid"], "RegistrationCode": item["registration_code"]}
        )
    assert created.status_code == 201, created.text
    sid: str = created.json()["sid"]
    return sid


def fleet(account: Account, **settings: str) -> str:
    with account.http() as http:
        profile = http.post("/supersim/v1/NetworkAccessProfiles", data={"Networks": USA})
        assert profile.status_code == 201, profile.text
        made = http.post("/supersim/v1/Fleets", data={"NetworkAccessProfile": profile.json()["sid"], **settings})
    assert made.status_code == 201, made.text
    sid: str = made.json()["sid"]
    return sid


def settled(account: Account, sid: str, timeout: float = 4 * SLOW_UPDATE) -> dict[str, Any]:
    """The SIM once no update is in flight."""
    deadline = time.monotonic() + timeout
    with account.http() as http:
        while time.monotonic() < deadline:
            body: dict[str, Any] = http.get(f"/supersim/v1/Sims/{sid}").json()
            if body["status"] != "scheduled":
                return body
            time.sleep(0.1)
    raise AssertionError(f"Sim {sid} stayed scheduled: {body}")


def test_fifty_claim_races_each_have_one_winner(server: Server) -> None:
    """Two accounts claim the same SIM at the same moment, 50 times: exactly one 201 each time, and the loser is told
    the SIM is not registrable for it (83002), never that it owns it."""
    first, second = new_account(server), new_account(server)
    inventory = first.inventory(50)

    async def all_races() -> list[list[httpx.Response]]:
        async with client(first) as one, client(second) as other:
            results = []
            for item in inventory:
                body = {"Iccid": item["iccid"], "RegistrationCode": item["registration_code"]}
                pair = await asyncio.gather(
                    one.post("/supersim/v1/Sims", data=body), other.post("/supersim/v1/Sims", data=body)
                )
                results.append(list(pair))
            return results

    for responses in asyncio.run(all_races()):
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201, 400], [r.text for r in responses]
        winner = next(r for r in responses if r.status_code == 201).json()
        loser = next(r for r in responses if r.status_code == 400).json()
        assert loser["code"] == 83002, loser
        owner = first if winner["account_sid"] == first.sid else second
        with owner.http() as http:
            assert http.get(f"/supersim/v1/Sims/{winner['sid']}").json()["account_sid"] == owner.sid


def test_a_claim_raced_by_the_same_account_is_83003(server: Server) -> None:
    account = new_account(server)
    [item] = account.inventory(1)
    body = {"Iccid": item["iccid"], "RegistrationCode": item["registration_code"]}
    responses = asyncio.run(burst(account, "/supersim/v1/Sims", [body] * 5))
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {83003}


def test_twenty_sims_racing_for_one_unique_name(server: Server) -> None:
    """One 200, nineteen 409 naming the conflict, no 500 (the unique constraint is the guarantee)."""
    account = new_account(server)
    sims = [claimed_sim(account) for _ in range(20)]

    async def rename_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.base_url, auth=(account.sid, account.token), timeout=30) as http:
            return list(
                await asyncio.gather(
                    *(http.post(f"/supersim/v1/Sims/{sid}", data={"UniqueName": "the-one"}) for sid in sims)
                )
            )

    responses = asyncio.run(rename_all())
    assert Counter(r.status_code for r in responses) == {200: 1, 409: 19}, [r.text for r in responses]
    assert all("UniqueName" in r.json()["message"] for r in responses if r.status_code == 409)
    with account.http() as http:
        named = http.get("/supersim/v1/Sims/the-one")
    winner = next(r for r in responses if r.status_code == 200).json()
    assert named.status_code == 200 and named.json()["sid"] == winner["sid"]


def test_twenty_fleets_created_with_one_unique_name(server: Server) -> None:
    account = new_account(server)
    with account.http() as http:
        profile = http.post("/supersim/v1/NetworkAccessProfiles", data={"Networks": USA}).json()["sid"]
    body = {"NetworkAccessProfile": profile, "UniqueName": "fleet-one"}
    responses = asyncio.run(burst(account, "/supersim/v1/Fleets", [body] * 20))
    assert Counter(r.status_code for r in responses) == {201: 1, 409: 19}, [r.text for r in responses]


@pytest.mark.parametrize(
    "name",
    ["null", "NULL", " null ", "line\nbreak", "tab\there", "bell\x07", "HS0123456789abcdef0123456789abcdef\n", "  "],
)
def test_unique_names_that_could_not_be_told_apart_are_refused(server: Server, name: str) -> None:
    """Reserved words (`Fleet=null` means "no fleet"), control characters and sids with a trailing newline are
    refused with a 400 naming UniqueName on every resource that has one; nothing is written."""
    account = new_account(server)
    sim = claimed_sim(account)
    with account.http() as http:
        profile = http.post("/supersim/v1/NetworkAccessProfiles", data={"Networks": USA}).json()["sid"]
        attempts = {
            "Sim": http.post(f"/supersim/v1/Sims/{sim}", data={"UniqueName": name}),
            "Fleet": http.post("/supersim/v1/Fleets", data={"NetworkAccessProfile": profile, "UniqueName": name}),
            "NetworkAccessProfile": http.post(
                "/supersim/v1/NetworkAccessProfiles", data={"Networks": USA, "UniqueName": name}
            ),
            "RatePlan": http.post("/wireless/v1/RatePlans", data={"UniqueName": name}),
        }
        for resource, response in attempts.items():
            assert response.status_code == 400, (resource, response.text)
            assert "UniqueName" in response.json()["message"], (resource, response.text)
        assert http.get(f"/supersim/v1/Sims/{sim}").json()["unique_name"] is None
        assert http.get("/supersim/v1/Fleets").json()["fleets"] == []


def test_fleet_null_still_means_no_fleet(server: Server) -> None:
    account = new_account(server)
    sim, first = claimed_sim(account), fleet(account)
    with account.http() as http:
        assert http.post(f"/supersim/v1/Sims/{sim}", data={"Fleet": first}).json()["fleet_sid"] == first
        assert http.post(f"/supersim/v1/Sims/{sim}", data={"Fleet": "null"}).json()["fleet_sid"] is None


def test_twenty_concurrent_status_changes_one_accepted(slow_server: Server) -> None:
    """20 status changes at once on a `new` SIM: one 202, nineteen 409 that say an update is in progress or won the
    race, and the SIM ends where the accepted one asked."""
    account = new_account(slow_server)
    sim = claimed_sim(account)
    targets = [random.choice(["ready", "active", "inactive"]) for _ in range(20)]
    responses = asyncio.run(burst(account, f"/supersim/v1/Sims/{sim}", [{"Status": t} for t in targets]))
    assert Counter(r.status_code for r in responses) == {202: 1, 409: 19}, [r.text for r in responses]
    assert all(r.json()["code"] == 20409 for r in responses if r.status_code == 409)
    [accepted] = [target for target, r in zip(targets, responses, strict=True) if r.status_code == 202]
    assert settled(account, sim)["status"] == accepted


def test_fleet_change_while_scheduled_is_refused_not_dropped(slow_server: Server) -> None:
    """The issue's sequence: active in F1, F2 -> 202 scheduled, F3 -> refused (409 naming an update in progress);
    the SIM ends in F2, the fleet it was told. Asking for F2 again while it is on its way changes nothing (200)."""
    account = new_account(slow_server)
    sim = claimed_sim(account)
    f1, f2, f3 = fleet(account), fleet(account), fleet(account)
    with account.http() as http:
        assert http.post(f"/supersim/v1/Sims/{sim}", data={"Fleet": f1, "Status": "active"}).status_code == 202
        assert (settled(account, sim)["status"], settled(account, sim)["fleet_sid"]) == ("active", f1)
        to_f2 = http.post(f"/supersim/v1/Sims/{sim}", data={"Fleet": f2})
        assert (to_f2.status_code, to_f2.json()["status"], to_f2.json()["fleet_sid"]) == (202, "scheduled", f1)
        to_f3 = http.post(f"/supersim/v1/Sims/{sim}", data={"Fleet": f3})
        assert to_f3.status_code == 409, to_f3.text
        assert to_f3.json()["code"] == 20409 and "in progress" in to_f3.json()["message"]
        again = http.post(f"/supersim/v1/Sims/{sim}", data={"Fleet": f2})
        assert again.status_code == 200 and again.json()["status"] == "scheduled", again.text
    final = settled(account, sim)
    assert (final["status"], final["fleet_sid"]) == ("active", f2)


def test_twenty_concurrent_fleet_assignments_end_in_the_accepted_one(slow_server: Server) -> None:
    account = new_account(slow_server)
    sim = claimed_sim(account)
    with account.http() as http:
        assert http.post(f"/supersim/v1/Sims/{sim}", data={"Status": "active"}).status_code == 202
    settled(account, sim)
    fleets = [fleet(account) for _ in range(20)]
    responses = asyncio.run(burst(account, f"/supersim/v1/Sims/{sim}", [{"Fleet": f} for f in fleets]))
    assert Counter(r.status_code for r in responses) == {202: 1, 409: 19}, [r.text for r in responses]
    [accepted] = [f for f, r in zip(fleets, responses, strict=True) if r.status_code == 202]
    assert settled(account, sim)["fleet_sid"] == accepted


def test_twenty_concurrent_wireless_status_changes_one_accepted(slow_server: Server) -> None:
    """The Wireless surface shares the conditional write: one 202, the rest refused with 33105 (409 for a request
    that lost the race, 400 for one that found the Sim `updating`), and the Sim ends where the accepted one asked."""
    account = new_account(slow_server)
    [item] = slow_server.admin("provision-sims", "--count", "1", "--product", "wireless", "--account", account.sid)
    sid = item["sid"]
    targets = [random.choice(["suspended", "deactivated"]) for _ in range(20)]
    responses = asyncio.run(burst(account, f"/wireless/v1/Sims/{sid}", [{"Status": t} for t in targets]))
    assert Counter(r.status_code < 300 for r in responses) == {True: 1, False: 19}, [r.text for r in responses]
    assert all(r.json()["code"] == 33105 for r in responses if r.status_code >= 400)
    assert all(r.status_code in (202, 400, 409) for r in responses)
    [accepted] = [target for target, r in zip(targets, responses, strict=True) if r.status_code < 300]
    deadline = time.monotonic() + 4 * SLOW_UPDATE
    with account.http() as http:
        while (status := http.get(f"/wireless/v1/Sims/{sid}").json()["status"]) == "updating":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert status == accepted
