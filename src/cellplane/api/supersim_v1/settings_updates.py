"""Super SIM v1 settings updates (to be filled in)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
