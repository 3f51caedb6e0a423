"""The gateway's per-session policer (network/gateway/policer.py): GIVEN a token bucket at a rate, WHEN packets
arrive at given moments, THEN those within the rate and burst pass and the rest are dropped and counted."""

from __future__ import annotations

import pytest

from cellplane.network.gateway.policer import MIN_BURST, Policer, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_full_bucket_lets_one_burst_through_then_refills_at_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(64_000, clock=clock)  # 8000 octets a second, burst of one second
    assert bucket.burst == 8000
    assert [bucket.allow(1000) for _ in range(9)] == [True] * 8 + [False]
    clock.now += 0.5  # half a second: 4000 octets of tokens
    assert [bucket.allow(1000) for _ in range(5)] == [True] * 4 + [False]
    clock.now += 100  # a long pause fills it to the burst, not beyond
    assert sum(bucket.allow(1000) for _ in range(20)) == 8


def test_a_packet_larger_than_the_tokens_is_dropped_and_takes_none() -> None:
    clock = Clock()
    bucket = TokenBucket(64_000, burst=1500, clock=clock)
    assert bucket.allow(1000)
    assert not bucket.allow(1000)  # 500 left: the packet is dropped whole
    assert bucket.allow(500)  # and the 500 are still there


def test_over_time_what_passes_is_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(64_000, clock=clock)
    passed = 0
    for _ in range(10_000):  # 10 s of 1000-octet packets every millisecond: 125 times the rate
        clock.now += 0.001
        passed += 1000 if bucket.allow(1000) else 0
    assert 8000 * 10 <= passed <= 8000 * 11  # the rate for 10 s, plus the first burst


def test_a_slow_rate_still_has_room_for_a_full_packet() -> None:
    assert TokenBucket(8_000).burst == MIN_BURST
    with pytest.raises(ValueError, match="positive rate"):
        TokenBucket(0)


def test_a_policer_limits_each_way_and_counts_what_it_drops() -> None:
    assert Policer.of(None, 0) is None  # no limit either way: no policer at all (the fast path stays plain)
    policer = Policer.of(64_000, None)
    assert policer is not None and policer.down is None
    results = [policer.pass_up(1500) for _ in range(10)]
    assert results.count(True) == 5  # 8000 octets: five packets of 1500
    assert (policer.dropped_up_packets, policer.dropped_up_octets) == (5, 7500)
    assert all(policer.pass_down(1500) for _ in range(100))
    assert policer.view() == {
        "rate_up": 64_000,
        "rate_down": None,
        "dropped_up_packets": 5,
        "dropped_up_bytes": 7500,
        "dropped_down_packets": 0,
        "dropped_down_bytes": 0,
    }
