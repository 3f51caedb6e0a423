"""The cellplane v1 extension surface, mounted at /cellplane/v1: one module per resource, thin routers."""

from __future__ import annotations

from fastapi import APIRouter

from cellplane.api.cellplane_v1 import api_clients, audit_events, connection_events, users, webhook_deliveries

SURFACE = "cellplane/v1"


def router() -> APIRouter:
    combined = APIRouter(prefix="/cellplane/v1", tags=["cellplane v1"])
    for module in (connection_events, webhook_deliveries, api_clients, users, audit_events):
        combined.include_router(module.router)
    return combined
