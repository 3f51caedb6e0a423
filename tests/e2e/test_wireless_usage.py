"""Wireless DataSessions and UsageRecords (SIM and account) over rows planted in the server's database.

The AAA writes data sessions and usage buckets; these tests write them directly so the read side is
pinned down on its own: fields, zones (home / national / international), Commands counts,
granularities, windows, paging and errors, each response checked against the official schema.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from twilio.base.exceptions import TwilioException

from cellplane.domain.networks import network_sid
from cellplane.domain.wireless import HOME_NETWORK_SID
from cellplane.store.models import DataSession, UsageBucket
from tests.conftest import Account
from tests.e2e.test_wireless_sims import check, sim_sids
from tests.support.db import insert

ATT = network_sid("310", "410")  # another US network: national roaming
FRANCE = network_sid("208", "01")
MARCH_1 = datetime(2025, 3, 1, tzinfo=UTC)
WINDOW = {"Start": "2025-03-01T00:00:00Z", "End": "2025-03-03T00:00:00Z"}


def bucket(account: Account, sim: str, hour: datetime, network: str, country: str | None, **counts: int) -> UsageBucket:
    return UsageBucket(
        account_sid=account.sid,
        sim_sid=sim,
        network_sid=network,
        iso_country=country,
        hour=hour,
        bytes_up=counts.get("up", 0),
        bytes_down=counts.get("down", 0),
        sms_to_sim=counts.get("sms_to", 0),
        sms_from_sim=counts.get("sms_from", 0),
        ip_to_sim=counts.get("ip_to", 0),
        ip_from_sim=counts.get("ip_from", 0),
    )


def records(account: Account, path: str, schema: str, **query: str) -> list[dict[str, Any]]:
    with account.http() as http:
        response = http.get(f"/wireless/v1{path}", params=query)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["meta"]["key"] == "usage_records"
    return [check(schema, record) for record in body["usage_records"]]


def test_data_sessions(account: Account) -> None:
    client = account.client()
    sid, other_sid = sim_sids(account, 2)
    started = datetime(2025, 3, 1, 10, tzinfo=UTC)

    def data_session(n: int, sim: str, owner: str, **fields: Any) -> DataSession:
        return DataSession(
            sid=f"WN{sim[2:26]}{n:08x}",
            account_sid=owner,
            sim_sid=sim,
            imsi="310260000000042",
            nas_id="gw-1",
            acct_session_id=f"{sim}-{n}",
            start=started + timedelta(hours=n),
            last_updated=started + timedelta(hours=n, minutes=30),
            **fields,
        )

    insert(
        account.server,
        data_session(
            1,
            sid,
            account.sid,
            status="closed",
            mcc="310",
            mnc="260",
            iso_country="US",
            operator_name="T-Mobile",
            radio_link="LTE",
            cell_id="0x1a2b",
            imei="356938035643809",
            packets_up=12,
            packets_down=34,
            end=started + timedelta(hours=1, minutes=30),
        ),
        data_session(2, sid, account.sid, status="open", mcc="208", mnc="01", iso_country="FR", radio_link="4G"),
        data_session(3, sid, "AC" + "0" * 32, status="closed"),  # a previous owner's session
        data_session(4, other_sid, account.sid, status="open"),
    )
    with account.http() as http:
        response = http.get(f"/wireless/v1/Sims/{sid}/DataSessions")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["meta"]["key"] == "data_sessions"
    newest, oldest = (check("wireless.v1.sim.data_session", item) for item in body["data_sessions"])
    assert newest["operator_country"] == "FRA" and newest["end"] is None and newest["radio_link"] == "4G"
    assert oldest == {
        "sid": f"WN{sid[2:26]}{1:08x}",
        "sim_sid": sid,
        "account_sid": account.sid,
        "radio_link": "LTE",
        "operator_mcc": "310",
        "operator_mnc": "260",
        "operator_country": "USA",
        "operator_name": "T-Mobile",
        "cell_id": "0x1a2b",
        "cell_location_estimate": None,
        "packets_uploaded": 12,
        "packets_downloaded": 34,
        "last_updated": "2025-03-01T11:30:00Z",
        "start": "2025-03-01T11:00:00Z",
        "end": "2025-03-01T11:30:00Z",
        "imei": "356938035643809",
    }
    paged = client.wireless.v1.sims(sid).data_sessions.list(page_size=1)
    assert [s.sid for s in paged] == [newest["sid"], oldest["sid"]]
    with account.http() as http:
        unknown = http.get(f"/wireless/v1/Sims/DE{'f' * 32}/DataSessions")
    assert unknown.status_code == 404 and unknown.json()["code"] == 20404


@pytest.fixture
def usage(account: Account) -> tuple[str, str]:
    """Two Wireless SIMs with usage on 1-2 March 2025 on home, national and international networks."""
    a, b = sim_sids(account, 2)
    [super_sim] = account.claim(1)
    at = MARCH_1
    insert(
        account.server,
        bucket(account, a, at + timedelta(hours=10), HOME_NETWORK_SID, "US", up=100, down=200, sms_to=2, sms_from=1),
        bucket(account, a, at + timedelta(hours=11), ATT, "US", up=10, down=20, ip_to=1),
        bucket(account, a, at + timedelta(hours=29), FRANCE, "FR", up=1_000_000, down=2_000_000, sms_from=3),
        bucket(account, b, at + timedelta(hours=10), HOME_NETWORK_SID, "US", up=5, down=5),
        # A Super SIM's usage is not Wireless usage.
        bucket(account, super_sim.sid, at + timedelta(hours=10), HOME_NETWORK_SID, "US", up=777, down=777),
    )
    return a, b


def test_sim_usage_is_split_by_zone(account: Account, usage: tuple[str, str]) -> None:
    a, _ = usage
    [record] = records(account, f"/Sims/{a}/UsageRecords", "wireless.v1.sim.usage_record", **WINDOW)
    assert record["sim_sid"] == a and record["account_sid"] == account.sid
    assert record["period"] == {"start": "2025-03-01T00:00:00Z", "end": "2025-03-03T00:00:00Z"}
    data = record["data"]
    assert (data["upload"], data["download"], data["total"], data["units"]) == (
        1_000_110,
        2_000_220,
        3_000_330,
        "bytes",
    )
    assert data["billed"] == 0.3 and data["billing_units"] == "USD"
    assert (data["home"]["upload"], data["home"]["download"]) == (100, 200)
    assert (data["national_roaming"]["upload"], data["national_roaming"]["download"]) == (10, 20)
    assert data["international_roaming"] == [
        {
            "iso_country": "FR",
            "billing_units": "USD",
            "billed": 0.3,
            "total": 3_000_000,
            "upload": 1_000_000,
            "download": 2_000_000,
            "units": "bytes",
        }
    ]
    commands = record["commands"]
    assert (commands["to_sim"], commands["from_sim"], commands["total"], commands["billed"]) == (3, 4, 7, 0)
    assert (commands["home"]["to_sim"], commands["home"]["from_sim"]) == (2, 1)
    assert (commands["national_roaming"]["to_sim"], commands["national_roaming"]["from_sim"]) == (1, 0)
    assert [(c["iso_country"], c["from_sim"]) for c in commands["international_roaming"]] == [("FR", 3)]

    daily = records(account, f"/Sims/{a}/UsageRecords", "wireless.v1.sim.usage_record", Granularity="daily", **WINDOW)
    assert [(r["period"]["start"], r["data"]["total"]) for r in daily] == [
        ("2025-03-02T00:00:00Z", 3_000_000),
        ("2025-03-01T00:00:00Z", 330),
    ]
    assert daily[0]["period"]["end"] == "2025-03-03T00:00:00Z"
    hourly = records(account, f"/Sims/{a}/UsageRecords", "wireless.v1.sim.usage_record", Granularity="hourly", **WINDOW)
    assert [(r["period"]["start"], r["commands"]["total"]) for r in hourly] == [
        ("2025-03-02T05:00:00Z", 3),
        ("2025-03-01T11:00:00Z", 1),
        ("2025-03-01T10:00:00Z", 3),
    ]
    narrow = records(
        account,
        f"/Sims/{a}/UsageRecords",
        "wireless.v1.sim.usage_record",
        Start="2025-03-01T11:00:00Z",
        End="2025-03-02T00:00:00Z",
    )
    assert narrow[0]["data"]["total"] == 30 and narrow[0]["data"]["home"]["total"] == 0


def test_account_usage_and_sdk_paging(account: Account, usage: tuple[str, str]) -> None:
    client = account.client()
    [record] = records(account, "/UsageRecords", "wireless.v1.account_usage_record", **WINDOW)
    assert record["data"]["home"]["upload"] == 105 and record["data"]["total"] == 3_000_340
    start, end = MARCH_1, MARCH_1 + timedelta(days=2)
    daily = client.wireless.v1.usage_records.list(start=start, end=end, granularity="daily", page_size=1)
    assert [r.period["start"] for r in daily] == ["2025-03-02T00:00:00Z", "2025-03-01T00:00:00Z"]
    assert [r.data["total"] for r in daily] == [3_000_000, 340]
    sim_records = client.wireless.v1.sims(usage[1]).usage_records.list(start=start, end=end, granularity="hourly")
    assert [(r.sim_sid, r.data["total"]) for r in sim_records] == [(usage[1], 10)]
    # The default window is the month before now: March 2025 is outside it, so one empty record.
    [recent] = client.wireless.v1.usage_records.list()
    assert recent.data["total"] == 0 and recent.commands["total"] == 0


def test_usage_errors(account: Account, usage: tuple[str, str]) -> None:
    client = account.client()
    with account.http() as http:
        for query, parameter, code in (
            ({"Granularity": "weekly"}, "Granularity", 20001),
            ({"Start": "2025-03-03T00:00:00Z", "End": "2025-03-01T00:00:00Z"}, "Start", 33101),
            ({"Start": "2020-01-01T00:00:00Z", "End": "2025-03-01T00:00:00Z"}, "Start", 33101),
            ({"End": "yesterday"}, "End", 20001),
            ({"PageToken": "PAnonsense"}, "PageToken", 21481),
        ):
            response = http.get("/wireless/v1/UsageRecords", params=query)
            assert response.status_code == 400, (query, response.text)
            assert response.json()["code"] == code and parameter in response.json()["message"], response.json()
    stranger = account.server.admin("create-account")
    other = Account(stranger["account_sid"], stranger["auth_token"], account.server).client()
    with pytest.raises(TwilioException, match="404"):
        other.wireless.v1.sims(usage[0]).usage_records.list()
    [empty] = other.wireless.v1.usage_records.list(start=MARCH_1, end=MARCH_1 + timedelta(days=2))
    assert empty.data["total"] == 0
    assert client.wireless.v1.sims(usage[0]).fetch().sid == usage[0]
