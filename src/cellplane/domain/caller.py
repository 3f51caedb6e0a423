"""Who is calling: the authenticated account and the accounts it may act on."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """An authenticated credential's view of the platform.

    `account_sid` owns what the caller creates and lists; `visible` adds its subaccounts, whose
    resources a parent may address by sid (to move SIMs between them, as the seed describes).
    """

    account_sid: str
    credential_sid: str
    visible: frozenset[str]
    parent_sid: str | None = None
    # What the credential may do (domain/permissions.py); API keys and auth tokens act as admin.
    role: str = "admin"

    def can_see(self, account_sid: str | None) -> bool:
        return account_sid is not None and account_sid in self.visible
