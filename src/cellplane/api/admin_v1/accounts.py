"""Admin: create accounts (and subaccounts) and API keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.admin_v1.operator import require_operator
from cellplane.api.wire.db import transaction
from cellplane.api.wire.forms import form_params
from cellplane.api.wire.render import iso, json_response
from cellplane.services import accounts as service
from cellplane.store.models import Account

router = APIRouter()


def render(account: Account) -> dict[str, Any]:
    return {
        "account_sid": account.sid,
        "auth_token": account.auth_token,
        "friendly_name": account.friendly_name,
        "parent_sid": account.parent_sid,
        "status": account.status,
        "date_created": iso(account.date_created),
    }


@router.post("/Accounts")
async def create_account(request: Request) -> Response:
    require_operator(request)
    params = await form_params(request)
    async with transaction(request) as session:
        account = await service.create_account(
            session, params.string("FriendlyName", max_length=64), params.string("ParentSid", max_length=34) or None
        )
        body = render(account)
    return json_response(body, status=201)


@router.post("/Accounts/{sid}/Keys")
async def create_key(request: Request, sid: str) -> Response:
    require_operator(request)
    params = await form_params(request)
    async with transaction(request) as session:
        key = await service.create_api_key(session, sid, params.string("FriendlyName", max_length=64))
    return json_response({"sid": key.sid, "secret": key.secret, "account_sid": key.account_sid}, status=201)
