"""Wireless RatePlans through the official SDK: create with every parameter, list, fetch, update, delete, errors."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.store.models import RatePlan
from tests.conftest import Account
from tests.e2e.test_wireless_sims import check, error_of, sim_sids
from tests.support.db import run


def raw_plan(account: Account, key: str) -> dict[str, Any]:
    with account.http() as http:
        response = http.get(f"/wireless/v1/RatePlans/{key}")
    assert response.status_code == 200, response.text
    return check("wireless.v1.rate_plan", response.json())


def stored(account: Account, sid: str) -> RatePlan:
    async def row(session: AsyncSession) -> RatePlan:
        return (await session.execute(select(RatePlan).where(RatePlan.sid == sid))).scalar_one()

    return run(account.server, row)


def test_create_with_every_parameter(account: Account) -> None:
    client = account.client()
    plan = client.wireless.v1.rate_plans.create(
        unique_name="fleet-a",
        friendly_name="Fleet A",
        data_enabled=True,
        data_limit=500,
        data_metering="quota-10",
        messaging_enabled=False,
        voice_enabled=True,
        national_roaming_enabled=False,
        international_roaming=["data", "messaging"],
        national_roaming_data_limit=100,
        international_roaming_data_limit=50,
        data_limit_strategy="throttle",
    )
    assert plan.sid.startswith("WP") and plan.account_sid == account.sid
    assert (plan.unique_name, plan.friendly_name) == ("fleet-a", "Fleet A")
    assert (plan.data_enabled, plan.data_limit, plan.data_metering) == (True, 500, "quota-10")
    assert (plan.messaging_enabled, plan.voice_enabled, plan.national_roaming_enabled) == (False, True, False)
    assert plan.international_roaming == ["data", "messaging"]
    assert (plan.national_roaming_data_limit, plan.international_roaming_data_limit) == (100, 50)
    assert plan.url == f"{account.server.base_url}/wireless/v1/RatePlans/{plan.sid}"
    # The spec's resource has no data_limit_strategy field; the strategy is kept for the AAA.
    assert stored(account, plan.sid).data_limit_strategy == "throttle"
    assert raw_plan(account, "fleet-a")["sid"] == plan.sid


def test_defaults_list_fetch_update_delete(account: Account) -> None:
    client = account.client()
    plain = client.wireless.v1.rate_plans.create()
    body = raw_plan(account, plain.sid)
    assert body["unique_name"] is None and body["data_metering"] == "payg"
    assert (body["data_enabled"], body["messaging_enabled"], body["voice_enabled"]) == (True, True, False)
    assert (body["data_limit"], body["national_roaming_data_limit"], body["international_roaming_data_limit"]) == (
        1000,
        1000,
        1000,
    )
    assert body["national_roaming_enabled"] is True and body["international_roaming"] == []
    assert stored(account, plain.sid).data_limit_strategy == "block"

    others = [client.wireless.v1.rate_plans.create(unique_name=f"plan-{n}") for n in range(4)]
    listed = client.wireless.v1.rate_plans.list(page_size=2)
    assert [p.sid for p in listed] == sorted([plain.sid, *(p.sid for p in others)])
    first = client.wireless.v1.rate_plans.page(page_size=3)
    assert len(list(first)) == 3 and len(list(first.next_page())) == 2

    renamed = client.wireless.v1.rate_plans("plan-0").update(unique_name="renamed", friendly_name="Renamed")
    assert (renamed.unique_name, renamed.friendly_name) == ("renamed", "Renamed")
    assert client.wireless.v1.rate_plans("renamed").fetch().sid == others[0].sid
    # Only the names are updatable (the spec); other parameters are ignored.
    with account.http() as http:
        response = http.post(f"/wireless/v1/RatePlans/{others[1].sid}", data={"DataLimit": "7", "FriendlyName": "x"})
    assert response.status_code == 200 and response.json()["data_limit"] == 1000
    assert response.json()["friendly_name"] == "x"

    assert client.wireless.v1.rate_plans("renamed").delete() is True
    gone = error_of(lambda: client.wireless.v1.rate_plans(others[0].sid).fetch())
    assert gone.status == 404 and gone.code == 20404
    stranger = account.server.admin("create-account")
    other = Account(stranger["account_sid"], stranger["auth_token"], account.server).client()
    assert error_of(lambda: other.wireless.v1.rate_plans(others[1].sid).fetch()).status == 404
    assert other.wireless.v1.rate_plans.list() == []


def test_a_plan_in_use_cannot_be_deleted(account: Account) -> None:
    client = account.client()
    plan = client.wireless.v1.rate_plans.create(unique_name="busy")
    [sid] = sim_sids(account)
    client.wireless.v1.sims(sid).update(rate_plan="busy")
    refused = error_of(lambda: client.wireless.v1.rate_plans("busy").delete())
    assert refused.status == 409 and refused.code == 33201
    assert client.wireless.v1.rate_plans(plan.sid).fetch().sid == plan.sid
    client.wireless.v1.sims(sid).update(rate_plan="")
    assert client.wireless.v1.rate_plans("busy").delete() is True


def test_invalid_values_name_their_parameter(account: Account) -> None:
    client = account.client()
    client.wireless.v1.rate_plans.create(unique_name="taken")
    cases = [
        ({"DataMetering": "quota-7"}, "DataMetering", 33101),
        ({"DataLimit": "2000001"}, "DataLimit", 33101),
        ({"NationalRoamingDataLimit": "-1"}, "NationalRoamingDataLimit", 33101),
        ({"InternationalRoamingDataLimit": "9999999"}, "InternationalRoamingDataLimit", 33101),
        ({"InternationalRoaming": ["data", "fax"]}, "InternationalRoaming", 33101),
        ({"DataLimitStrategy": "slow"}, "DataLimitStrategy", 33101),
        ({"UniqueName": "WP0123456789abcdef0123456789abcdef"}, "UniqueName", 33101),
        ({"DataEnabled": "maybe"}, "DataEnabled", 20001),
        ({"DataLimit": "lots"}, "DataLimit", 20001),
    ]
    with account.http() as http:
        for data, parameter, code in cases:
            response = http.post("/wireless/v1/RatePlans", data=data)
            assert response.status_code == 400, (data, response.text)
            body = response.json()
            assert body["code"] == code and parameter in body["message"], (data, body)
        duplicate = http.post("/wireless/v1/RatePlans", data={"UniqueName": "taken"})
        assert duplicate.status_code == 409 and duplicate.json()["code"] == 33101
        # InternationalRoaming is a repeated parameter; each service is kept once.
        repeated = http.post(
            "/wireless/v1/RatePlans", data={"InternationalRoaming": ["messaging", "data", "messaging", "voice"]}
        )
    assert repeated.status_code == 201 and repeated.json()["international_roaming"] == ["messaging", "data", "voice"]
    assert [p.unique_name for p in client.wireless.v1.rate_plans.list()].count("taken") == 1
