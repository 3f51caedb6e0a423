"""The permission table every surface asks (domain/permissions.py): what each role may read and change."""

from __future__ import annotations

import pytest

from cellplane.domain.permissions import ROLES, allows

WRITES = ("sims:write", "fleets:write", "commands:write", "webhooks:write", "emulator:write", "bulk:write")


def test_admin_may_do_everything_the_console_asks() -> None:
    for permission in (*WRITES, "users:read", "audit:read", "sims:read", "users:write"):
        assert allows("admin", permission), permission


@pytest.mark.parametrize("permission", WRITES)
def test_a_viewer_changes_nothing_and_billing_changes_nothing(permission: str) -> None:
    assert not allows("viewer", permission)
    assert not allows("billing", permission)


def test_operator_runs_the_fleet_but_not_people() -> None:
    assert allows("operator", "sims:write") and allows("operator", "commands:write")
    assert not allows("operator", "users:read") and not allows("operator", "users:write")


def test_viewer_reads_the_fleet_and_an_unknown_role_may_do_nothing() -> None:
    assert allows("viewer", "sims:read") and allows("viewer", "webhooks:read")
    assert not allows("nobody", "sims:read")
    assert set(ROLES) == {"admin", "operator", "viewer", "billing"}
