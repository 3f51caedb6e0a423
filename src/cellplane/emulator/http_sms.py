"""The emulator's SMS control API, beside http.py's: a device sends an SMS, and shows the SMS it has.

    POST /cellplane/v1/Emulator/Devices/{Iccid}/Sms   Body=... [BodyType]  the device sends an SMS to the platform (MO)
    GET  /cellplane/v1/Emulator/Devices/{Iccid}/Sms   [Direction]          its inbox (to_sim, the default) or sent box

An SMS is text (`BodyType` text, the default) or 8-bit data (`BodyType` binary, `Body` in base64, as the
Datagrams API takes a binary payload); a message shows its `body` the same way, with its `body_type`, its
`alphabet` and the TP-DCS it travelled with (`data_coding`: 0 GSM 7-bit, 4 8-bit data, 8 UCS-2).

Same seams and wire conventions as http.py (`authenticate`, `owns`; errors naming the parameter; keyset
paging), so a test drives a device's SMS exactly as it drives its radio.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from .http import PREFIX, Authenticate, Ownership
from .http_wire import Params, answered, base_url, form, invalid, iso, list_body, missing, not_found, query
from .sms import Sms, SmsApp

MAX_BODY_FIELD = 1600  # far above one SMS: a longer field is refused before it is measured
DIRECTIONS = ("to_sim", "from_sim")
BODY_TYPES = ("text", "binary")


def router(sms: SmsApp, authenticate: Authenticate, owns: Ownership, *, prefix: str = PREFIX) -> APIRouter:
    api = APIRouter(prefix=prefix, tags=["cellplane v1 emulator"])

    async def check(caller: Any, iccid: str) -> None:
        if iccid not in await owns(caller, [iccid]):
            raise not_found("Sim", iccid)  # another account's SIM is as unknown as none

    @api.post("/Devices/{iccid}/Sms")
    @answered
    async def send(request: Request, iccid: str) -> Response:
        """The device sends `Body` to the platform's number; 201 with the network's answer (`status` accepted,
        or refused with the RP-Cause)."""
        caller = await authenticate(request)  # before anything of the request is read: 401 before any 400
        body = _body(await form(request))
        await check(caller, iccid)
        sent = await sms.send(iccid, body)
        return JSONResponse(render(request, iccid, sent), status_code=201)

    @api.get("/Devices/{iccid}/Sms")
    @answered
    async def messages(request: Request, iccid: str) -> Response:
        caller = await authenticate(request)
        params = query(request)
        direction = params.string("Direction", max_length=8) or "to_sim"
        if direction not in DIRECTIONS:
            raise invalid("Direction", f"Direction must be one of {', '.join(DIRECTIONS)}")
        await check(caller, iccid)
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


def _body(params: Params) -> str | bytes:
    """The SMS text (line breaks are SMS characters, TS 23.038 has LF and CR, so only NUL is refused), or with
    BodyType binary the bytes of 8-bit data, given in base64."""
    kind = params.string("BodyType", max_length=8) or "text"
    if kind not in BODY_TYPES:
        raise invalid("BodyType", f"BodyType must be one of {', '.join(BODY_TYPES)}")
    values = [value for name, value in params.pairs if name == "Body"]
    if not values or not values[-1]:
        raise missing("Body")
    if len(values[-1]) > MAX_BODY_FIELD:
        raise invalid("Body", f"Body must be at most {MAX_BODY_FIELD} characters")
    if kind == "binary":
        try:
            return base64.b64decode(values[-1].encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise invalid("Body", "Body must be base64 when BodyType is binary") from None
    if "\x00" in values[-1]:
        raise invalid("Body", "Body must not contain NUL characters")
    return values[-1]


def render(request: Request, iccid: str, sms: Sms) -> dict[str, Any]:
    inbound = sms.direction == "to_sim"
    binary = isinstance(sms.message, bytes)
    body = base64.b64encode(sms.message).decode("ascii") if isinstance(sms.message, bytes) else sms.message
    return {
        "iccid": iccid,
        "direction": sms.direction,
        "from": sms.peer if inbound else None,
        "to": None if inbound else sms.peer,
        "body": body,
        "body_type": "binary" if binary else "text",
        "alphabet": sms.alphabet,
        "data_coding": sms.data_coding,
        "status": "received" if inbound else ("accepted" if sms.accepted else "refused"),
        "rp_cause": sms.cause,
        "reason": sms.reason,
        "date_created": iso(sms.at),
        "url": f"{base_url(request)}{PREFIX}/Devices/{iccid}/Sms",
    }
