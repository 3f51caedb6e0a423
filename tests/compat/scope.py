"""Which Super SIM operations the compat tests hold the platform to, and whether the app routes them yet."""

from __future__ import annotations

from functools import cache

from scripts.spec_coverage import SUPERSIM, Operation, is_routed, served_routes, spec_operations

# Resources whose issue has not landed yet. Delete a name here to put its operations under test.
DEFERRED = frozenset({"UsageRecords"})


@cache
def in_scope() -> tuple[Operation, ...]:
    return tuple(op for op in spec_operations(SUPERSIM) if op.resource not in DEFERRED)


@cache
def unrouted() -> frozenset[str]:
    """operationIds in scope whose module is still a placeholder (the app has no route for them)."""
    routes = served_routes()
    return frozenset(op.operation_id for op in in_scope() if not is_routed(op, routes))
