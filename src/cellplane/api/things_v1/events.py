"""The account's events URL: GET and PUT /things/v1/eventsCallback ({url, method}; a null url turns events off)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.things_v1.wire import body, caller, resource, text, times
from cellplane.api.wire.db import reading, transaction
from cellplane.api.wire.forms import Params
from cellplane.api.wire.guard import guarded
from cellplane.domain.errors import InvalidParameter
from cellplane.services import things_events as service
from cellplane.store.models import Account

router = APIRouter(route_class=guarded("webhooks"))


def render(account: Account) -> dict[str, Any]:
    return {
        "id": account.sid,
        "url": account.events_callback_url,
        "method": account.events_callback_method if account.events_callback_url else None,
        **times(account.date_created, account.date_updated),
    }


def check_url(request: Request, value: str | None) -> str | None:
    """The platform's common callback-URL check (api/wire/forms.Params.url with the operator's callback policy), so
    the events URL obeys the rule every callback does; it is checked again when each event is sent."""
    if value is None or value == "":
        return None
    targets = getattr(request.app.state, "callback_targets", None)
    return Params([("url", value)], targets).url("url", max_length=1024)


@router.get("/eventsCallback")
async def fetch_events_callback(request: Request) -> Response:
    who = await caller(request)
    async with reading(request) as session:
        account = await service.get(session, who.account_sid)
        content = render(account)
    return resource(content, account.sid, account.date_updated)


@router.put("/eventsCallback")
async def put_events_callback(request: Request) -> Response:
    who = await caller(request)
    values = await body(request, ("url", "method"))
    url = check_url(request, text(values, "url"))
    method = text(values, "method")
    if method is not None and method.upper() not in ("GET", "POST"):
        raise InvalidParameter("method", "method must be GET or POST")
    async with transaction(request) as session:
        account = await service.put(session, who.account_sid, url, method)
        content = render(account)
    return resource(content, account.sid, account.date_updated)
