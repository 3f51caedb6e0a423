"""Super SIM v1 networks (to be filled in)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
