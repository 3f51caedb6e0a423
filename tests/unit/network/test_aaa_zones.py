"""The AAA core counting a Wireless SIM's usage per zone from accounting batches (network/aaa/core.py): GIVEN a cached
snapshot and a live session on a national roaming network, WHEN batches add usage there, THEN crossing that zone's
limit throttles (CoA-Request with the rate) or disconnects, and a fresh snapshot that no longer puts the session at
its limit lifts the throttle (rate 0). No database: the core works from memory."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cellplane.domain.networks import network_sid
from cellplane.domain.policy import RejectCode, SimPolicy, ZoneUsage, data_limit_bytes
from cellplane.domain.wireless import HOME, NATIONAL_ROAMING
from cellplane.network.aaa.config import AaaConfig
from cellplane.network.aaa.core import AaaCore
from cellplane.services.accounting_records import BatchEffects, LiveSession

NOW = datetime(2025, 6, 15, 12, tzinfo=UTC)
PERIOD = "HB" + "3" * 32
MB = data_limit_bytes(1)
POLICY = SimPolicy(
    imsi="310260000000001",
    sim_sid="DE" + "1" * 32,
    iccid="89883070000000000011",
    account_sid="AC" + "0" * 32,
    product="wireless",
    status="active",
    data_enabled=True,
    data_limit_bytes=10 * MB,
    period_sid=PERIOD,
    period_start=NOW - timedelta(days=10),
    period_end=NOW + timedelta(days=20),
    rate_plan_sid="WP" + "2" * 32,
    national_roaming_enabled=True,
    national_limit_bytes=MB,
    international_limit_bytes=MB,
    throttle_at_limit=True,
    zone_usage=ZoneUsage(PERIOD),
)
AT_T = LiveSession(
    sid="WN" + "4" * 32,
    sim_sid=POLICY.sim_sid,
    imsi=POLICY.imsi,
    nas_id="pgw",
    nas_address="127.0.0.1",
    acct_session_id="S1",
    ue_ip="10.64.0.2",
    network_sid=network_sid("310", "410"),
    mcc="310",
    mnc="410",
)


def core_with(policy: SimPolicy) -> tuple[AaaCore, list[Any]]:
    core = AaaCore(AaaConfig(throttle_rate=32_000), lambda: NOW)
    calls: list[Any] = []
    core.change_rate = lambda session, rate, failed: calls.append(("rate", session.acct_session_id, rate))
    core.disconnect = lambda session, code: calls.append(("disconnect", session.acct_session_id, code))
    core.record_event = lambda event: calls.append(("event", event.event_type))
    core.load({policy.imsi: policy}, [AT_T])
    return core, calls


def grow(core: AaaCore, octets: int, where: str = NATIONAL_ROAMING) -> None:
    core.apply_effects(
        BatchEffects(zone_growth={POLICY.sim_sid: {where: octets}}, period_usage={POLICY.sim_sid: (PERIOD, octets)})
    )


def test_crossing_the_national_limit_throttles_the_session_once() -> None:
    core, calls = core_with(replace(POLICY, zone_usage=ZoneUsage(PERIOD)))
    grow(core, MB - 1)
    assert calls == []
    grow(core, 5 * MB, where=HOME)  # the home network's usage is its own: nothing happens on AT&T
    assert calls == []
    grow(core, 1)
    assert calls == [("rate", "S1", 32_000), ("event", "session_throttled")]
    grow(core, MB)  # past the limit already: no second CoA
    assert len(calls) == 2
    # A higher limit (a plan update reloaded by the poller) lifts the throttle with rate 0.
    core.update_policy(POLICY.imsi, replace(POLICY, national_limit_bytes=5 * MB, zone_usage=ZoneUsage(PERIOD)))
    assert calls[-1] == ("rate", "S1", 0)
    # The reloaded snapshot kept what this process had counted (merged by the larger count).
    assert core.policies.get(POLICY.imsi).zone_usage.get(NATIONAL_ROAMING) == 2 * MB  # type: ignore[union-attr]


def test_a_block_plan_disconnects_at_the_national_limit() -> None:
    core, calls = core_with(replace(POLICY, throttle_at_limit=False, zone_usage=ZoneUsage(PERIOD)))
    grow(core, MB)
    assert calls == [("disconnect", "S1", RejectCode.DATA_LIMIT_REACHED)]


def test_a_session_loaded_at_its_limit_counts_as_throttled_already() -> None:
    """After an AAA restart, a session the gateway throttles (usage rebuilt at the limit) is not throttled anew."""
    core, calls = core_with(replace(POLICY, zone_usage=ZoneUsage(PERIOD, {NATIONAL_ROAMING: MB})))
    grow(core, 1000)
    assert calls == [] and len(core.throttled) == 1


def test_a_snapshot_read_before_an_interim_does_not_take_the_periods_usage_back() -> None:
    # A change notification's re-read can start before an accounting batch commits and land after its effects: the
    # cached usage of the period (which only grows) must survive it, or the next attach would pass the data limit.
    core, _ = core_with(replace(POLICY, period_data_used=0))
    core.apply_effects(BatchEffects(period_usage={POLICY.sim_sid: (PERIOD, 10 * MB)}))
    limit = core.policies.get(POLICY.imsi).data_limit_bytes  # type: ignore[union-attr]
    cached = core.policies.get(POLICY.imsi).period_data_used  # type: ignore[union-attr]
    assert cached == 10 * MB >= limit  # the batch crossed the limit: the cache holds the count
    core.update_policy(POLICY.imsi, replace(POLICY, period_data_used=0))  # the stale snapshot
    assert core.policies.get(POLICY.imsi).period_data_used == cached  # type: ignore[union-attr]
    # A new period starts from its own count.
    core.update_policy(POLICY.imsi, replace(POLICY, period_sid="HB" + "4" * 32, period_data_used=0))
    assert core.policies.get(POLICY.imsi).period_data_used == 0  # type: ignore[union-attr]
