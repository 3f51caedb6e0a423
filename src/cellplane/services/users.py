"""Users of an account: people who sign in (the console) with email and password, each with a role.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's recommended second option) and never kept
or logged in clear. `authenticate_user` is what a sign-in page calls: repeated failures on one user make it wait
longer and longer (1 s after the third failure, doubling, at most 15 minutes) before its password is tried again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.caller import Caller
from cellplane.domain.errors import Conflict, InvalidParameter, NotFound, RateLimited
from cellplane.domain.ids import Prefix, is_sid, new_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.domain.permissions import ROLES, is_role
from cellplane.store.models import User
from cellplane.store.models.base import utcnow
from cellplane.store.repositories import accounts as account_repo
from cellplane.store.repositories import identity as repo

_hasher = PasswordHasher()
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 10
MAX_PASSWORD = 256
FREE_FAILURES = 3  # failures before any delay
MAX_DELAY = timedelta(minutes=15)


@dataclass(frozen=True)
class UserChange:
    friendly_name: str | None = None
    role: str | None = None
    password: str | None = None


@cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so both answers take as long (no user enumeration). Made on first
    use, not at import: an argon2 hash costs tens of milliseconds, which every process start would pay."""
    return _hasher.hash("cellplane: no such user")


def _check_role(role: str | None) -> str:
    if role is None or not is_role(role):
        raise InvalidParameter("Role", f"Role must be one of {', '.join(ROLES)}")
    return role


def _check_password(password: str | None) -> str:
    if password is None or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidParameter("Password", f"Password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


def normalize_email(email: str | None) -> str:
    value = (email or "").strip().lower()
    if not _EMAIL.match(value) or len(value) > 254:
        raise InvalidParameter("Email", "Email must be an email address")
    return value


async def create(
    session: AsyncSession,
    caller: Caller,
    email: str | None,
    role: str | None,
    password: str | None,
    friendly_name: str | None = None,
) -> User:
    address = normalize_email(email)
    user = User(
        sid=new_sid(Prefix.USER),
        account_sid=caller.account_sid,
        email=address,
        friendly_name=friendly_name,
        role=_check_role(role),
        password_hash=_hasher.hash(_check_password(password)),
        created_by=caller.actor_sid,
        failed_sign_ins=0,
    )
    if await repo.user_by_email(session, address) is not None:
        raise Conflict(f"A user with the email {address} already exists", parameter="Email")
    session.add(user)
    await session.flush()
    return user


async def list_users(session: AsyncSession, caller: Caller, spec: PageSpec) -> Page[User]:
    return await repo.page_users(session, caller.account_sid, spec)


async def fetch(session: AsyncSession, caller: Caller, sid: str) -> User:
    user = await repo.find_user(session, sid, caller.visible) if is_sid(sid, Prefix.USER) else None
    if user is None:
        raise NotFound("User", sid)
    return user


async def update(session: AsyncSession, caller: Caller, sid: str, change: UserChange) -> User:
    user = await fetch(session, caller, sid)
    if change.role is not None:
        user.role = _check_role(change.role)
    if change.password is not None:
        user.password_hash = _hasher.hash(_check_password(change.password))
        user.failed_sign_ins = 0
        user.next_sign_in_at = None
    if change.friendly_name is not None:
        user.friendly_name = change.friendly_name
    await session.flush()
    return user


async def delete(session: AsyncSession, caller: Caller, sid: str) -> None:
    user = await fetch(session, caller, sid)
    await session.delete(user)
    await session.flush()


def _delay(failures: int) -> timedelta:
    if failures < FREE_FAILURES:
        return timedelta(0)
    return min(MAX_DELAY, timedelta(seconds=2 ** (failures - FREE_FAILURES)))


async def authenticate_user(session: AsyncSession, email: str, password: str) -> Caller | None:
    """The user's Caller (its role; actor "user"), or None for an unknown email or a wrong password.

    Raises RateLimited (with the seconds to wait) while the user is in its delay after repeated failures: the
    password is then not even tried. Failures and successes are flushed; the caller commits, also on None.
    """
    try:
        address = normalize_email(email)
    except InvalidParameter:
        return None
    user = await repo.user_by_email(session, address)
    now = utcnow()
    if user is None:
        _verify(_dummy_hash(), password)
        return None
    if user.next_sign_in_at is not None and user.next_sign_in_at > now:
        raise RateLimited(max(1, int((user.next_sign_in_at - now).total_seconds() + 0.999)))
    if not _verify(user.password_hash, password):
        user.failed_sign_ins += 1
        delay = _delay(user.failed_sign_ins)
        user.next_sign_in_at = now + delay if delay else None
        await session.flush()
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.failed_sign_ins = 0
    user.next_sign_in_at = None
    user.date_last_sign_in = now
    account = await account_repo.get_account(session, user.account_sid)
    await session.flush()
    if account is None or account.status != "active":
        return None
    return caller_for(user, account.parent_sid, await account_repo.child_sids(session, account.sid))


async def caller_of(session: AsyncSession, user_sid: str) -> Caller | None:
    """The Caller of a signed-in user by sid (a console session holds the sid): None once the user is deleted or
    its account is not active, so a session ends with its user. The role is read afresh: a change applies at once."""
    user = await session.get(User, user_sid) if is_sid(user_sid, Prefix.USER) else None
    if user is None:
        return None
    account = await account_repo.get_account(session, user.account_sid)
    if account is None or account.status != "active":
        return None
    return caller_for(user, account.parent_sid, await account_repo.child_sids(session, account.sid))


def caller_for(user: User, parent_sid: str | None, children: list[str]) -> Caller:
    """A signed-in user's Caller: the user's account and subaccounts, the user's role, the user as actor."""
    return Caller(
        account_sid=user.account_sid,
        credential_sid=user.sid,
        visible=frozenset([user.account_sid, *children]),
        parent_sid=parent_sid,
        role=user.role,
        actor_kind="user",
        actor_sid=user.sid,
    )


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
