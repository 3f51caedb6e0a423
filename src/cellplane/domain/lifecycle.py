"""The SIM lifecycle: one state machine, a transition table per product surface.

Super SIM (seed 004, Sim resource): new → ready | active, ready → active | inactive, active ⇄ inactive,
never back to new; ready is only reachable from new. Updates that touch the network pass through
`scheduled` and complete asynchronously.
"""

from __future__ import annotations

from cellplane.domain.errors import InvalidParameter

SUPERSIM_STATUSES = ("new", "ready", "active", "inactive", "scheduled")
SUPERSIM_TARGETS = ("ready", "active", "inactive")

SUPERSIM_TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"ready", "active", "inactive"}),
    "ready": frozenset({"active", "inactive"}),
    "active": frozenset({"inactive"}),
    "inactive": frozenset({"active"}),
}

# Statuses in which a SIM may use the network (attach, data, commands).
CONNECTABLE = frozenset({"ready", "active"})


def check_supersim_transition(current: str, target: str) -> None:
    """Raise if the Super SIM cannot go from `current` to `target` (a no-op change is allowed)."""
    if target not in SUPERSIM_TARGETS:
        raise InvalidParameter("Status", f"Status must be one of {', '.join(SUPERSIM_TARGETS)}")
    if current == target:
        return
    if current == "scheduled":
        raise InvalidParameter("Status", "The Sim has an update in progress; retry when it completes")
    if target not in SUPERSIM_TRANSITIONS.get(current, frozenset()):
        if target == "ready":
            message = "A Sim can only be updated to ready while its status is new"
        else:
            message = f"A Sim cannot move from {current} to {target}"
        raise InvalidParameter("Status", message)


def touches_network(current: str, target: str | None, fleet_changes: bool) -> bool:
    """Whether an update must be carried to the network (and so completes asynchronously)."""
    if target is not None and target != current:
        return True
    return fleet_changes and current in CONNECTABLE
