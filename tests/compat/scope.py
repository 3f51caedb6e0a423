"""Which operations of each surface the compat tests hold the platform to, and whether the app routes them yet."""

from __future__ import annotations

from functools import cache

from scripts.spec_coverage import SUPERSIM, SURFACES, Operation, Surface, is_routed, served_routes, spec_operations

WIRELESS = next(surface for surface in SURFACES if surface.mount == "/wireless")

# Resources whose issue has not landed yet, per surface. Delete a name here to put its operations under test.
DEFERRED: frozenset[str] = frozenset()  # Super SIM's
WIRELESS_DEFERRED: frozenset[str] = frozenset()
_DEFERRED = {SUPERSIM: DEFERRED, WIRELESS: WIRELESS_DEFERRED}


@cache
def in_scope(surface: Surface = SUPERSIM) -> tuple[Operation, ...]:
    return tuple(op for op in spec_operations(surface) if op.resource not in _DEFERRED[surface])


@cache
def unrouted(surface: Surface = SUPERSIM) -> frozenset[str]:
    """operationIds in scope whose module is still a placeholder (the app has no route for them)."""
    routes = served_routes()
    return frozenset(op.operation_id for op in in_scope(surface) if not is_routed(op, routes))
