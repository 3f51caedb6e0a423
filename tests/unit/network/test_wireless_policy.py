"""A Wireless SIM's rate plan as the attach rules apply it (domain/policy.py): GIVEN a snapshot with a rate plan and
a visited network in one zone (home 310-260, national US, international), WHEN deciding, THEN the plan's flags and
its DataLimitStrategy name the outcome."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from cellplane.domain.policy import RejectCode, SimPolicy, check_session, data_limit_bytes, decide_attach

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
)


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
    below, at = replace(WIRELESS, period_data_used=LIMIT - 1), replace(WIRELESS, period_data_used=LIMIT)
    assert decide(below, HOME)[:2] == (True, None)
    assert decide(at, HOME)[:2] == (False, RejectCode.DATA_LIMIT_REACHED)
    assert "Rate Plan" in (decide(at, HOME)[2] or "")
    throttled = decide_attach(replace(at, throttle_at_limit=True), *HOME, NOW)
    assert throttled.accepted and throttled.throttled and throttled.code is None
    assert not decide_attach(below, *HOME, NOW).throttled
    # A live session: block ends it, throttle keeps it; a past period's usage does not count.
    assert check_session(at, None, NOW, network_known=False).code == RejectCode.DATA_LIMIT_REACHED
    assert check_session(replace(at, throttle_at_limit=True), None, NOW, network_known=False).accepted
    assert decide(replace(at, period_end=NOW), HOME)[:2] == (True, None)


def test_a_data_limit_applies_with_a_rate_plan_only() -> None:
    assert WIRELESS.has_data_limit and not replace(WIRELESS, rate_plan_sid=None).has_data_limit
    supersim = replace(WIRELESS, product="supersim", rate_plan_sid=None, fleet_sid="HF" + "2" * 32)
    assert supersim.has_data_limit and not supersim.wireless
