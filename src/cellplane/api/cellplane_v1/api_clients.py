"""ApiClients: an account's OAuth2 client credentials — create (secret shown once), list, fetch, delete (revokes)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.wire.auth import authenticate, forget_credentials
from cellplane.api.wire.db import reading, transaction
from cellplane.api.wire.forms import form_params, query_params
from cellplane.api.wire.guard import guarded
from cellplane.api.wire.paging import list_body, page_spec
from cellplane.api.wire.render import iso, json_response
from cellplane.api.wire.urls import surface_base
from cellplane.domain.ids import is_sid
from cellplane.services import api_clients as service
from cellplane.store.models import ApiClient

router = APIRouter(route_class=guarded("api_clients"))


def render(request: Request, client: ApiClient, secret: str | None = None) -> dict[str, Any]:
    """`client_secret` is in the body only when the client is created: the store keeps just its hash."""
    body = {
        "sid": client.sid,
        "client_id": client.sid,
        "account_sid": client.account_sid,
        "friendly_name": client.friendly_name,
        "role": client.role,
        "token_lifetime": client.token_lifetime,
        "token_lifetime_seconds": service.LIFETIMES[client.token_lifetime],
        "created_by": client.created_by,
        "date_created": iso(client.date_created),
        "date_last_used": iso(client.date_last_used),
        "url": f"{surface_base(request, 'cellplane/v1')}/ApiClients/{client.sid}",
    }
    if secret is not None:
        body["client_secret"] = secret
    return body


@router.post("/ApiClients")
async def create_api_client(request: Request) -> Response:
    caller = await authenticate(request)
    params = await form_params(request)
    async with transaction(request) as session:
        made = await service.create(
            session,
            caller.account_sid,
            params.string("Role", max_length=16),
            params.string("TokenLifetime", max_length=8),
            params.string("FriendlyName", max_length=64),
            created_by=caller.actor_sid,
        )
        body = render(request, made.client, made.client_secret)
    return json_response(body, status=201, headers={"Cache-Control": "no-store"})


@router.get("/ApiClients")
async def list_api_clients(request: Request) -> Response:
    caller = await authenticate(request)
    params = query_params(request)
    spec = page_spec(params, validate_key=is_sid)
    async with reading(request) as session:
        page = await service.list_clients(session, caller, spec)
    return json_response(
        list_body(request, params, "api_clients", spec, page, [render(request, c) for c in page.items])
    )


@router.get("/ApiClients/{sid}")
async def fetch_api_client(request: Request, sid: str) -> Response:
    caller = await authenticate(request)
    async with reading(request) as session:
        client = await service.fetch(session, caller, sid)
    return json_response(render(request, client))


@router.delete("/ApiClients/{sid}")
async def delete_api_client(request: Request, sid: str) -> Response:
    """Deletes the client and every token it issued; this process's cache of verified tokens is emptied at once."""
    caller = await authenticate(request)
    async with transaction(request) as session:
        await service.delete(session, caller, sid)
    forget_credentials(request)
    return Response(status_code=204)
