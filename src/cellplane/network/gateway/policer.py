"""Per-session rate limits: a token bucket each way, set when the AAA throttles a session (WISPr-Bandwidth-Max-Up/-Down
in an Access-Accept or a CoA-Request, docs/NETWORK.md).

A packet passes when the bucket holds its size in tokens (octets) and takes them; otherwise it is dropped and takes
none (a policer, RFC 2697's single-rate idea with one bucket: no queue, no delay, nothing to schedule). The bucket
fills at the rate and holds at most `burst` octets: one second of the rate, and never less than two full-size packets,
so that a slow rate still lets a whole packet through. Only throttled sessions have one: the GTP-U fast path asks
`session.policer is None` and nothing else for the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable

MIN_BURST = 2 * 1500  # octets: two packets of a full Ethernet MTU


class TokenBucket:
    """Octets allowed through at `rate` bit/s with bursts of up to `burst` octets; `clock` in seconds."""

    __slots__ = ("_clock", "_last", "_tokens", "burst", "octets_per_second", "rate")

    def __init__(self, rate: int, burst: int | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("a token bucket needs a positive rate")
        self.rate = rate
        self.octets_per_second = rate / 8
        self.burst = burst if burst is not None else max(int(self.octets_per_second), MIN_BURST)
        self._clock = clock
        self._last = clock()
        self._tokens = float(self.burst)  # starts full: the first second's worth goes through at once

    def allow(self, octets: int) -> bool:
        """Take `octets` tokens if there are that many (the packet passes), else take none (it is dropped)."""
        now = self._clock()
        tokens = self._tokens + (now - self._last) * self.octets_per_second
        self._last = now
        if tokens > self.burst:
            tokens = self.burst
        if tokens >= octets:
            self._tokens = tokens - octets
            return True
        self._tokens = tokens
        return False


class Policer:
    """The limits of one session, up (from the device) and down, each None when that way is not limited, and what
    they dropped. Dropped packets are not the subscriber's usage: they never reach the session's counters."""

    __slots__ = ("down", "dropped_down_octets", "dropped_down_packets", "dropped_up_octets", "dropped_up_packets", "up")

    def __init__(self, up: TokenBucket | None, down: TokenBucket | None) -> None:
        self.up = up
        self.down = down
        self.dropped_up_packets = 0
        self.dropped_up_octets = 0
        self.dropped_down_packets = 0
        self.dropped_down_octets = 0

    @classmethod
    def of(cls, rate_up: int | None, rate_down: int | None) -> Policer | None:
        """A policer for these rates (bit/s; None or 0: that way is not limited), or None when neither is limited."""
        up = TokenBucket(rate_up) if rate_up else None
        down = TokenBucket(rate_down) if rate_down else None
        return cls(up, down) if up is not None or down is not None else None

    def pass_up(self, octets: int) -> bool:
        if self.up is None or self.up.allow(octets):
            return True
        self.dropped_up_packets += 1
        self.dropped_up_octets += octets
        return False

    def pass_down(self, octets: int) -> bool:
        if self.down is None or self.down.allow(octets):
            return True
        self.dropped_down_packets += 1
        self.dropped_down_octets += octets
        return False

    def view(self) -> dict[str, int | None]:
        return {
            "rate_up": self.up.rate if self.up else None,
            "rate_down": self.down.rate if self.down else None,
            "dropped_up_packets": self.dropped_up_packets,
            "dropped_up_bytes": self.dropped_up_octets,
            "dropped_down_packets": self.dropped_down_packets,
            "dropped_down_bytes": self.dropped_down_octets,
        }
