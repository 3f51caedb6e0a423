"""The /things/v1 house conventions (THINGS.md): JSON bodies, the error envelope, ETag/If-Match, keyset pages,
and the seed's response headers (api-version, sunset, quota-*, strict-transport-security, CORS)."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from fastapi import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cellplane.api.wire.auth import QUOTA_KEY, authenticate
from cellplane.api.wire.db import context
from cellplane.api.wire.ratelimit import UNLIMITED, things_quota_headers
from cellplane.api.wire.render import json_response
from cellplane.domain.caller import Caller
from cellplane.domain.errors import InvalidParameter
from cellplane.domain.ids import SID_PATTERN
from cellplane.domain.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, PageSpec
from cellplane.domain.things import etag
from cellplane.services import things_packets
from cellplane.services.things_networks import ensure_defaults

PREFIX = "/things/v1"
API_VERSION = "1.0.0"
HSTS = "max-age=31536000; includeSubDomains; preload"
NAMES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    412: "PreconditionFailed",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
}
CORS_METHODS = "GET, POST, PATCH, PUT, DELETE, OPTIONS"
CORS_HEADERS = "Authorization, Content-Type, If-Match"
CORS_MAX_AGE = "600"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def error_response(status: int, message: str, info: str | None, headers: dict[str, str] | None = None) -> Response:
    """THINGS.md's error envelope; `info` names the field at fault (None when no field is)."""
    body = {
        "transactionId": uuid.uuid4().hex,
        "status": status,
        "name": NAMES.get(status, "Error"),
        "message": message,
        "info": info,
    }
    return json_response(body, status=status, headers=headers)


async def caller(request: Request) -> Caller:
    """The authenticated caller (the shared authenticator: Basic or a Bearer token, and the route's permission); it
    leaves the credential's quota in the scope for the headers. The account's default Things Group exists from
    here on."""
    found = await authenticate(request)
    ready: set[str] = request.app.state.things_accounts
    if found.account_sid not in ready:
        ctx = context(request)
        async with ctx.sessions() as session, session.begin():
            await ensure_defaults(session, found.account_sid)
        ready.add(found.account_sid)
    return found


async def body(request: Request, fields: Collection[str]) -> dict[str, Any]:
    """The JSON object of the request; an unknown field is named, as a malformed value would be."""
    raw = await request.body()
    try:
        parsed = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        raise InvalidParameter("body", "The request body is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise InvalidParameter("body", "The request body must be a JSON object")
    for name in parsed:
        if name not in fields:
            raise InvalidParameter(name, f"{name} is not a field that can be set here")
    return parsed


def boolean(values: dict[str, Any], name: str) -> bool | None:
    value = values.get(name)
    if value is not None and not isinstance(value, bool):
        raise InvalidParameter(name, f"{name} must be true or false")
    return value


def text(values: dict[str, Any], name: str) -> str | None:
    value = values.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidParameter(name, f"{name} must be a string")
    return value


def times(created: datetime, updated: datetime) -> dict[str, str]:
    return {"createdAt": _iso(created), "updatedAt": _iso(updated)}


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso(value: datetime | None) -> str | None:
    return _iso(value) if value is not None else None


def resource(content: dict[str, Any], sid: str, updated: datetime, status: int = 200) -> Response:
    return json_response(content, status=status, headers={"ETag": etag(sid, updated)})


def if_match(request: Request) -> str | None:
    return request.headers.get("if-match")


def page_spec(request: Request) -> PageSpec:
    size_text = request.query_params.get("pageSize")
    size = DEFAULT_PAGE_SIZE
    if size_text is not None:
        if not size_text.isdigit() or not 1 <= int(size_text) <= MAX_PAGE_SIZE:
            raise InvalidParameter("pageSize", f"pageSize must be an integer from 1 to {MAX_PAGE_SIZE}")
        size = int(size_text)
    token = request.query_params.get("pageToken")
    after = None
    if token:
        try:
            after = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            after = None
        if after is None or not SID_PATTERN.match(after):
            raise InvalidParameter("pageToken", "pageToken does not belong to this list")
    return PageSpec(size=size, after=after)


def page_body(page: Page[Any], items: list[dict[str, Any]]) -> Response:
    token = None
    if page.has_next and page.last_key:
        token = base64.urlsafe_b64encode(page.last_key.encode()).decode().rstrip("=")
    return json_response({"items": items, "nextPageToken": token})


# Writes under these collections touch no packet rule (a bulk action's job changes Things later: the data plane's
# periodic re-read applies them).
NO_PACKETS = frozenset({"bulkActions", "eventsCallback", "pricePlan", "imeiChanges"})
TOUCHES = {
    "things": things_packets.THING,
    "ipProfiles": things_packets.PROFILE,
    "thingsGroups": things_packets.GROUP,
    "networks": things_packets.NETWORK,
}


def packets_touched(path: str) -> things_packets.Touch | Literal[False] | None:
    """What a committed write to `path` changed of the packet rules: a Touch, None (anything may have: re-read
    all), or False (nothing)."""
    parts = path.removeprefix(PREFIX).strip("/").split("/")
    collection, rest = parts[0], parts[1:]
    if collection in NO_PACKETS or (collection == "things" and rest[1:] == ["sms"]):
        return False
    if collection == "ipProfiles" and not rest:
        return False  # a new profile is no group's yet
    if collection in TOUCHES and rest and rest[0]:
        return things_packets.Touch(TOUCHES[collection], rest[0])
    return None


class SurfaceHeaders:
    """Adds the seed's headers to every /things/v1 response (errors included) and answers CORS preflights.

    The quota headers are the shared rate limiter's numbers for the caller's credential, as the RateLimit headers
    show them (api/wire/ratelimit.py).
    """

    def __init__(self, app: ASGIApp, origins: Collection[str]) -> None:
        self.app = app
        self.origins = frozenset(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        request_headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        origin = request_headers.get("origin")
        allowed = origin is not None and (origin in self.origins or "*" in self.origins)
        if scope["method"] == "OPTIONS" and "access-control-request-method" in request_headers:
            status = 204 if allowed else 403
            response = Response(status_code=status, headers=self._headers(scope, origin if allowed else None, True))
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                if scope["method"] not in SAFE_METHODS and message["status"] < 400:
                    # A write committed (the response follows its transaction): packet rules follow it now, re-read
                    # for what the write touched only.
                    touched = packets_touched(str(scope.get("path", "")))
                    if touched is not False:
                        things_packets.changed(scope["app"].state.ctx, touched)
                extra = self._headers(scope, origin if allowed else None, False)
                message["headers"] = [
                    *message.get("headers", []),
                    *((k.encode(), v.encode()) for k, v in extra.items()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _headers(self, scope: Scope, origin: str | None, preflight: bool) -> dict[str, str]:
        headers = {
            "api-version": API_VERSION,
            "sunset": "n/a",
            **things_quota_headers(scope.get(QUOTA_KEY) or UNLIMITED),
            "strict-transport-security": HSTS,
        }
        if origin is not None:
            headers.update(
                {
                    "access-control-allow-origin": origin,
                    "access-control-allow-credentials": "true",
                    "vary": "Origin",
                }
            )
            if preflight:
                headers.update(
                    {
                        "access-control-allow-methods": CORS_METHODS,
                        "access-control-allow-headers": CORS_HEADERS,
                        "access-control-max-age": CORS_MAX_AGE,
                    }
                )
            else:
                headers["access-control-expose-headers"] = "ETag, api-version, sunset, quota-limit, quota-used"
        return headers
