"""A Wireless SIM's rate plan as the attach rules apply it (domain/policy.py): GIVEN a snapshot with a rate plan and
a visited network in one zone (home 310-260, national US, international), WHEN deciding, THEN the plan's flags and
its DataLimitStrategy name the outcome."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from cellplane.domain.policy import RejectCode, SimPolicy, ZoneUsage, check_session, data_limit_bytes, decide_attach
from cellplane.domain.wireless import HOME as HOME_ZONE
from cellplane.domain.wireless import INTERNATIONAL_ROAMING, NATIONAL_ROAMING

NOW = datetime(2025, 6, 15, 12, tzinfo=UTC)
HOME, NATIONAL, ABROAD = ("310", "260"), ("310", "410"), ("234", "15")
LIMIT = data_limit_bytes(10)
WIRELESS = SimPolicy(
    imsi="310260000000001",
    sim_sid="DE" + "1" * 32,
    iccid="89883070000000000011",
    account_sid="AC" + "0" * 32,
    product="wireless",
    status="active",
    data_enabled=True,
    data_limit_bytes=LIMIT,
    period_sid="HB" + "3" * 32,
    period_start=NOW - timedelta(days=10),
    period_end=NOW + timedelta(days=20),
    rate_plan_sid="WP" + "2" * 32,
    national_roaming_enabled=True,
    international_data=False,
    national_limit_bytes=LIMIT,
    international_limit_bytes=LIMIT,
)


def used(policy: SimPolicy, **octets: int) -> SimPolicy:
    """The snapshot with this much usage per zone (home=, national_roaming=, international_roaming=) in its period."""
    return replace(policy, zone_usage=ZoneUsage(policy.period_sid, octets))


def decide(policy: SimPolicy, plmn: tuple[str, str]) -> tuple[bool, RejectCode | None, str | None]:
    decision = decide_attach(policy, *plmn, NOW, recent_attaches=1)
    return decision.accepted, decision.code, decision.reason


def test_the_home_network_and_national_roaming_are_allowed_but_not_abroad_without_data_roaming() -> None:
    assert decide(WIRELESS, HOME)[:2] == (True, None)
    assert decide(WIRELESS, NATIONAL)[:2] == (True, None)
    accepted, code, reason = decide(WIRELESS, ABROAD)
    assert (accepted, code) == (False, RejectCode.NETWORK_NOT_ALLOWED)
    assert reason == "International roaming for data is not enabled by the SIM's Rate Plan"
    reply = decide_attach(WIRELESS, *ABROAD, NOW).reply_message
    assert reply == f"83706 {reason}"


def test_each_zone_follows_its_flag() -> None:
    no_national = replace(WIRELESS, national_roaming_enabled=False)
    assert decide(no_national, HOME)[:2] == (True, None)  # the home network needs no roaming flag
    assert decide(no_national, NATIONAL)[1:] == (
        RejectCode.NETWORK_NOT_ALLOWED,
        "National roaming is not enabled by the SIM's Rate Plan",
    )
    assert decide(replace(WIRELESS, international_data=True), ABROAD)[:2] == (True, None)
    assert decide(WIRELESS, ("999", "99"))[1] == RejectCode.NETWORK_NOT_ALLOWED  # not a network at all


@pytest.mark.parametrize(
    ("change", "code", "reason"),
    [
        ({"status": "inactive"}, RejectCode.SIM_INACTIVE, "The SIM is not active"),
        ({"status": "new"}, RejectCode.SIM_INACTIVE, "The SIM is not active"),
        ({"rate_plan_sid": None}, RejectCode.NO_FLEET, "The SIM has no Rate Plan"),
        ({"data_enabled": False}, RejectCode.DATA_DISABLED, "Data is disabled by the SIM's Rate Plan"),
    ],
)
def test_status_rate_plan_and_data_enabled_come_first(change: dict[str, object], code: RejectCode, reason: str) -> None:
    assert decide(replace(WIRELESS, **change), HOME) == (False, code, reason)  # type: ignore[arg-type]


def test_block_refuses_at_the_limit_and_throttle_keeps_data_on() -> None:
    below, at = used(WIRELESS, home=LIMIT - 1), used(WIRELESS, home=LIMIT)
    assert decide(below, HOME)[:2] == (True, None)
    assert decide(at, HOME)[:2] == (False, RejectCode.DATA_LIMIT_REACHED)
    assert decide(at, HOME)[2] == "The Rate Plan's data limit for this billing period is reached"
    throttled = decide_attach(replace(at, throttle_at_limit=True), *HOME, NOW)
    assert throttled.accepted and throttled.throttled and throttled.code is None
    assert not decide_attach(below, *HOME, NOW).throttled
    # A live session: block ends it, throttle keeps it; a past period's usage does not count.
    assert check_session(at, None, NOW, network_known=False).code == RejectCode.DATA_LIMIT_REACHED
    assert check_session(replace(at, throttle_at_limit=True), None, NOW, network_known=False).accepted
    assert decide(replace(at, period_end=NOW), HOME)[:2] == (True, None)
    # Usage counted for another period (the one loaded before a rollover) does not count either.
    assert decide(replace(at, zone_usage=ZoneUsage("HB" + "9" * 32, {HOME_ZONE: LIMIT})), HOME)[:2] == (True, None)


def test_each_zone_has_its_own_limit_and_its_own_usage() -> None:
    """RatePlan: DataLimit is the home network's, NationalRoamingDataLimit other US networks', and
    InternationalRoamingDataLimit abroad's; a zone at its limit leaves the others usable."""
    roamer = replace(WIRELESS, international_data=True, national_limit_bytes=data_limit_bytes(2))
    national_full = used(roamer, national_roaming=data_limit_bytes(2))
    assert decide(national_full, HOME)[:2] == (True, None)
    assert decide(national_full, ABROAD)[:2] == (True, None)
    assert decide(national_full, NATIONAL) == (
        False,
        RejectCode.DATA_LIMIT_REACHED,
        "The Rate Plan's national roaming data limit for this billing period is reached",
    )
    abroad_full = used(roamer, international_roaming=LIMIT, home=LIMIT - 1)
    assert decide(abroad_full, ABROAD)[2] == (
        "The Rate Plan's international roaming data limit for this billing period is reached"
    )
    assert decide(abroad_full, HOME)[:2] == (True, None)
    assert decide(abroad_full, NATIONAL)[:2] == (True, None)
    # A limit of 0 MB in a zone: that zone carries no data at all (the flag alone would allow it).
    assert decide(replace(roamer, national_limit_bytes=0), NATIONAL)[1] == RejectCode.DATA_LIMIT_REACHED
    # throttle at a zone's limit keeps the session, throttled.
    assert decide_attach(replace(national_full, throttle_at_limit=True), *NATIONAL, NOW).throttled


def test_zone_usage_merges_by_the_larger_count_of_the_same_period() -> None:
    mine = ZoneUsage("HB1", {HOME_ZONE: 10, NATIONAL_ROAMING: 5})
    mine.merge(ZoneUsage("HB1", {HOME_ZONE: 7, NATIONAL_ROAMING: 9, INTERNATIONAL_ROAMING: 1}))
    assert mine.used == {HOME_ZONE: 10, NATIONAL_ROAMING: 9, INTERNATIONAL_ROAMING: 1}
    mine.merge(ZoneUsage("HB2", {HOME_ZONE: 100}))  # another period: nothing of it applies
    assert mine.get(HOME_ZONE) == 10


def test_a_data_limit_applies_with_a_rate_plan_only() -> None:
    assert WIRELESS.has_data_limit and not replace(WIRELESS, rate_plan_sid=None).has_data_limit
    supersim = replace(WIRELESS, product="supersim", rate_plan_sid=None, fleet_sid="HF" + "2" * 32)
    assert supersim.has_data_limit and not supersim.wireless
