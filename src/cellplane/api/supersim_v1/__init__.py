"""The Super SIM v1 surface, mounted at /supersim/v1: one module per resource, thin routers."""

from __future__ import annotations

from fastapi import APIRouter

from cellplane.api.supersim_v1 import (
    billing_periods,
    esim_profiles,
    fleets,
    ip_addresses,
    ip_commands,
    network_access_profiles,
    networks,
    settings_updates,
    sims,
    sms_commands,
    usage_records,
)
from cellplane.api.wire.hot import HotRoute

SURFACE = "supersim/v1"


def router() -> APIRouter:
    combined = APIRouter(prefix="/supersim/v1", tags=["Super SIM v1"])
    for module in (
        sims,
        fleets,
        network_access_profiles,
        networks,
        billing_periods,
        ip_addresses,
        esim_profiles,
        settings_updates,
        usage_records,
        ip_commands,
        sms_commands,
    ):
        combined.include_router(module.router)
    return combined


def hot_routes() -> list[HotRoute]:
    """The hottest endpoints (GET one SIM, POST IpCommands), for api/wire/hot.py to serve ahead of FastAPI's routing."""
    routes = [route for module in (sims, ip_commands) for route in module.HOT_ROUTES]
    return [(method, f"/{SURFACE}{path}", endpoint) for method, path, endpoint in routes]
