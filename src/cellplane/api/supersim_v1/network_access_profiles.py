"""Super SIM v1 network access profiles (to be filled in)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
