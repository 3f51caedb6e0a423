"""Console sign-in: check a credential, open a server-side session, find it again by its cookie, end it.

`check_credentials` is the one place that decides who may sign in: a user's email + password (services/users: the
user's role, a growing delay after repeated failures), or an account's AccountSid + AuthToken or an API key
(SKxxx + secret), which act as admin. A session may be opened read-only (role `viewer`): narrowing a credential's
rights is always safe. A user's session is re-read from the user at each resume, so a changed role or a deleted
user applies at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.caller import Caller
from cellplane.domain.ids import Prefix, is_sid
from cellplane.services import users
from cellplane.services.accounts import resolve_credential
from cellplane.services.sims import visible_accounts
from cellplane.store.models import ConsoleSession
from cellplane.store.repositories import accounts as account_repo
from cellplane.store.repositories import console_sessions as repo

DEFAULT_LIFETIME = timedelta(hours=8)


@dataclass(frozen=True)
class OpenedSession:
    """What the browser gets: the cookie's token (shown once, never stored) and the session's CSRF token."""

    token: str
    csrf_token: str
    expires_at: datetime
    caller: Caller


@dataclass(frozen=True)
class SignedIn:
    """A live session found by its cookie."""

    caller: Caller
    csrf_token: str
    expires_at: datetime


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def check_credentials(session: AsyncSession, username: str, password: str) -> Caller | None:
    """Who `username` + `password` are, or None: a user by email, else an account's or API key's secret.
    Raises RateLimited while a user waits out its delay after repeated failures."""
    username = username.strip()
    if "@" in username:
        return await users.authenticate_user(session, username, password)
    return await resolve_credential(session, username, password)


async def sign_in(
    session: AsyncSession,
    username: str,
    password: str,
    now: datetime,
    *,
    read_only: bool = False,
    lifetime: timedelta = DEFAULT_LIFETIME,
) -> OpenedSession | None:
    caller = await check_credentials(session, username, password)
    if caller is None:
        return None
    role = "viewer" if read_only else caller.role
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    await repo.sweep(session, now)
    record = ConsoleSession(
        token_hash=token_hash(token),
        account_sid=caller.account_sid,
        credential_sid=caller.credential_sid,
        role=role,
        csrf_token=csrf,
        date_created=now,
        expires_at=now + lifetime,
    )
    session.add(record)
    await session.flush()
    return OpenedSession(token=token, csrf_token=csrf, expires_at=record.expires_at, caller=replace(caller, role=role))


async def resume(session: AsyncSession, token: str, now: datetime) -> SignedIn | None:
    """The session a cookie names, if it is live and its account still active."""
    record = await repo.live(session, token_hash(token), now)
    if record is None:
        return None
    if is_sid(record.credential_sid, Prefix.USER):
        user = await users.caller_of(session, record.credential_sid)
        if user is None:
            return None
        role = "viewer" if record.role == "viewer" else user.role
        return SignedIn(caller=replace(user, role=role), csrf_token=record.csrf_token, expires_at=record.expires_at)
    account = await account_repo.get_account(session, record.account_sid)
    if account is None or account.status != "active":
        return None
    base = Caller(
        account_sid=account.sid,
        credential_sid=record.credential_sid,
        visible=frozenset([account.sid]),
        parent_sid=account.parent_sid,
        role=record.role,
    )
    visible = await visible_accounts(session, base)
    caller = Caller(
        account_sid=account.sid,
        credential_sid=record.credential_sid,
        visible=visible,
        parent_sid=account.parent_sid,
        role=record.role,
    )
    return SignedIn(caller=caller, csrf_token=record.csrf_token, expires_at=record.expires_at)


async def sign_out(session: AsyncSession, token: str) -> None:
    await repo.end(session, token_hash(token))
