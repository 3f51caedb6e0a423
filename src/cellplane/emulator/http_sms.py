"""The emulator's SMS control API, beside http.py's: a device sends an SMS, and shows the SMS it has.

    POST /cellplane/v1/Emulator/Devices/{Iccid}/Sms   Body=...     the device sends an SMS to the platform (MO)
    GET  /cellplane/v1/Emulator/Devices/{Iccid}/Sms   [Direction]  its inbox (to_sim, the default) or sent box

Same seams and wire conventions as http.py (`authenticate`, `owns`; errors naming the parameter; keyset
paging), so a test drives a device's SMS exactly as it drives its radio.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from .http import PREFIX, Authenticate, Ownership
from .http_wire import Params, answered, base_url, form, invalid, iso, list_body, missing, not_found, query
from .sms import Sms, SmsApp

MAX_BODY_FIELD = 1600  # far above one SMS: a longer field is refused before it is measured
DIRECTIONS = ("to_sim", "from_sim")


def router(sms: SmsApp, authenticate: Authenticate, owns: Ownership, *, prefix: str = PREFIX) -> APIRouter:
    api = APIRouter(prefix=prefix, tags=["cellplane v1 emulator"])

    async def check(request: Request, iccid: str) -> None:
        caller = await authenticate(request)
        if iccid not in await owns(caller, [iccid]):
            raise not_found("Sim", iccid)  # another account's SIM is as unknown as none

    @api.post("/Devices/{iccid}/Sms")
    @answered
    async def send(request: Request, iccid: str) -> Response:
        """The device sends `Body` to the platform's number; 201 with the network's answer (`status` accepted,
        or refused with the RP-Cause)."""
        body = _body(await form(request))
        await check(request, iccid)
        sent = await sms.send(iccid, body)
        return JSONResponse(render(request, iccid, sent), status_code=201)

    @api.get("/Devices/{iccid}/Sms")
    @answered
    async def messages(request: Request, iccid: str) -> Response:
        params = query(request)
        direction = params.string("Direction", max_length=8) or "to_sim"
        if direction not in DIRECTIONS:
            raise invalid("Direction", f"Direction must be one of {', '.join(DIRECTIONS)}")
        await check(request, iccid)
        box = sms.inbox(iccid) if direction == "to_sim" else sms.sent(iccid)
        numbered = list(enumerate(box))
        body = list_body(
            request,
            params,
            "messages",
            numbered,
            lambda item: f"{item[0]:08d}",
            lambda item: render(request, iccid, item[1]),
        )
        return JSONResponse(body)

    return api


def _body(params: Params) -> str:
    """The SMS text: line breaks are SMS characters (TS 23.038 has LF and CR), so only NUL is refused."""
    values = [value for name, value in params.pairs if name == "Body"]
    if not values or not values[-1]:
        raise missing("Body")
    if len(values[-1]) > MAX_BODY_FIELD:
        raise invalid("Body", f"Body must be at most {MAX_BODY_FIELD} characters")
    if "\x00" in values[-1]:
        raise invalid("Body", "Body must not contain NUL characters")
    return values[-1]


def render(request: Request, iccid: str, sms: Sms) -> dict[str, Any]:
    inbound = sms.direction == "to_sim"
    return {
        "iccid": iccid,
        "direction": sms.direction,
        "from": sms.peer if inbound else None,
        "to": None if inbound else sms.peer,
        "body": sms.text,
        "alphabet": sms.alphabet,
        "status": "received" if inbound else ("accepted" if sms.accepted else "refused"),
        "rp_cause": sms.cause,
        "reason": sms.reason,
        "date_created": iso(sms.at),
        "url": f"{base_url(request)}{PREFIX}/Devices/{iccid}/Sms",
    }
