"""Super SIM v1 ip addresses (to be filled in)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
