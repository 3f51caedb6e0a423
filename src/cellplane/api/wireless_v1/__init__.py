"""The Programmable Wireless v1 surface, mounted at /wireless/v1: one module per resource, thin routers."""

from __future__ import annotations

from fastapi import APIRouter

from cellplane.api.wireless_v1 import commands, data_sessions, rate_plans, sims, usage_records

SURFACE = "wireless/v1"


def router() -> APIRouter:
    combined = APIRouter(prefix="/wireless/v1", tags=["Wireless v1"])
    for module in (sims, rate_plans, data_sessions, usage_records, commands):
        combined.include_router(module.router)
    return combined
