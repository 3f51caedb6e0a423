"""HTTP Basic authentication (AccountSid:AuthToken or SKxxx:secret) with a short-lived cache, and rate limits.

A verified credential is cached for a few seconds so the hot path (GET one SIM) costs no extra query;
a wrong password is never cached. Limits are per credential, a token bucket; a refused request is
never processed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from dataclasses import dataclass, field

from fastapi import Request

from cellplane.domain.caller import Caller
from cellplane.domain.errors import AuthenticationFailed, RateLimited
from cellplane.services.accounts import resolve_credential
from cellplane.services.context import PlatformContext


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class Authenticator:
    ctx: PlatformContext
    cache_seconds: float = 5.0
    rate_per_second: float = 0.0
    burst: float = 0.0
    _cache: dict[bytes, tuple[float, Caller]] = field(default_factory=dict)
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    async def caller(self, request: Request) -> Caller:
        header = request.headers.get("authorization")
        if not header:
            raise AuthenticationFailed("Authentication required: use HTTP Basic with AccountSid:AuthToken")
        cache_key = hashlib.sha256(header.encode()).digest()
        now = time.monotonic()
        cached = self._cache.get(cache_key)
        if cached is not None and cached[0] > now:
            caller = cached[1]
        else:
            username, password = _basic_credentials(header)
            async with self.ctx.sessions() as session:
                found = await resolve_credential(session, username, password)
            if found is None:
                raise AuthenticationFailed("Authentication failed: unknown credential or wrong secret")
            caller = found
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[cache_key] = (now + self.cache_seconds, caller)
        self._take_token(caller.credential_sid, now)
        return caller

    def forget(self) -> None:
        """Drop cached credentials (after a subaccount is created or a key revoked)."""
        self._cache.clear()

    def quota(self, credential: str | None) -> tuple[int, int, float]:
        """(limit, used, seconds until the bucket is full again) of a credential's rate limit, for headers that
        show it (the /things/v1 quota-* headers); (0, 0, 0) when requests are not limited."""
        if self.rate_per_second <= 0 or credential is None:
            return 0, 0, 0.0
        bucket = self._buckets.get(credential)
        if bucket is None:
            return int(self.burst), 0, 0.0
        now = time.monotonic()
        tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate_per_second)
        used = max(0, int(self.burst - tokens + 0.999))
        return int(self.burst), used, (self.burst - tokens) / self.rate_per_second

    def _take_token(self, credential: str, now: float) -> None:
        if self.rate_per_second <= 0:
            return
        bucket = self._buckets.get(credential)
        if bucket is None:
            bucket = self._buckets[credential] = _Bucket(tokens=self.burst, updated=now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate_per_second)
        bucket.updated = now
        if bucket.tokens < 1:
            retry_after = max(1, int((1 - bucket.tokens) / self.rate_per_second + 0.999))
            raise RateLimited(retry_after)
        bucket.tokens -= 1


def _basic_credentials(header: str) -> tuple[str, str]:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise AuthenticationFailed("Authentication failed: use HTTP Basic authentication")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationFailed("Authentication failed: malformed Basic credentials") from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise AuthenticationFailed("Authentication failed: malformed Basic credentials")
    return username, password


async def authenticate(request: Request) -> Caller:
    authenticator: Authenticator = request.app.state.authenticator
    return await authenticator.caller(request)
