"""/healthz (the database answers) and /metrics (Prometheus text format)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.responses import Response

from cellplane.api.wire.db import reading
from cellplane.api.wire.render import json_response

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz(request: Request) -> Response:
    try:
        async with reading(request) as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:  # the point of a health check is to report, not raise
        return json_response({"status": "unhealthy", "database": str(exc)[:200]}, status=503)
    return json_response({"status": "ok", "database": "ok"})


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
