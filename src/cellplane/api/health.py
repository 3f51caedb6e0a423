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
    body: dict[str, object] = {"status": "ok", "database": "ok"}
    data_plane = getattr(request.app.state, "data_plane_status", None)
    # The routing domains behind the gateway (docs/NETWORK.md): on, or off with why and how to turn it on.
    body["data_plane"] = data_plane() if data_plane is not None else {"status": "off", "reason": "no gateway here"}
    return json_response(body)


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
