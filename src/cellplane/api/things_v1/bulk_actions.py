"""Bulk actions: POST (202 + Location), list, fetch, items (with each outcome and error), cancel.

Cancel is `POST /bulkActions/{id}/cancel` (an action on the resource, which stays readable afterwards), not
DELETE: the record of what was done is kept."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.things_v1.wire import PREFIX, body, caller, iso, page_body, page_spec, resource, times
from cellplane.api.wire.db import reading, transaction
from cellplane.api.wire.guard import guarded
from cellplane.api.wire.render import json_response
from cellplane.domain.errors import InvalidParameter
from cellplane.domain.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from cellplane.services import things_bulk as service
from cellplane.store.models import BulkAction, BulkItem

router = APIRouter(route_class=guarded("bulk"))


def render(bulk: BulkAction) -> dict[str, Any]:
    return {
        "id": bulk.sid,
        "action": bulk.action,
        "parameters": bulk.parameters,
        "selection": bulk.selection,
        "status": bulk.status,
        "total": bulk.total,
        "succeeded": bulk.succeeded,
        "failed": bulk.failed,
        "completedAt": iso(bulk.completed_at),
        "links": {"items": f"{PREFIX}/bulkActions/{bulk.sid}/items"},
        **times(bulk.date_created, bulk.date_updated),
    }


def render_item(item: BulkItem) -> dict[str, Any]:
    return {
        "position": item.position,
        "thingId": item.thing_sid,
        "outcome": item.outcome,
        "error": item.error,
        "updatedAt": iso(item.date_updated),
    }


@router.post("/bulkActions")
async def create_bulk_action(request: Request) -> Response:
    who = await caller(request)
    values = await body(request, ("action", "parameters", "selection"))
    async with transaction(request) as session:
        bulk = await service.create(
            session, who, values.get("action"), values.get("parameters"), values.get("selection")
        )
        await session.flush()
        await session.refresh(bulk)
        content = render(bulk)
    response = resource(content, bulk.sid, bulk.date_updated, status=202)
    response.headers["Location"] = f"{PREFIX}/bulkActions/{bulk.sid}"
    return response


@router.get("/bulkActions")
async def list_bulk_actions(request: Request) -> Response:
    who = await caller(request)
    spec = page_spec(request)
    async with reading(request) as session:
        page = await service.list_actions(session, who, spec)
        items = [render(bulk) for bulk in page.items]
    return page_body(page, items)


@router.get("/bulkActions/{sid}")
async def fetch_bulk_action(request: Request, sid: str) -> Response:
    who = await caller(request)
    async with reading(request) as session:
        bulk = await service.fetch(session, who, sid)
        content = render(bulk)
    return resource(content, bulk.sid, bulk.date_updated)


@router.post("/bulkActions/{sid}/cancel")
async def cancel_bulk_action(request: Request, sid: str) -> Response:
    who = await caller(request)
    async with transaction(request) as session:
        bulk = await service.cancel(session, who, sid)
        content = render(bulk)
    return resource(content, bulk.sid, bulk.date_updated)


@router.get("/bulkActions/{sid}/items")
async def list_bulk_items(request: Request, sid: str) -> Response:
    who = await caller(request)
    size, after = _item_page(request)
    async with reading(request) as session:
        rows, more = await service.items(session, who, sid, size, after, request.query_params.get("outcome"))
        items = [render_item(item) for item in rows]
    token = None
    if more and rows:
        token = base64.urlsafe_b64encode(str(rows[-1].position).encode()).decode().rstrip("=")
    return json_response({"items": items, "nextPageToken": token})


def _item_page(request: Request) -> tuple[int, int | None]:
    """pageSize as every list has it; pageToken is the last position seen (items are keyed by position)."""
    size_text = request.query_params.get("pageSize")
    size = DEFAULT_PAGE_SIZE
    if size_text is not None:
        if not size_text.isdigit() or not 1 <= int(size_text) <= MAX_PAGE_SIZE:
            raise InvalidParameter("pageSize", f"pageSize must be an integer from 1 to {MAX_PAGE_SIZE}")
        size = int(size_text)
    token = request.query_params.get("pageToken")
    if not token:
        return size, None
    try:
        decoded = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    if not decoded.isdigit():
        raise InvalidParameter("pageToken", "pageToken does not belong to this list")
    return size, int(decoded)
