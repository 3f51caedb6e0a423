"""Each route declares its permission once: its router's route class names the resource, the method the action.

`router = APIRouter(route_class=guarded("sims"))` makes every route of that router require `sims:read` (GET, HEAD)
or `sims:write` (any other method); `authenticate` reads it from the matched route, the hot routes too (they are
served with their FastAPI route in the scope: api/wire/hot.py). The permission is also published in
/openapi.json (`x-cellplane-permission`), and the permission matrix test is generated from these routes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute

from cellplane.domain.permissions import permission

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class GuardedRoute(APIRoute):
    resource: str = ""
    permission: str

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        action = "read" if set(self.methods or ()) <= READ_METHODS else "write"
        self.permission = permission(self.resource, action)
        self.openapi_extra = {**(self.openapi_extra or {}), "x-cellplane-permission": self.permission}


@cache
def guarded(resource: str) -> type[GuardedRoute]:
    """The route class of a router whose routes act on `resource` (one of domain.permissions.RESOURCES)."""
    permission(resource, "read")  # an unknown resource fails here, at import
    return type(f"Guarded_{resource}", (GuardedRoute,), {"resource": resource})


def declare(router: APIRouter, resource: str) -> APIRouter:
    """Give the routes of a router built where api/ may not be imported (the emulator's) the same declaration."""
    for route in router.routes:
        if isinstance(route, APIRoute):
            action = "read" if set(route.methods or ()) <= READ_METHODS else "write"
            route.permission = permission(resource, action)  # type: ignore[attr-defined]
    return router
