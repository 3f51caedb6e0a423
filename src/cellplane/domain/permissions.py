"""The one permission table: the pre-defined roles and what each may do, on every surface, the CLI and the console.

A permission is `"<resource>:read"` or `"<resource>:write"`. The roles are those of issue 15 (and the seeds'
"pre-defined permission levels", seeds/002): `admin` everything; `operator` runs the fleet (SIMs, fleets and groups,
networks, commands, bulk actions, Things, webhooks, the emulator) but not users, API clients or prices; `viewer`
reads; `billing` owns usage and billing and reads the rest. Users, API clients and the audit log are the account's
security settings: only `admin` sees them (a viewer reads the fleet, not who may sign in).
"""

from __future__ import annotations

ROLES = ("admin", "operator", "viewer", "billing")
DEFAULT_ROLE = "admin"  # the AuthToken and API keys act as admin, as before roles existed

RESOURCES = (
    "sims",
    "fleets",
    "networks",
    "commands",
    "usage",
    "billing",
    "users",
    "api_clients",
    "audit",
    "emulator",
    "bulk",
    "things",
    "webhooks",
)
ACTIONS = ("read", "write")

# Resources only an admin reads or writes.
_ADMIN_ONLY = frozenset({"users", "api_clients", "audit"})
_FLEET_OPERATIONS = frozenset({"sims", "fleets", "networks", "commands", "bulk", "things", "webhooks", "emulator"})
_BILLING = frozenset({"usage", "billing"})


def _table() -> dict[str, frozenset[str]]:
    every = {f"{resource}:{action}" for resource in RESOURCES for action in ACTIONS}
    readable = {f"{resource}:read" for resource in RESOURCES if resource not in _ADMIN_ONLY}
    return {
        "admin": frozenset(every),
        "operator": frozenset(readable | {f"{resource}:write" for resource in _FLEET_OPERATIONS}),
        "viewer": frozenset(readable),
        "billing": frozenset(readable | {f"{resource}:write" for resource in _BILLING}),
    }


PERMISSIONS: dict[str, frozenset[str]] = _table()


def permission(resource: str, action: str) -> str:
    """`"<resource>:<action>"`, checked against the table so a typo fails at import time, not at run time."""
    name = f"{resource}:{action}"
    if resource not in RESOURCES or action not in ACTIONS:
        raise ValueError(f"unknown permission {name!r}")
    return name


def allows(role: str, permission: str) -> bool:
    """Whether `role` may do `permission`; an unknown role may do nothing."""
    granted = PERMISSIONS.get(role)
    return granted is not None and permission in granted


def is_role(value: str) -> bool:
    return value in PERMISSIONS
