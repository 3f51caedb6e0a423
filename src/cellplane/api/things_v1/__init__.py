"""The private-network surface (THINGS.md), mounted at /things/v1: one module per resource, thin routers, its own
wire conventions (wire.py): JSON, ETag/If-Match, its error envelope and response headers, keyset pages."""

from __future__ import annotations

from fastapi import APIRouter

from cellplane.api.things_v1 import (
    billing,
    bulk_actions,
    events,
    imei_changes,
    ip_pools,
    ip_profiles,
    nat_rules,
    networks,
    routes,
    sms,
    things,
    things_groups,
    vpn_tunnels,
)
from cellplane.api.things_v1.wire import PREFIX, SurfaceHeaders, error_response

__all__ = ["PREFIX", "SurfaceHeaders", "error_response", "router"]


def router() -> APIRouter:
    combined = APIRouter(prefix=PREFIX, tags=["IoT Programmable SIM (things/v1)"])
    for module in (
        things,
        sms,
        things_groups,
        networks,
        ip_pools,
        routes,
        nat_rules,
        vpn_tunnels,
        ip_profiles,
        events,
        bulk_actions,
        imei_changes,
        billing,
    ):
        combined.include_router(module.router)
    return combined
