"""Per-key token buckets, and the one place their state becomes response headers.

A credential's bucket holds `burst` tokens and refills at `rate` a second; a request takes one, and a request that
finds none is refused (429, Retry-After) before it is processed. The state after a request is announced with the
IETF headers (draft-ietf-httpapi-ratelimit-headers: `RateLimit-Policy: "name";q=<quota>;w=<window s>` and
`RateLimit: "name";r=<remaining>;t=<seconds to reset>`), the bucket read as a quota of `burst` requests per the
`burst / rate` seconds it takes to refill; the Things surface announces the same numbers with its seed's
`quota-*` headers (`things_quota_headers`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import NamedTuple

from cellplane.domain.errors import RateLimited


class Quota(NamedTuple):
    """One bucket's state after a request: `limit` requests per `window` seconds, `remaining` now, and the
    seconds until the bucket is full again (`reset`). A tuple: one is made per request on the hot path."""

    policy: str
    limit: int
    window: int
    remaining: int
    reset: int


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class TokenBuckets:
    rate: float  # tokens a second; 0 or less: unlimited
    burst: float
    policy: str = "default"
    max_keys: int = 100_000
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key: str, now: float | None = None) -> Quota | None:
        """Take one token for `key`, or raise RateLimited with the seconds until one is back."""
        if self.rate <= 0:
            return None
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._buckets.clear()  # bounded memory; a cleared key starts full, which errs on serving
            bucket = self._buckets[key] = _Bucket(tokens=self.burst, updated=now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens < 1:
            raise RateLimited(max(1, math.ceil((1 - bucket.tokens) / self.rate)))
        bucket.tokens -= 1
        return Quota(
            self.policy,
            int(self.burst),
            max(1, math.ceil(self.burst / self.rate)),
            int(bucket.tokens),
            math.ceil((self.burst - bucket.tokens) / self.rate),
        )


def ratelimit_headers(quota: Quota) -> list[tuple[bytes, bytes]]:
    """The IETF RateLimit-Policy and RateLimit fields (structured-field lists, one item named by the policy)."""
    policy, limit, window, remaining, reset = quota
    name, policy_field = _policy_field(policy, limit, window)
    return [(b"ratelimit-policy", policy_field), (b"ratelimit", b'"%s";r=%d;t=%d' % (name, remaining, reset))]


@cache
def _policy_field(policy: str, limit: int, window: int) -> tuple[bytes, bytes]:
    """The policy's name and its RateLimit-Policy value: the same for every response of one configuration."""
    name = policy.encode()
    return name, b'"%s";q=%d;w=%d' % (name, limit, window)


def things_quota_headers(quota: Quota, now: datetime | None = None) -> dict[str, str]:
    """The same numbers in the private-network platform's headers (seeds/002, THINGS.md)."""
    at = (now or datetime.now(UTC)) + timedelta(seconds=quota.reset)
    return {
        "quota-interval": str(quota.window),
        "quota-time-unit": "second",
        "quota-limit": str(quota.limit),
        "quota-used": str(quota.limit - quota.remaining),
        "quota-reset-UTC": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


UNLIMITED = Quota("none", 0, 1, 0, 0)  # what the headers show when requests are not limited
