"""Accounts and credentials: create them (operator), and resolve a credential to a Caller."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.caller import Caller
from cellplane.domain.errors import InvalidParameter, NotFound
from cellplane.domain.ids import Prefix, is_sid, new_sid
from cellplane.services import things_networks
from cellplane.store.models import Account, ApiKey
from cellplane.store.repositories import accounts as repo


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class NewApiKey:
    sid: str
    secret: str
    account_sid: str


async def create_account(
    session: AsyncSession, friendly_name: str | None = None, parent_sid: str | None = None
) -> Account:
    if parent_sid is not None:
        parent = await repo.get_account(session, parent_sid)
        if parent is None:
            raise NotFound("Account", parent_sid)
        if parent.parent_sid is not None:
            raise InvalidParameter("Parent", "A subaccount cannot have subaccounts of its own")
    account = Account(
        sid=new_sid(Prefix.ACCOUNT),
        friendly_name=friendly_name,
        parent_sid=parent_sid,
        auth_token=secrets.token_hex(16),
    )
    session.add(account)
    await session.flush()
    # THINGS.md: the default Things Group, Network, pool and empty IP Profile exist from the account's creation.
    await things_networks.ensure_defaults(session, account.sid)
    return account


async def create_api_key(session: AsyncSession, account_sid: str, friendly_name: str | None = None) -> NewApiKey:
    if await repo.get_account(session, account_sid) is None:
        raise NotFound("Account", account_sid)
    secret = secrets.token_urlsafe(24)
    key = ApiKey(
        sid=new_sid(Prefix.API_KEY),
        account_sid=account_sid,
        friendly_name=friendly_name,
        secret_hash=hash_secret(secret),
    )
    session.add(key)
    await session.flush()
    return NewApiKey(sid=key.sid, secret=secret, account_sid=account_sid)


async def resolve_credential(session: AsyncSession, username: str, password: str) -> Caller | None:
    """The Caller for `AccountSid:AuthToken` or `SKxxx:secret`, or None when they do not match."""
    kind: Literal["auth_token", "api_key"]
    if is_sid(username, Prefix.ACCOUNT):
        account = await repo.get_account(session, username)
        if account is None or account.status != "active":
            return None
        if not hmac.compare_digest(account.auth_token.encode(), password.encode()):
            return None
        credential_sid, kind = account.sid, "auth_token"
    elif is_sid(username, Prefix.API_KEY):
        key = await repo.get_api_key(session, username)
        if key is None or not hmac.compare_digest(key.secret_hash, hash_secret(password)):
            return None
        account = await repo.get_account(session, key.account_sid)
        if account is None or account.status != "active":
            return None
        credential_sid, kind = key.sid, "api_key"
    else:
        return None
    children = await repo.child_sids(session, account.sid)
    return Caller(
        account_sid=account.sid,
        credential_sid=credential_sid,
        visible=frozenset([account.sid, *children]),
        parent_sid=account.parent_sid,
        actor_kind=kind,
    )
