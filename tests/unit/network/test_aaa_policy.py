"""The attach rules, pure (domain/policy.py): GIVEN a SIM's snapshot and a visited network, WHEN deciding, THEN the
first rule that fails names the code."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from cellplane.domain.networks import catalogue
from cellplane.domain.policy import (
    ATTACH_RATE_LIMIT,
    AttachRateLimiter,
    RejectCode,
    SimPolicy,
    check_session,
    crossed_limit,
    data_limit_bytes,
    decide_attach,
    split_plmn,
)
from tests.unit.network.peers import FRANCE, FRANCE_SID, UK, USA_SID

NOW = datetime(2025, 6, 15, 12, tzinfo=UTC)
ACTIVE = SimPolicy(
    imsi="901530000000001",
    sim_sid="HS" + "1" * 32,
    iccid="89883070000000000010",
    account_sid="AC" + "0" * 32,
    product="supersim",
    status="active",
    fleet_sid="HF" + "2" * 32,
    data_enabled=True,
    data_limit_bytes=data_limit_bytes(1000),
    allowed_network_sids=frozenset({FRANCE_SID, USA_SID}),
    period_sid="HB" + "3" * 32,
    period_start=NOW - timedelta(days=10),
    period_end=NOW + timedelta(days=20),
    period_data_used=0,
)


def decide(policy: SimPolicy | None, plmn: tuple[str, str] = FRANCE, attaches: int = 1) -> RejectCode | None:
    return decide_attach(policy, *plmn, NOW, recent_attaches=attaches).code


def test_an_active_sim_in_an_allowed_network_under_its_limit_may_attach() -> None:
    decision = decide_attach(ACTIVE, *FRANCE, NOW, recent_attaches=1)

    assert decision.accepted and decision.code is None and decision.reply_message is None
    assert decision.network is not None and decision.network.sid == FRANCE_SID


def test_a_ready_sim_may_attach_too() -> None:
    assert decide(replace(ACTIVE, status="ready")) is None


@pytest.mark.parametrize(
    ("policy", "plmn", "code"),
    [
        (None, FRANCE, RejectCode.UNKNOWN_SIM),
        (replace(ACTIVE, account_sid=None), FRANCE, RejectCode.UNKNOWN_SIM),
        (replace(ACTIVE, status="new"), FRANCE, RejectCode.SIM_INACTIVE),
        (replace(ACTIVE, status="inactive"), FRANCE, RejectCode.SIM_INACTIVE),
        (replace(ACTIVE, fleet_sid=None), FRANCE, RejectCode.NO_FLEET),
        (replace(ACTIVE, data_enabled=False), FRANCE, RejectCode.DATA_DISABLED),
        (ACTIVE, UK, RejectCode.NETWORK_NOT_ALLOWED),
        (ACTIVE, ("001", "01"), RejectCode.NETWORK_NOT_ALLOWED),  # the test PLMN is no network to roam to
        (replace(ACTIVE, period_data_used=data_limit_bytes(1000)), FRANCE, RejectCode.DATA_LIMIT_REACHED),
    ],
)
def test_each_rule_refuses_with_its_own_code(policy: SimPolicy | None, plmn: tuple[str, str], code: RejectCode) -> None:
    assert decide(policy, plmn) == code


def test_rules_are_checked_from_the_most_fundamental() -> None:
    everything_wrong = replace(ACTIVE, status="inactive", fleet_sid=None, data_enabled=False)

    assert decide(everything_wrong, UK) == RejectCode.SIM_INACTIVE
    assert decide(replace(ACTIVE, data_enabled=False), UK) == RejectCode.DATA_DISABLED


def test_the_reply_message_carries_the_code_then_the_reason() -> None:
    decision = decide_attach(replace(ACTIVE, status="inactive"), *FRANCE, NOW)

    assert decision.reply_message == "83705 The SIM is not active"


def test_the_twenty_first_attach_in_a_window_is_rate_limited_before_any_other_rule() -> None:
    assert decide(ACTIVE, attaches=ATTACH_RATE_LIMIT) is None
    assert decide(replace(ACTIVE, status="inactive"), attaches=ATTACH_RATE_LIMIT + 1) == RejectCode.RATE_LIMITED
    assert decide(None, attaches=ATTACH_RATE_LIMIT + 1) == RejectCode.UNKNOWN_SIM


def test_usage_of_a_period_that_is_over_does_not_count() -> None:
    spent = replace(ACTIVE, period_data_used=data_limit_bytes(1000), period_end=NOW)

    assert spent.usage_at(NOW) == 0
    assert decide(spent) is None
    assert replace(ACTIVE, period_data_used=5).usage_at(NOW - timedelta(days=11)) == 0


def test_a_session_of_unknown_network_is_judged_without_the_network_rule() -> None:
    assert check_session(ACTIVE, None, NOW, network_known=False).accepted
    assert check_session(ACTIVE, None, NOW).code == RejectCode.NETWORK_NOT_ALLOWED
    uk = catalogue().by_code(*UK)
    assert check_session(ACTIVE, uk, NOW).code == RejectCode.NETWORK_NOT_ALLOWED


def test_crossing_the_limit_is_from_under_to_at_or_over() -> None:
    limit = ACTIVE.data_limit_bytes

    assert crossed_limit(ACTIVE, limit - 1, limit)
    assert not crossed_limit(ACTIVE, limit, limit + 10)
    assert not crossed_limit(replace(ACTIVE, fleet_sid=None), 0, limit)


def test_the_fleet_data_limit_is_in_megabytes_of_a_million_bytes() -> None:
    assert data_limit_bytes(1) == 1_000_000
    assert data_limit_bytes(2_000_000) == 2_000_000_000_000


@pytest.mark.parametrize(
    ("plmn", "expected"),
    [("20801", ("208", "01")), ("310260", ("310", "260")), ("2080", (None, None)), ("2080x1", (None, None))],
)
def test_a_plmn_splits_into_mcc_and_mnc(plmn: str, expected: tuple[str | None, str | None]) -> None:
    assert split_plmn(plmn) == expected


def test_the_rate_limiter_counts_per_sim_in_fixed_windows() -> None:
    limiter = AttachRateLimiter(window=60)

    counts = [limiter.hit("a", t) for t in (0, 1, 2)]
    other = limiter.hit("b", 2)
    after_window = limiter.hit("a", 60)
    limiter.sweep(200)

    assert counts == [1, 2, 3] and other == 1 and after_window == 1
    assert limiter.hit("a", 200) == 1
