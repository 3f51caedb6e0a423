"""Who is calling: the authenticated account, the accounts it may act on, its role and who the actor is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cellplane.domain.permissions import DEFAULT_ROLE, allows

ActorKind = Literal["auth_token", "api_key", "api_client", "user", "operator"]


@dataclass(frozen=True)
class Caller:
    """An authenticated credential's view of the platform.

    `account_sid` owns what the caller creates and lists; `visible` adds its subaccounts, whose
    resources a parent may address by sid (to move SIMs between them, as the seed describes).
    `role` is checked against domain/permissions.py. `actor_kind`/`actor_sid` say who acts, for the audit log:
    the account's AuthToken (actor_sid = the AC sid), an API key (SK...), an API client's Bearer token (its
    client_id) or a user (US...). `credential_sid` keys the rate limit; it is the actor's sid.
    """

    account_sid: str
    credential_sid: str
    visible: frozenset[str]
    parent_sid: str | None = None
    role: str = DEFAULT_ROLE
    actor_kind: ActorKind = "auth_token"
    actor_sid: str = ""

    def __post_init__(self) -> None:
        if not self.actor_sid:
            object.__setattr__(self, "actor_sid", self.credential_sid)

    def can_see(self, account_sid: str | None) -> bool:
        return account_sid is not None and account_sid in self.visible

    def may(self, permission: str) -> bool:
        return allows(self.role, permission)
