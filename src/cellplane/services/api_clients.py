"""API clients (OAuth2 client credentials) of an account, the Bearer tokens they obtain, and resolving a token.

Tokens are opaque: 256 random bits, stored only as their SHA-256. Why not signed JWTs: a token must stop working
the moment its client is deleted, so every verification needs the store (or a cache the delete invalidates) anyway;
an opaque token then costs the same lookup, needs no signing keys to manage or rotate, and carries no claims a
holder could read. The authenticator caches a verified token for a few seconds, as it does Basic credentials.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.caller import Caller
from cellplane.domain.errors import InvalidParameter, NotFound, OAuthError
from cellplane.domain.ids import Prefix, is_sid, new_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.domain.permissions import ROLES, is_role
from cellplane.store.models import AccessToken, ApiClient
from cellplane.store.models.base import utcnow
from cellplane.store.repositories import accounts as account_repo
from cellplane.store.repositories import identity as repo

# The lifetimes the hosted platform offers (1 hour, 24 hours, 30 days, 24 months), by the name given at creation.
LIFETIMES: dict[str, int] = {"1h": 3600, "24h": 86_400, "30d": 30 * 86_400, "24mo": 730 * 86_400}
LAST_USED_PRECISION = timedelta(minutes=1)  # `date_last_used` is refreshed at most this often per client


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class NewApiClient:
    client: ApiClient
    client_secret: str  # shown once: only its hash is stored


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    issued_at: datetime
    client_id: str
    account_sid: str
    role: str


@dataclass(frozen=True)
class VerifiedToken:
    caller: Caller
    expires_at: datetime
    stale_last_used: bool  # the client's date_last_used is over a minute old: `touch` it (off the request's path)


async def create(
    session: AsyncSession,
    account_sid: str,
    role: str | None,
    lifetime: str | None,
    friendly_name: str | None = None,
    created_by: str | None = None,
) -> NewApiClient:
    if role is None or not is_role(role):
        raise InvalidParameter("Role", f"Role must be one of {', '.join(ROLES)}")
    if lifetime is None or lifetime not in LIFETIMES:
        raise InvalidParameter("TokenLifetime", f"TokenLifetime must be one of {', '.join(LIFETIMES)}")
    if await account_repo.get_account(session, account_sid) is None:
        raise NotFound("Account", account_sid)
    secret = secrets.token_urlsafe(32)
    client = ApiClient(
        sid=new_sid(Prefix.API_CLIENT),
        account_sid=account_sid,
        friendly_name=friendly_name,
        role=role,
        token_lifetime=lifetime,
        secret_hash=digest(secret),
        created_by=created_by,
    )
    session.add(client)
    await session.flush()
    return NewApiClient(client=client, client_secret=secret)


async def list_clients(session: AsyncSession, caller: Caller, spec: PageSpec) -> Page[ApiClient]:
    return await repo.page_clients(session, caller.account_sid, spec)


async def fetch(session: AsyncSession, caller: Caller, sid: str) -> ApiClient:
    client = await repo.find_client(session, sid, caller.visible) if is_sid(sid, Prefix.API_CLIENT) else None
    if client is None:
        raise NotFound("ApiClient", sid)
    return client


async def delete(session: AsyncSession, caller: Caller, sid: str) -> None:
    """Delete the client and every token it issued (the caller must also drop its cache of verified tokens)."""
    client = await fetch(session, caller, sid)
    await repo.delete_client(session, client.sid)


async def issue_token(session: AsyncSession, client_id: str, client_secret: str) -> IssuedToken:
    """Client credentials grant (RFC 6749 §4.4): a new Bearer token for a known client with the right secret."""
    client = await repo.get_client(session, client_id) if is_sid(client_id, Prefix.API_CLIENT) else None
    # Compare even for an unknown client, so the answer's timing says nothing about which client ids exist.
    expected = client.secret_hash if client is not None else digest(secrets.token_hex(16))
    if not hmac.compare_digest(expected, digest(client_secret)) or client is None:
        raise OAuthError("invalid_client", "Client authentication failed: unknown client or wrong secret")
    account = await account_repo.get_account(session, client.account_sid)
    if account is None or account.status != "active":
        raise OAuthError("unauthorized_client", "The client's account is not active")
    token = secrets.token_urlsafe(32)
    now = utcnow()
    lifetime = LIFETIMES[client.token_lifetime]
    session.add(
        AccessToken(
            token_hash=digest(token),
            client_sid=client.sid,
            account_sid=client.account_sid,
            issued_at=now,
            expires_at=now + timedelta(seconds=lifetime),
        )
    )
    client.date_last_used = now
    await session.flush()
    return IssuedToken(
        access_token=token,
        expires_in=lifetime,
        issued_at=now,
        client_id=client.sid,
        account_sid=client.account_sid,
        role=client.role,
    )


async def verify_token(session: AsyncSession, token: str) -> VerifiedToken | None:
    """The Caller a live token acts as, or None (unknown, expired, or its client deleted). Reads only."""
    found = await repo.token_with_client(session, digest(token))
    if found is None:
        return None
    access, client = found
    now = utcnow()
    if access.expires_at <= now:
        return None
    account = await account_repo.get_account(session, client.account_sid)
    if account is None or account.status != "active":
        return None
    children = await account_repo.child_sids(session, account.sid)
    caller = Caller(
        account_sid=account.sid,
        credential_sid=client.sid,
        visible=frozenset([account.sid, *children]),
        parent_sid=account.parent_sid,
        role=client.role,
        actor_kind="api_client",
        actor_sid=client.sid,
    )
    stale = client.date_last_used is None or now - client.date_last_used > LAST_USED_PRECISION
    return VerifiedToken(caller=caller, expires_at=access.expires_at, stale_last_used=stale)


async def touch(session: AsyncSession, client_id: str) -> None:
    """Record that the client's token was used now."""
    await repo.touch_client(session, client_id, utcnow())
