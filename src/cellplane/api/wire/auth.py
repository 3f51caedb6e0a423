"""Authentication on every surface: HTTP Basic (AccountSid:AuthToken or SKxxx:secret) or an OAuth2 Bearer token;
then the route's permission (domain/permissions.py) and the credential's rate limit.

A verified credential is cached for a few seconds (a Bearer token never beyond its expiry) so the hot path (GET one
SIM) costs no extra query; a wrong secret is never cached, and deleting an API client or key empties the cache
(`forget`) so a revoked token is refused at once by this process (other nodes: within `cache_seconds`).
A route declares its permission once, with its router's route class (api/wire/guard.py); a route that declares
none is open to `admin` only. The caller and its quota are left in the ASGI scope for the edge layer (audit log,
RateLimit headers: api/wire/edge.py).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import Request

from cellplane.api.wire.ratelimit import TokenBuckets
from cellplane.domain.caller import Caller
from cellplane.domain.errors import AuthenticationFailed, InvalidToken, PermissionDenied
from cellplane.services import api_clients
from cellplane.services.accounts import resolve_credential
from cellplane.services.context import PlatformContext
from cellplane.store.models.base import utcnow

log = logging.getLogger("cellplane.api")
CALLER_KEY = "cellplane.caller"
QUOTA_KEY = "cellplane.quota"
UNDECLARED = "admin"  # the only role a route without a declared permission admits (fail closed)


@dataclass
class Authenticator:
    ctx: PlatformContext
    cache_seconds: float = 5.0
    rate_per_second: float = 0.0
    burst: float = 0.0
    _cache: dict[bytes, tuple[float, Caller]] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    limits: TokenBuckets = field(init=False)

    def __post_init__(self) -> None:
        self.limits = TokenBuckets(rate=self.rate_per_second, burst=self.burst, policy="credential")

    async def caller(self, request: Request) -> Caller:
        header = request.headers.get("authorization")
        if not header:
            raise AuthenticationFailed(
                "Authentication required: use HTTP Basic with AccountSid:AuthToken or an OAuth2 Bearer token"
            )
        cache_key = hashlib.sha256(header.encode()).digest()
        now = time.monotonic()
        cached = self._cache.get(cache_key)
        if cached is not None and cached[0] > now:
            caller = cached[1]
        else:
            caller, valid_for = await self._verify(header)
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[cache_key] = (now + min(self.cache_seconds, valid_for), caller)
        scope = request.scope
        route = scope.get("route")
        needed: str | None = getattr(route, "permission", None)
        if needed is None:
            if caller.role != UNDECLARED:
                raise PermissionDenied(caller.role, f"{scope.get('path', '')} (admin only)")
        elif not caller.may(needed):
            raise PermissionDenied(caller.role, needed)
        quota = self.limits.take(caller.credential_sid, now)
        scope[CALLER_KEY] = caller
        if quota is not None:
            scope[QUOTA_KEY] = quota
        return caller

    async def _verify(self, header: str) -> tuple[Caller, float]:
        """The Caller of an Authorization header, and for how many seconds that answer may be reused."""
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            token = value.strip()
            if not token or len(token) > 512:
                raise InvalidToken()
            async with self.ctx.sessions() as session:
                verified = await api_clients.verify_token(session, token)
            if verified is None:
                raise InvalidToken()
            if verified.stale_last_used:
                self._touch_later(verified.caller.actor_sid)
            return verified.caller, max(0.0, (verified.expires_at - utcnow()) / timedelta(seconds=1))
        username, password = _basic_credentials(header)
        async with self.ctx.sessions() as session:
            found = await resolve_credential(session, username, password)
        if found is None:
            raise AuthenticationFailed("Authentication failed: unknown credential or wrong secret")
        return found, self.cache_seconds

    def _touch_later(self, client_id: str) -> None:
        """`date_last_used` is bookkeeping: written by a task of its own, so a busy database neither slows nor fails
        the request that used the token."""
        task = asyncio.get_running_loop().create_task(self._touch(client_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _touch(self, client_id: str) -> None:
        try:
            async with self.ctx.sessions() as session, session.begin():
                await api_clients.touch(session, client_id)
        except Exception:
            log.warning("could not record the last use of API client %s", client_id, exc_info=True)

    def forget(self) -> None:
        """Drop cached credentials (after a subaccount is created, or a key or API client deleted)."""
        self._cache.clear()


def _basic_credentials(header: str) -> tuple[str, str]:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise AuthenticationFailed("Authentication failed: use HTTP Basic authentication or a Bearer token")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationFailed("Authentication failed: malformed Basic credentials") from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise AuthenticationFailed("Authentication failed: malformed Basic credentials")
    return username, password


def basic_pair(header: str | None) -> tuple[str, str] | None:
    """`(user, password)` of a Basic Authorization header, None without one (the token endpoints' client auth)."""
    if not header or header.partition(" ")[0].lower() != "basic":
        return None
    return _basic_credentials(header)


async def authenticate(request: Request) -> Caller:
    authenticator: Authenticator = request.app.state.authenticator
    return await authenticator.caller(request)


def forget_credentials(request: Request) -> None:
    authenticator: Authenticator = request.app.state.authenticator
    authenticator.forget()
