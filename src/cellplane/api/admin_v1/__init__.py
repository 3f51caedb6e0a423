"""The operator's admin surface, mounted at /admin/v1 (accounts, API keys, SIM inventory).

Authenticated with HTTP Basic `admin:<admin token>`; the token is `CELLPLANE_ADMIN_TOKEN` or the one
`cellplane up` generates in the data directory and prints. Same wire conventions as the customer surfaces.
"""

from __future__ import annotations

from fastapi import APIRouter

from cellplane.api.admin_v1 import accounts, inventory


def router() -> APIRouter:
    combined = APIRouter(prefix="/admin/v1", tags=["admin v1"])
    for module in (accounts, inventory):
        combined.include_router(module.router)
    return combined
