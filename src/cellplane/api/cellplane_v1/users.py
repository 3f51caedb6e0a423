"""Users: the people of an account and their roles — create, list, fetch, update, delete. Never a password out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.wire.auth import authenticate
from cellplane.api.wire.db import reading, transaction
from cellplane.api.wire.forms import form_params, query_params
from cellplane.api.wire.guard import guarded
from cellplane.api.wire.paging import list_body, page_spec
from cellplane.api.wire.render import iso, json_response
from cellplane.api.wire.urls import surface_base
from cellplane.domain.ids import is_sid
from cellplane.services import users as service
from cellplane.store.models import User

router = APIRouter(route_class=guarded("users"))


def render(request: Request, user: User) -> dict[str, Any]:
    return {
        "sid": user.sid,
        "account_sid": user.account_sid,
        "email": user.email,
        "friendly_name": user.friendly_name,
        "role": user.role,
        "created_by": user.created_by,
        "date_created": iso(user.date_created),
        "date_updated": iso(user.date_updated),
        "date_last_sign_in": iso(user.date_last_sign_in),
        "url": f"{surface_base(request, 'cellplane/v1')}/Users/{user.sid}",
    }


@router.post("/Users")
async def create_user(request: Request) -> Response:
    caller = await authenticate(request)
    params = await form_params(request)
    async with transaction(request) as session:
        user = await service.create(
            session,
            caller,
            params.string("Email", max_length=254),
            params.string("Role", max_length=16),
            params.string("Password", max_length=service.MAX_PASSWORD),
            params.string("FriendlyName", max_length=64),
        )
        body = render(request, user)
    return json_response(body, status=201)


@router.get("/Users")
async def list_users(request: Request) -> Response:
    caller = await authenticate(request)
    params = query_params(request)
    spec = page_spec(params, validate_key=is_sid)
    async with reading(request) as session:
        page = await service.list_users(session, caller, spec)
    return json_response(list_body(request, params, "users", spec, page, [render(request, u) for u in page.items]))


@router.get("/Users/{sid}")
async def fetch_user(request: Request, sid: str) -> Response:
    caller = await authenticate(request)
    async with reading(request) as session:
        user = await service.fetch(session, caller, sid)
    return json_response(render(request, user))


@router.post("/Users/{sid}")
async def update_user(request: Request, sid: str) -> Response:
    caller = await authenticate(request)
    params = await form_params(request)
    change = service.UserChange(
        friendly_name=params.string("FriendlyName", max_length=64),
        role=params.string("Role", max_length=16),
        password=params.string("Password", max_length=service.MAX_PASSWORD),
    )
    async with transaction(request) as session:
        user = await service.update(session, caller, sid, change)
        body = render(request, user)
    return json_response(body)


@router.delete("/Users/{sid}")
async def delete_user(request: Request, sid: str) -> Response:
    caller = await authenticate(request)
    async with transaction(request) as session:
        await service.delete(session, caller, sid)
    return Response(status_code=204)
