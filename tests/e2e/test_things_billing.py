"""Billing reports on the real server: usage made through the emulator (GTP into the gateway, RADIUS accounting into
the AAA), SMS sent through /things/v1, states changed through the API; the report gives the charges to the cent.

A month cannot pass in a test, so, as the billing-period tests do, the state history the server recorded is moved
back in its own database (the state a long-running install would have) before the cycles are asked for.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.billing import add_months
from cellplane.store.models import ThingStateChange
from tests.conftest import Account
from tests.e2e.test_things_api import assert_refused, http, things_of
from tests.e2e.test_things_network import NL, change_state
from tests.support import db
from tests.support.network import EMULATOR, Devices, eventually, network_server, subscriber
from tests.support.server import Server, free_port, server_env

__all__ = ["network_server", "subscriber"]  # fixtures, imported for pytest

PLAN = {"currency": "EUR", "monthlyFee": "2.50", "perMb": "0.015", "perSms": "0.03"}


def shift_history(server: Server, sid: str, back: timedelta) -> None:
    """Move every recorded state change of Thing `sid` `back` in time."""

    async def work(session: AsyncSession) -> None:
        changes = await session.execute(select(ThingStateChange).where(ThingStateChange.sim_sid == sid))
        for change in changes.scalars():
            change.at = change.at - back

    db.run(server, work)


def report(client: httpx.Client, cycle: str, **params: str) -> dict[str, Any]:
    response = client.get("/billingReports", params={"cycle": cycle, **params})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def csv_rows(client: httpx.Client, cycle: str, **params: str) -> list[dict[str, str]]:
    response = client.get("/billingReports", params={"cycle": cycle, **params}, headers={"Accept": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def by_id(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {line["id"]: line for line in body["lines"]}


def assert_consistent(client: httpx.Client, cycle: str, body: dict[str, Any], **params: str) -> None:
    """The lines add up to the total exactly, and the CSV says what the JSON says."""
    assert sum((Decimal(line["total"]) for line in body["lines"]), Decimal("0.00")) == Decimal(body["total"])
    for line in body["lines"]:
        assert Decimal(line["charges"]) + Decimal(line["monthlyFees"]) == Decimal(line["total"])
    rows = csv_rows(client, cycle, **params)
    assert rows[-1]["id"] == "TOTAL" and rows[-1]["total"] == body["total"]
    assert [{k: row[k] for k in ("id", "dataMb", "sms", "monthlyFees", "charges", "total")} for row in rows[:-1]] == [
        {k: str(line[k]) for k in ("id", "dataMb", "sms", "monthlyFees", "charges", "total")} for line in body["lines"]
    ]


def test_a_cycle_of_usage_sms_and_states_is_charged_to_the_cent(subscriber: Account) -> None:
    server = subscriber.server
    used, suspended, provisioned, steady = things_of(subscriber, 4)
    devices = Devices(subscriber)
    now = datetime.now(UTC)
    this_cycle = f"{now.year:04d}-{now.month:02d}"
    previous = add_months(now, -1)
    last_cycle = f"{previous.year:04d}-{previous.month:02d}"
    try:
        with http(subscriber) as client:
            default_plan = client.get("/pricePlan").json()
            assert default_plan["default"] is True and default_plan["perMb"] == "0.10"
            put = client.put("/pricePlan", json=PLAN)
            assert put.status_code == 200, put.text
            assert {k: put.json()[k] for k in PLAN} == PLAN and put.json()["default"] is False
            assert {k: client.get("/pricePlan").json()[k] for k in PLAN} == PLAN

            # `used` is activated now (mid-cycle) and makes 3 MB of data and 3 SMS.
            change_state(client, used["sid"], "ACTIVE")
            devices.attach(used["iccid"], NL)
            made = devices.traffic(used["iccid"], up=1_000_000, down=2_000_000)
            assert (made["upload_bytes"], made["download_bytes"]) == (1_000_000, 2_000_000)
            for text in ("one", "two"):
                assert client.post(f"/things/{used['sid']}/sms", json={"text": text}).status_code == 201
            device_sms = f"{EMULATOR}/Devices/{used['iccid']}/Sms"
            assert devices.http.post(device_sms, data={"Body": "back"}).json()["status"] == "accepted"
            eventually(lambda: len(client.get(f"/things/{used['sid']}/sms").json()["items"]), lambda n: n == 3)

            # `suspended` was activated and suspended last cycle: suspended for the whole of this one.
            change_state(client, suspended["sid"], "ACTIVE")
            change_state(client, suspended["sid"], "SUSPENDED")
            shift_history(server, suspended["sid"], timedelta(days=32))
            # `steady` was activated last cycle and stays ACTIVE; `provisioned` never leaves PROVISIONED.
            change_state(client, steady["sid"], "ACTIVE")
            shift_history(server, steady["sid"], timedelta(days=32))

            def dec_report() -> dict[str, Any]:
                return report(client, this_cycle)

            body = eventually(dec_report, lambda b: by_id(b)[used["sid"]]["sms"] == 3)
            lines = by_id(body)
            assert body["cycle"] == this_cycle and body["scope"] == "account" and body["id"] == subscriber.sid
            assert body["currency"] == "EUR" and set(lines) == {
                t["sid"] for t in (used, suspended, provisioned, steady)
            }
            # 3 MB × 0.015 = 0.045 → 0.05 (half up, per line); 3 SMS × 0.03 = 0.09; activated mid-cycle: the full fee.
            assert lines[used["sid"]] == {
                "id": used["sid"],
                "dataMb": "3",
                "sms": 3,
                "dataCharge": "0.05",
                "smsCharge": "0.09",
                "charges": "0.14",
                "monthlyFeeCount": 1,
                "monthlyFees": "2.50",
                "total": "2.64",
            }
            assert (lines[suspended["sid"]]["monthlyFees"], lines[suspended["sid"]]["total"]) == ("0.00", "0.00")
            assert (lines[provisioned["sid"]]["monthlyFees"], lines[provisioned["sid"]]["total"]) == ("0.00", "0.00")
            assert (lines[steady["sid"]]["monthlyFees"], lines[steady["sid"]]["total"]) == ("2.50", "2.50")
            assert body["total"] == "5.14"
            assert_consistent(client, this_cycle, body)

            # Last cycle: `suspended` was ACTIVE for a while (pays), `steady` was activated in it (pays); no usage.
            before = report(client, last_cycle)
            fees = {line["id"]: line["monthlyFees"] for line in before["lines"]}
            assert fees == {
                used["sid"]: "0.00",
                suspended["sid"]: "2.50",
                provisioned["sid"]: "0.00",
                steady["sid"]: "2.50",
            }
            assert before["total"] == "5.00"
            assert_consistent(client, last_cycle, before)

            # One Thing, and a Things Group (the default one holds all four).
            one = report(client, this_cycle, scope="thing", id=used["iccid"])
            assert [line["id"] for line in one["lines"]] == [used["sid"]] and one["total"] == "2.64"
            assert_consistent(client, this_cycle, one, scope="thing", id=used["sid"])
            group = client.get("/thingsGroups").json()["items"][0]["id"]
            grouped = report(client, this_cycle, scope="thingsGroup", id=group)
            assert grouped["lines"] == body["lines"] and grouped["total"] == "5.14"

            # A retired Thing pays nothing afterwards: retired last cycle, nothing this one.
            change_state(client, steady["sid"], "RETIRED")
            shift_history(server, steady["sid"], timedelta(days=32))
            assert by_id(report(client, this_cycle))[steady["sid"]]["monthlyFees"] == "0.00"
    finally:
        devices.reset()


def test_bad_cycle_scope_id_and_plans_are_400s_naming_the_parameter(subscriber: Account) -> None:
    other = subscriber.server.admin("create-account", "--friendly-name", "other")
    [foreign] = things_of(Account(other["account_sid"], other["auth_token"], subscriber.server), 1)
    with http(subscriber) as client:
        for params, field in (
            ({}, "cycle"),
            ({"cycle": "2026-13"}, "cycle"),
            ({"cycle": "2026/11"}, "cycle"),
            ({"cycle": "2026-11", "scope": "fleet"}, "scope"),
            ({"cycle": "2026-11", "scope": "thing"}, "id"),
            ({"cycle": "2026-11", "scope": "thing", "id": foreign["sid"]}, "id"),  # another account's Thing
            ({"cycle": "2026-11", "scope": "thingsGroup", "id": "TG" + "0" * 32}, "id"),
            ({"cycle": "2026-11", "scope": "account", "id": other["account_sid"]}, "id"),
        ):
            assert_refused(client.get("/billingReports", params=params), field)
        before = client.get("/pricePlan").json()
        for change, field in (
            ({**PLAN, "perMb": 0.015}, "perMb"),
            ({**PLAN, "perSms": "-1"}, "perSms"),
            ({**PLAN, "monthlyFee": "1.0000001"}, "monthlyFee"),
            ({**PLAN, "currency": "XXX"}, "currency"),
            ({k: v for k, v in PLAN.items() if k != "perSms"}, "perSms"),
            ({**PLAN, "discount": "5"}, "discount"),
        ):
            assert_refused(client.put("/pricePlan", json=change), field)
        assert client.get("/pricePlan").json() == before


@pytest.fixture
def small_reports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose reports of more than 3 lines are downloads."""
    data_dir = tmp_path_factory.mktemp("billing-downloads")
    env = server_env(data_dir, None, CELLPLANE_BILLING_REPORT_INLINE_LINES="3")
    server = Server(backend="sqlite", data_dir=data_dir, port=free_port(), env=env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_large_report_is_a_302_to_its_account_scoped_download(small_reports: Server) -> None:
    created = small_reports.admin("create-account", "--friendly-name", "big")
    account = Account(created["account_sid"], created["auth_token"], small_reports)
    stranger = small_reports.admin("create-account", "--friendly-name", "stranger")
    things_of(account, 5)
    with http(account) as client:
        cycle = datetime.now(UTC).strftime("%Y-%m")
        moved = client.get("/billingReports", params={"cycle": cycle})
        assert moved.status_code == 302, moved.text
        location = moved.headers["location"]
        assert location.startswith("/things/v1/billingReports/downloads/RD")
        fetched = client.get(small_reports.base_url + location)
        assert fetched.status_code == 200 and fetched.headers["content-type"].startswith("application/json")
        body = fetched.json()
        assert len(body["lines"]) == 5 and body["total"] == "0.00"
        as_csv = client.get("/billingReports", params={"cycle": cycle}, headers={"Accept": "text/csv"})
        assert as_csv.status_code == 302
        rows = list(csv.DictReader(io.StringIO(client.get(small_reports.base_url + as_csv.headers["location"]).text)))
        assert [row["id"] for row in rows] == [line["id"] for line in body["lines"]] + ["TOTAL"]
        # Small enough: inline.
        one = client.get("/billingReports", params={"cycle": cycle, "scope": "thing", "id": body["lines"][0]["id"]})
        assert one.status_code == 200 and len(one.json()["lines"]) == 1
    # The download is the account's own.
    foreign = httpx.get(small_reports.base_url + location, auth=(stranger["account_sid"], stranger["auth_token"]))
    assert foreign.status_code == 404 and foreign.json()["name"] == "NotFound"
