"""Things (THINGS.md): their states on the one SIM lifecycle, and where they may attach.

A Thing is a `sims` row of product "things"; its state is stored in the lifecycle's names, shown in the
surface's own:

    stored       Things
    new          PROVISIONED   (never attached; no monthly fee)
    active       ACTIVE        (the only state that attaches)
    inactive     SUSPENDED     (refused at attach; can come back)
    canceled     RETIRED       (final)
    scheduled    the target    (the network is applying the change: the API answered 202)

PROVISIONED → ACTIVE, ACTIVE ⇄ SUSPENDED, any state → RETIRED. Every change touches the network (it decides
who attaches), so every change answers 202 and completes through the `sim_update` job as SIM updates do.

Coverage is the seed's constraint: networks of the Netherlands, Belgium and Luxembourg, over 2G, 3G, 4G or
LTE-M; NB-IoT "is planned in the future but not yet available", so it is refused with a reason of its own.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from cellplane.domain.errors import InvalidParameter, PreconditionFailed

PRODUCT = "things"

PROVISIONED, ACTIVE, SUSPENDED, RETIRED = "PROVISIONED", "ACTIVE", "SUSPENDED", "RETIRED"
STATES = (PROVISIONED, ACTIVE, SUSPENDED, RETIRED)

_STORED = {PROVISIONED: "new", ACTIVE: "active", SUSPENDED: "inactive", RETIRED: "canceled"}
_SHOWN = {stored: shown for shown, stored in _STORED.items()}
IN_FLIGHT = "scheduled"

TRANSITIONS: dict[str, frozenset[str]] = {
    PROVISIONED: frozenset({ACTIVE, RETIRED}),
    ACTIVE: frozenset({SUSPENDED, RETIRED}),
    SUSPENDED: frozenset({ACTIVE, RETIRED}),
    RETIRED: frozenset(),
}

COVERAGE_COUNTRIES = frozenset({"NL", "BE", "LU"})
# Radio links as the AAA names them (network/aaa/attributes.RADIO_LINKS): 4G is "LTE".
COVERAGE_RADIOS = frozenset({"2G", "3G", "LTE", "LTE-M"})


def stored_status(state: str) -> str:
    return _STORED[state]


def state_of(status: str, pending_status: str | None) -> str:
    """The state shown for a stored status; while a change is in flight, the state it is going to."""
    if status == IN_FLIGHT and pending_status:
        status = pending_status
    return _SHOWN.get(status, PROVISIONED)


def check_transition(status: str, pending_status: str | None, target: str) -> str | None:
    """The stored status a change to `target` asks for, or None when the Thing is there already.

    Raises InvalidParameter naming `state` for an unknown state, a change the machine does not allow, or a
    change asked while another is still being applied (retry once it completes)."""
    if target not in STATES:
        raise InvalidParameter("state", f"state must be one of {', '.join(STATES)}")
    if status == IN_FLIGHT:
        raise InvalidParameter("state", "The Thing has a state change in progress; retry when it completes")
    current = state_of(status, pending_status)
    if current == target:
        return None
    if target not in TRANSITIONS[current]:
        raise InvalidParameter("state", f"A Thing cannot move from {current} to {target}")
    return _STORED[target]


def covered(iso_country: str | None) -> bool:
    return iso_country in COVERAGE_COUNTRIES


def radio_supported(radio_link: str | None) -> bool:
    """Unknown radio (a NAS that does not report 3GPP-RAT-Type) is not held against the Thing."""
    return radio_link is None or radio_link in COVERAGE_RADIOS


def etag(sid: str, updated: datetime) -> str:
    """A resource's ETag: its version is its last change (every change stamps `updatedAt`)."""
    digest = hashlib.sha256(f"{sid}:{updated.isoformat()}".encode()).hexdigest()[:20]
    return f'"{digest}"'


def check_if_match(if_match: str | None, sid: str, updated: datetime, resource: str) -> None:
    """RFC 9110 §13.1.1: `*` or a list of ETags, one of which must be the current one (weak ones compare too)."""
    if if_match is None:
        return
    wanted = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if "*" in wanted or etag(sid, updated) in wanted:
        return
    raise PreconditionFailed(resource, sid)
