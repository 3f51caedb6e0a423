"""Super SIM UsageRecords through the official SDK and raw HTTP, over usage buckets planted in the server's database.

The network side (AAA accounting) writes the buckets; these tests write them directly, so the read
side is pinned down on its own: sums, time buckets, groups, filters, defaults, paging and errors,
each response checked against the official schema.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import jsonschema_rs
import pytest
from scripts.spec_coverage import SPECS

from cellplane.domain.networks import network_sid
from cellplane.store.models import UsageBucket
from tests.conftest import Account
from tests.support.db import insert
from tests.support.server import Server

SPEC = SPECS / "twilio_supersim_v1.json"  # the copy the package ships (identical to shared/specs/)
FRANCE = network_sid("208", "01")
USA = network_sid("310", "260")
MARCH_1 = datetime(2025, 3, 1, tzinfo=UTC)


def json_schema(node: Any) -> Any:
    """OpenAPI 3.0 to JSON Schema: `nullable: true` becomes a "null" alternative of the type."""
    if isinstance(node, list):
        return [json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: json_schema(value) for key, value in node.items() if key not in ("nullable", "description")}
    if node.get("nullable") and "type" in node:
        converted["type"] = [node["type"], "null"]
    return converted


def list_validator() -> Any:
    spec = json.loads(SPEC.read_text())
    response = spec["paths"]["/v1/UsageRecords"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    record = json_schema(spec["components"]["schemas"]["supersim.v1.usage_record"])
    schema = json_schema(response)
    schema["properties"]["usage_records"]["items"] = {
        **record,
        # Every field present (the wire convention), nothing the spec does not name.
        "required": sorted(record["properties"]),
        "additionalProperties": False,
    }
    schema["required"] = ["usage_records", "meta"]
    return jsonschema_rs.Draft4Validator(schema)


VALIDATOR = list_validator()


def usage(account: Account, **query: str) -> list[dict[str, Any]]:
    """GET /UsageRecords raw, checked against the official schema; the records."""
    with account.http() as http:
        response = http.get("/supersim/v1/UsageRecords", params=query)
    assert response.status_code == 200, response.text
    body = response.json()
    errors = [str(error) for error in VALIDATOR.iter_errors(body)]
    assert not errors, errors
    assert body["meta"]["key"] == "usage_records"
    records: list[dict[str, Any]] = body["usage_records"]
    return records


def error(account: Account, **query: str) -> dict[str, Any]:
    with account.http() as http:
        response = http.get("/supersim/v1/UsageRecords", params=query)
    assert 400 <= response.status_code < 500, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    return body


def bucket(
    account: Account,
    sim: str,
    hour: datetime,
    up: int,
    down: int,
    *,
    fleet: str | None = None,
    network: str = "",
    country: str | None = None,
) -> UsageBucket:
    return UsageBucket(
        account_sid=account.sid,
        sim_sid=sim,
        fleet_sid=fleet,
        network_sid=network,
        iso_country=country,
        hour=hour,
        bytes_up=up,
        bytes_down=down,
    )


def window(**extra: str) -> dict[str, str]:
    return {"StartTime": "2025-03-01T00:00:00Z", "EndTime": "2025-03-03T00:00:00Z", **extra}


@dataclass(frozen=True)
class March:
    account: Account
    a: str
    b: str
    a_iccid: str
    fleet: str


def new_account(server: Server) -> Account:
    created = server.admin("create-account", "--friendly-name", "usage")
    return Account(created["account_sid"], created["auth_token"], server)


@pytest.fixture(scope="module")
def march(server: Server) -> March:
    """One account (per backend, shared by the tests that only read it): two claimed SIMs, A named and
    in a named fleet, and a few hours of their usage on 1-3 March 2025.
    """
    account = new_account(server)
    client = account.client()
    sim_a, sim_b = account.claim(2)
    client.supersim.v1.network_access_profiles.create(unique_name="nap")
    fleet = client.supersim.v1.fleets.create(network_access_profile="nap", unique_name="trackers").sid
    client.supersim.v1.sims(sim_a.sid).update(unique_name="tracker-a")
    a, b = sim_a.sid, sim_b.sid
    # (sim, hours after 1 March 00:00, up, down, fleet, network, country)
    rows = [
        (a, 10, 100, 200, fleet, FRANCE, "FR"),
        (b, 23, 1_000, 2_000, None, USA, "US"),
        (a, 24, 10_000, 20_000, fleet, FRANCE, "FR"),
        (a, 37, 1_000_000, 2_000_000, fleet, USA, "US"),
        (b, 53, 5, 5, None, USA, "US"),  # 3 March: after the window of most tests
    ]
    insert(
        server,
        *[
            bucket(account, sim, MARCH_1 + timedelta(hours=h), up, down, fleet=f, network=net, country=country)
            for sim, h, up, down, f, net, country in rows
        ],
    )
    return March(account, a, b, sim_a.iccid, fleet)


def test_all_sums_the_window_with_every_dimension_null(march: March) -> None:
    account = march.account
    [record] = usage(account, **window())
    assert record["account_sid"] == account.sid
    assert record["period"] == {"start_time": "2025-03-01T00:00:00Z", "end_time": "2025-03-03T00:00:00Z"}
    assert (record["data_upload"], record["data_download"]) == (1_011_100, 2_022_200)
    assert record["data_total"] == 3_033_300
    # 0.10 USD per MB (the spec's example: 300,000 bytes for 0.03), in cents.
    assert record["data_total_billed"] == 0.30 and record["billed_unit"] == "USD"
    assert [record[k] for k in ("sim_sid", "fleet_sid", "network_sid", "iso_country")] == [None] * 4

    # Through the SDK: the same record; Granularity defaults to all.
    [sdk] = account.client().supersim.v1.usage_records.list(
        start_time=datetime(2025, 3, 1, tzinfo=UTC), end_time=datetime(2025, 3, 3, tzinfo=UTC)
    )
    assert sdk.data_total == 3_033_300 and sdk.period["end_time"] == "2025-03-03T00:00:00Z"
    assert round(Decimal(sdk.data_total_billed), 2) == Decimal("0.30")


def test_day_and_hour_buckets_newest_first(march: March) -> None:
    account = march.account
    days = usage(account, **window(Granularity="day"))
    assert [(r["period"]["start_time"], r["period"]["end_time"], r["data_total"]) for r in days] == [
        ("2025-03-02T00:00:00Z", "2025-03-03T00:00:00Z", 3_030_000),
        ("2025-03-01T00:00:00Z", "2025-03-02T00:00:00Z", 3_300),
    ]
    hours = usage(account, **window(Granularity="hour"))
    assert [(r["period"]["start_time"], r["period"]["end_time"], r["data_upload"]) for r in hours] == [
        ("2025-03-02T13:00:00Z", "2025-03-02T14:00:00Z", 1_000_000),
        ("2025-03-02T00:00:00Z", "2025-03-02T01:00:00Z", 10_000),
        ("2025-03-01T23:00:00Z", "2025-03-02T00:00:00Z", 1_000),
        ("2025-03-01T10:00:00Z", "2025-03-01T11:00:00Z", 100),
    ]
    # A window that does not start on a day: days stay whole UTC days; a bucket counts when its hour
    # overlaps the window (10:00-11:00 overlaps a window from 10:30); EndTime is exclusive.
    partial = usage(account, StartTime="2025-03-01T10:30:00Z", EndTime="2025-03-02T00:00:00Z", Granularity="day")
    assert [(r["period"]["start_time"], r["data_total"]) for r in partial] == [("2025-03-01T00:00:00Z", 3_300)]


def test_groups_fill_only_their_dimension(march: March) -> None:
    account, a, b, fleet = march.account, march.a, march.b, march.fleet
    by_sim = usage(account, **window(Group="sim"))
    expected = sorted([(a, 3_030_300), (b, 3_000)])
    assert [(r["sim_sid"], r["data_total"]) for r in by_sim] == expected
    assert all(r["fleet_sid"] is None and r["network_sid"] is None and r["iso_country"] is None for r in by_sim)
    assert all(r["period"]["start_time"] == "2025-03-01T00:00:00Z" for r in by_sim)

    by_fleet = usage(account, **window(Group="fleet"))
    # B was in no fleet: its usage is a group of its own with no fleet_sid.
    assert sorted((r["fleet_sid"] or "", r["data_total"]) for r in by_fleet) == [("", 3_000), (fleet, 3_030_300)]

    by_network_day = usage(account, **window(Group="network", Granularity="day"))
    assert [(r["period"]["start_time"], r["network_sid"], r["data_total"]) for r in by_network_day] == [
        ("2025-03-02T00:00:00Z", *min((FRANCE, 30_000), (USA, 3_000_000))),
        ("2025-03-02T00:00:00Z", *max((FRANCE, 30_000), (USA, 3_000_000))),
        ("2025-03-01T00:00:00Z", *min((FRANCE, 300), (USA, 3_000))),
        ("2025-03-01T00:00:00Z", *max((FRANCE, 300), (USA, 3_000))),
    ]
    assert all(r["sim_sid"] is None for r in by_network_day)

    by_country = usage(account, **window(Group="isoCountry"))
    assert [(r["iso_country"], r["data_total"]) for r in by_country] == [("FR", 30_300), ("US", 3_003_000)]


def test_filters_show_their_dimension(march: March) -> None:
    account, a, fleet = march.account, march.a, march.fleet
    # A Sim by sid, unique name or ICCID: the same record, with sim_sid filled.
    for key in (a, "tracker-a", march.a_iccid):
        [record] = usage(account, **window(Sim=key))
        assert (record["sim_sid"], record["data_total"]) == (a, 3_030_300)
        assert record["fleet_sid"] is None and record["network_sid"] is None

    [in_fleet] = usage(account, **window(Fleet="trackers"))
    assert (in_fleet["fleet_sid"], in_fleet["data_total"]) == (fleet, 3_030_300)
    [on_usa] = usage(account, **window(Network=USA))
    assert (on_usa["network_sid"], on_usa["data_total"]) == (USA, 3_003_000)
    [in_france] = usage(account, **window(IsoCountry="fr"))
    assert (in_france["iso_country"], in_france["data_total"]) == ("FR", 30_300)

    # Filtered by country and grouped by sim (the spec's readDayGroupBySimAndFilterByCountry).
    [only_a] = usage(account, **window(IsoCountry="FR", Group="sim"))
    assert (only_a["sim_sid"], only_a["iso_country"], only_a["data_total"]) == (a, "FR", 30_300)

    # Nothing matches: `all` still answers one record of zeros; a time bucketing answers none.
    [nothing] = usage(account, **window(IsoCountry="DE"))
    assert nothing["data_total"] == 0 and nothing["data_total_billed"] == 0 and nothing["iso_country"] == "DE"
    assert usage(account, **window(IsoCountry="DE", Granularity="day")) == []


def test_usage_is_the_accounts_own(march: March, server: Server) -> None:
    account, other = march.account, new_account(server)
    insert(server, bucket(other, march.a, MARCH_1 + timedelta(hours=10), 7, 7))
    [mine] = usage(account, **window())
    assert mine["data_total"] == 3_033_300
    [theirs] = usage(other, **window())
    assert theirs["data_total"] == 14 and theirs["account_sid"] == other.sid
    # Another account's SIM is not addressable by unique name or ICCID.
    assert error(other, **window(Sim="tracker-a"))["status"] == 404
    assert error(other, **window(Sim=march.a_iccid))["status"] == 404


def test_super_sim_usage_counts_super_sims_only_and_wireless_usage_wireless_sims_only(account: Account) -> None:
    # GIVEN an account with a Super SIM and a Programmable Wireless SIM, both with usage in the same hours
    [super_sim] = account.claim(1)
    [wireless] = account.server.admin(
        "provision-sims", "--count", "1", "--product", "wireless", "--account", account.sid
    )
    at = MARCH_1 + timedelta(hours=10)
    insert(
        account.server,
        bucket(account, super_sim.sid, at, 100, 200, network=FRANCE, country="FR"),
        bucket(account, wireless["sid"], at, 7_000, 9_000, network=FRANCE, country="FR"),
        bucket(account, wireless["sid"], at + timedelta(hours=1), 1, 1, network=USA, country="US"),
    )
    # WHEN each API's account usage is read, whole and in every shape
    [total] = usage(account, **window())
    hourly = usage(account, **window(Granularity="hour"))
    by_sim = usage(account, **window(Group="sim"))
    by_country = usage(account, **window(Group="isoCountry"))
    in_usa = usage(account, **window(Network=USA))
    with account.http() as http:
        answer = http.get("/wireless/v1/UsageRecords", params={"Start": "2025-03-01T00:00:00Z", "End": "2025-03-03"})
    # THEN Super SIM UsageRecords count the Super SIM alone, and Wireless UsageRecords the Wireless SIM alone
    assert (total["data_upload"], total["data_download"], total["data_total"]) == (100, 200, 300)
    assert [(r["period"]["start_time"], r["data_total"]) for r in hourly] == [("2025-03-01T10:00:00Z", 300)]
    assert [(r["sim_sid"], r["data_total"]) for r in by_sim] == [(super_sim.sid, 300)]
    assert [(r["iso_country"], r["data_total"]) for r in by_country] == [("FR", 300)]
    assert [r["data_total"] for r in in_usa] == [0]  # only the Wireless SIM used that network
    assert error(account, **window(Sim=wireless["sid"]))["status"] == 404  # not a Super SIM
    assert answer.status_code == 200, answer.text
    [record] = answer.json()["usage_records"]
    assert (record["data"]["upload"], record["data"]["download"], record["data"]["total"]) == (7_001, 9_001, 16_002)


def test_default_window_is_the_month_before_now(account: Account) -> None:
    [sim] = account.claim(1)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    insert(
        account.server,
        bucket(account, sim.sid, now - timedelta(hours=2), 10, 20),
        bucket(account, sim.sid, now - timedelta(days=40), 1_000, 1_000),
    )
    [record] = usage(account)
    assert record["data_total"] == 30
    start = datetime.fromisoformat(record["period"]["start_time"])
    end = datetime.fromisoformat(record["period"]["end_time"])
    assert abs((end - datetime.now(UTC)).total_seconds()) < 60
    assert timedelta(days=28) <= end - start <= timedelta(days=31)
    # EndTime alone: StartTime is one month before it.
    [older] = usage(account, EndTime=(now - timedelta(days=35)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert older["data_total"] == 2_000


def test_paging_through_grouped_hours(account: Account) -> None:
    sims = sorted(s.sid for s in account.claim(3))
    hours = [MARCH_1 + timedelta(hours=h) for h in (1, 2, 5)]
    insert(account.server, *[bucket(account, sim, hour, 1, n) for n, sim in enumerate(sims) for hour in hours])
    everything = usage(account, **window(Group="sim", Granularity="hour", PageSize="1000"))
    assert [(r["period"]["start_time"], r["sim_sid"]) for r in everything] == [
        (hour.strftime("%Y-%m-%dT%H:%M:%SZ"), sim) for hour in reversed(hours) for sim in sims
    ]
    # The SDK follows next_page_url from page to page and reads the same nine records.
    paged = account.client().supersim.v1.usage_records.list(
        group="sim",
        granularity="hour",
        start_time=datetime(2025, 3, 1, tzinfo=UTC),
        end_time=datetime(2025, 3, 3, tzinfo=UTC),
        page_size=2,
    )
    assert [(r.period["start_time"], r.sim_sid) for r in paged] == [
        (r["period"]["start_time"], r["sim_sid"]) for r in everything
    ]
    # Forward then back: previous_page_url returns exactly the first page.
    with account.http() as http:
        first = http.get(
            "/supersim/v1/UsageRecords", params=window(Group="sim", Granularity="hour", PageSize="4")
        ).json()
        second = http.get(first["meta"]["next_page_url"]).json()
        back = http.get(second["meta"]["previous_page_url"]).json()
    assert second["usage_records"] == everything[4:8]
    assert back["usage_records"] == first["usage_records"] == everything[:4]
    # A token of another list's shape is refused, not misread.
    token = second["meta"]["url"].split("PageToken=")[1]
    assert error(account, **window(Granularity="day", PageToken=token))["code"] == 21481
    assert error(account, **window(PageToken="PAbm9wZQ"))["code"] == 21481


@pytest.mark.parametrize(
    ("query", "code", "parameter"),
    [
        ({"Granularity": "week"}, 20001, "Granularity"),
        ({"Group": "imsi"}, 20001, "Group"),
        ({"Network": "310-260"}, 20001, "Network"),
        ({"IsoCountry": "FRA"}, 20001, "IsoCountry"),
        ({"StartTime": "yesterday"}, 20001, "StartTime"),
        ({"EndTime": "2025-13-01T00:00:00Z"}, 20001, "EndTime"),
        ({"StartTime": "2025-03-02T00:00:00Z", "EndTime": "2025-03-01T00:00:00Z"}, 20001, "StartTime"),
        (
            {"StartTime": "2025-01-01T00:00:00Z", "EndTime": "2025-02-02T00:00:01Z", "Granularity": "hour"},
            83604,
            "31 days",
        ),
        (
            {"StartTime": "2024-12-01T00:00:00Z", "EndTime": "2025-03-01T00:00:01Z", "Granularity": "day"},
            83604,
            "3 months",
        ),
        ({"StartTime": "2023-01-01T00:00:00Z", "EndTime": "2025-01-01T00:00:00Z"}, 83604, "18 months"),
        ({"StartTime": "2025-01-01T00:00:00Z", "EndTime": "2025-02-15T00:00:00Z", "Group": "sim"}, 83603, "31 days"),
        ({"Sim": "no-such-sim"}, 20404, "no-such-sim"),
        ({"Fleet": "no-such-fleet"}, 20404, "no-such-fleet"),
    ],
)
def test_bad_queries_are_named(march: March, query: dict[str, str], code: int, parameter: str) -> None:
    body = error(march.account, **query)
    assert body["code"] == code and parameter in body["message"], body


def test_longest_allowed_windows_answer(march: March) -> None:
    """The limits are inclusive: exactly 31 days by hour or by sim, 3 months by day, 18 months in all."""
    account = march.account
    assert usage(account, StartTime="2025-01-01T00:00:00Z", EndTime="2025-02-01T00:00:00Z", Granularity="hour") == []
    assert usage(account, StartTime="2025-01-01T00:00:00Z", EndTime="2025-02-01T00:00:00Z", Group="sim") == []
    assert usage(account, StartTime="2024-12-01T00:00:00Z", EndTime="2025-03-01T00:00:00Z", Granularity="day") == []
    [zero] = usage(account, StartTime="2023-07-01T00:00:00Z", EndTime="2025-01-01T00:00:00Z")
    assert zero["data_total"] == 0
