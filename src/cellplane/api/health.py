"""/healthz (the database answers) and /metrics (Prometheus text format)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.responses import Response

from cellplane.api.openapi import common as c
from cellplane.api.openapi.document import Operation, SurfaceDocs
from cellplane.api.wire.db import reading
from cellplane.api.wire.render import json_response
from cellplane.services.metrics import read_backlog
from cellplane.store.models.base import utcnow

log = logging.getLogger("cellplane.api")

router = APIRouter()


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
async def metrics(request: Request) -> Response:
    """The registry, with the job queue's gauges read fresh (a database that does not answer leaves them as they
    were: /healthz reports that, and the process metrics still matter)."""
    try:
        async with reading(request) as session:
            await read_backlog(session, utcnow())
    except Exception:  # a scrape must not fail because the database does
        log.warning("metrics: the job backlog could not be read", exc_info=True)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def surface_docs() -> SurfaceDocs:
    """/healthz and /metrics in the OpenAPI document (no credentials: probes and scrapers call them)."""
    health = c.operation(
        "Whether this node and its database answer",
        operation_id="Health",
        tag="operations",
        security=None,
        errors=(),
        responses={
            "200": c.json_response("Healthy", HEALTH),
            "503": c.json_response("The database does not answer; `database` says why", HEALTH),
        },
    )
    metrics = c.operation(
        "Prometheus metrics (text exposition format); README.md lists them, docs/alerts.yml alerts on them",
        operation_id="Metrics",
        tag="operations",
        security=None,
        errors=(),
        responses={"200": {"description": "Metrics", "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    )
    operations = {("GET", "/healthz"): health, ("GET", "/metrics"): metrics}

    def describe(method: str, path: str) -> tuple[str, Operation] | None:
        found = operations.get((method, path))
        return (path, found) if found is not None else None

    return SurfaceDocs(
        prefix="/",
        describe=describe,
        title="operations",
        tags=[{"name": "operations", "description": "Health and metrics"}],
    )


HEALTH = {
    "type": "object",
    "required": ["status", "database"],
    "additionalProperties": False,
    "properties": {
        "status": {"type": "string", "enum": ["ok", "unhealthy"]},
        "database": {"type": "string"},
        "data_plane": {
            "type": "object",
            "description": "The data plane (routing domains): `status` on or off; when off, why and how to turn it on",
            "required": ["status"],
            "properties": {
                "status": {"type": "string", "enum": ["on", "off"]},
                "reason": {"type": "string"},
                "how_to_enable": {"type": "string"},
            },
        },
    },
}
