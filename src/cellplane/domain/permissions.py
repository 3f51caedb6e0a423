"""One permission table for every surface: what each role may read and change.

A permission is "<resource>:<read|write>". The identity layer (issue 15) owns this table; the console codes
against `allows` only, so the table can grow without touching its pages.
"""

from __future__ import annotations

ROLES = ("admin", "operator", "viewer", "billing")

_RESOURCES = ("sims", "fleets", "commands", "users", "audit", "webhooks", "emulator", "bulk", "usage", "rate_plans")
_READ_ALL = frozenset(f"{resource}:read" for resource in _RESOURCES)

_TABLE: dict[str, frozenset[str]] = {
    "admin": _READ_ALL | {f"{resource}:write" for resource in _RESOURCES},
    # Runs the fleet day to day; does not manage people or read the audit trail.
    "operator": (_READ_ALL - {"users:read", "audit:read"})
    | {f"{r}:write" for r in ("sims", "fleets", "commands", "webhooks", "emulator", "bulk", "rate_plans")},
    # Read-only everywhere.
    "viewer": _READ_ALL - {"users:read", "audit:read"},
    # Usage and plans, nothing that changes the network.
    "billing": frozenset({"sims:read", "fleets:read", "usage:read", "rate_plans:read"}),
}


def allows(role: str, permission: str) -> bool:
    """Whether `role` may do `permission`; an unknown role may do nothing."""
    return permission in _TABLE.get(role, frozenset())
