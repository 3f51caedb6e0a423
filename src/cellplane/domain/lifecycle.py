"""The SIM lifecycle: one state machine, a transition table per product surface.

Super SIM (seed 004, Sim resource): new → ready | active, ready → active | inactive, active ⇄ inactive,
never back to new; ready is only reachable from new. Updates that touch the network pass through
`scheduled` and complete asynchronously.

Programmable Wireless (seed 003, Sim resource "Status Values") is the same machine under other names.
The `sims.status` column always holds the one lifecycle's name; each surface shows its own:

    stored (one lifecycle)   Super SIM    Wireless
    new                      new          new
    ready                    ready        ready
    active                   active       active
    inactive                 inactive     suspended     (blocked from the network, can come back)
    scheduled                scheduled    updating      (a change the network is carrying out)
    deactivated              —            deactivated   (blocked; becomes canceled by itself after 72 h)
    canceled                 —            canceled      (terminal: never reactivated)

Wireless: new → ready | active | suspended | deactivated; ready → active | suspended | deactivated;
active ⇄ suspended; active | suspended → deactivated; deactivated → canceled only automatically; canceled is
final. Ready and active need a rate plan (error 33104). The hosted `scheduled` status ("the operator is not
accepting transactions now") is never entered here: a change is taken by the network at once, shown as
`updating` until it completes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from cellplane.domain.errors import ConcurrentChange, InvalidParameter, InvalidTransition

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

# The status a SIM shows while the network carries out an update (the same for every product).
IN_FLIGHT = "scheduled"


def reachable_status(status: str, pending_status: str | None) -> str:
    """The status that decides whether a SIM may take commands: while an update is in flight, where it is going
    (an active SIM moving to another fleet stays reachable; one being deactivated does not)."""
    return pending_status if status == IN_FLIGHT and pending_status else status


def takes_commands(status: str, pending_status: str | None) -> bool:
    return reachable_status(status, pending_status) in CONNECTABLE


WIRELESS_STATUSES = ("new", "ready", "active", "suspended", "deactivated", "canceled", "scheduled", "updating")
# What a Wireless update may ask for; canceled, new and the in-flight names are reached only by the platform.
WIRELESS_TARGETS = ("ready", "active", "suspended", "deactivated")
# Targets that only a SIM with a rate plan can reach (hosted error 33104: "not associated with a Rate Plan").
NEEDS_RATE_PLAN = frozenset({"ready", "active"})

# Stored name -> Wireless name where they differ (everything else reads the same on both).
_WIRELESS_NAMES = {"inactive": "suspended", "scheduled": "updating"}
_STORED_NAMES = {wireless: stored for stored, wireless in _WIRELESS_NAMES.items()}

# In stored names.
WIRELESS_TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"ready", "active", "inactive", "deactivated"}),
    "ready": frozenset({"active", "inactive", "deactivated"}),
    "active": frozenset({"inactive", "deactivated"}),
    "inactive": frozenset({"active", "deactivated"}),
    "deactivated": frozenset(),
    "canceled": frozenset(),
}


@dataclass(frozen=True)
class Automatic:
    """A transition the platform makes by itself some time after a status is reached."""

    target: str
    after: timedelta


# Seed 003: "deactivated — After 72 hours, the SIM will transition automatically to the canceled status."
AUTOMATIC: dict[str, Automatic] = {"deactivated": Automatic("canceled", timedelta(hours=72))}


def check_supersim_transition(current: str, target: str) -> None:
    """Raise if the Super SIM cannot go from `current` to `target` (a no-op change is allowed)."""
    if target not in SUPERSIM_TARGETS:
        raise InvalidParameter("Status", f"Status must be one of {', '.join(SUPERSIM_TARGETS)}")
    if current == target:
        return
    if current == IN_FLIGHT:
        raise ConcurrentChange("The Sim has an update in progress; retry when it completes", parameter="Status")
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


def wireless_name(stored: str) -> str:
    """The Wireless surface's name for a stored status."""
    return _WIRELESS_NAMES.get(stored, stored)


def stored_name(wireless: str) -> str:
    """The stored status a Wireless name stands for (`scheduled` has none and is returned unchanged)."""
    return _STORED_NAMES.get(wireless, wireless)


def surface_name(product: str, stored: str) -> str:
    """A stored status as the SIM's own product surface shows it (callbacks carry this name)."""
    return wireless_name(stored) if product == "wireless" else stored


def check_wireless_transition(current: str, target: str) -> str:
    """The stored status a Wireless SIM in stored status `current` moves to when asked for `target`.

    Raises InvalidTransition (hosted error 33105) when the Wireless table does not allow it; asking
    for the status the SIM already has is allowed (and changes nothing).
    """
    if target not in WIRELESS_TARGETS:
        raise InvalidTransition(
            f"Status can only be updated to one of {', '.join(WIRELESS_TARGETS)}", code=33105, parameter="Status"
        )
    wanted = stored_name(target)
    if current == wanted:
        return wanted
    if current == IN_FLIGHT:
        raise InvalidTransition("The Sim is updating; retry when the update completes", code=33105, parameter="Status")
    if wanted not in WIRELESS_TRANSITIONS.get(current, frozenset()):
        raise InvalidTransition(
            f"A Sim cannot move from {wireless_name(current)} to {target}", code=33105, parameter="Status"
        )
    return wanted
