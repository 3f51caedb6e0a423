"""The permission table says what issue 15 says each role may do."""

from __future__ import annotations

import pytest

from cellplane.domain.caller import Caller
from cellplane.domain.permissions import PERMISSIONS, RESOURCES, ROLES, allows, permission


def test_admin_may_do_everything_and_an_unknown_role_nothing() -> None:
    for resource in RESOURCES:
        for action in ("read", "write"):
            assert allows("admin", f"{resource}:{action}")
            assert not allows("root", f"{resource}:{action}")


def test_operator_runs_the_fleet_but_not_users_api_clients_or_prices() -> None:
    for resource in ("sims", "fleets", "networks", "commands", "bulk", "things", "webhooks", "emulator"):
        assert allows("operator", f"{resource}:write")
    for refused in ("users:read", "users:write", "api_clients:write", "billing:write", "audit:read"):
        assert not allows("operator", refused)
    assert allows("operator", "billing:read") and allows("operator", "usage:read")


def test_viewer_reads_only_and_billing_writes_only_usage_and_billing() -> None:
    assert not any(name.endswith(":write") for name in PERMISSIONS["viewer"])
    assert allows("viewer", "sims:read") and not allows("viewer", "users:read")
    writes = {name for name in PERMISSIONS["billing"] if name.endswith(":write")}
    assert writes == {"usage:write", "billing:write"}
    assert allows("billing", "sims:read") and not allows("billing", "sims:write")


def test_a_caller_defaults_to_admin_acting_as_its_own_credential() -> None:
    caller = Caller("AC1", "SK1", frozenset({"AC1"}))
    assert caller.role == "admin" and caller.actor_kind == "auth_token" and caller.actor_sid == "SK1"
    assert caller.may("users:write")
    assert set(ROLES) == set(PERMISSIONS)


def test_a_misspelt_permission_fails_at_once() -> None:
    with pytest.raises(ValueError):
        permission("sim", "read")
