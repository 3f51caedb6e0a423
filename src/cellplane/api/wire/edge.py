"""The outermost layer of the HTTP server: RateLimit headers on every authenticated response, and the audit log.

One mechanism for every surface and route, hot routes included (it wraps api/wire/hot.py): `authenticate` leaves
the caller and its quota in the ASGI scope; on the way out this layer adds the IETF RateLimit fields
(api/wire/ratelimit.py) and, for a change (any method but GET/HEAD/OPTIONS) that succeeded, hands one audit event
(who, what, when, from where: never a body, a secret or a password) to the batched writer (services/audit.py).
A read with rate limits off passes straight through.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cellplane.api.wire.auth import CALLER_KEY, QUOTA_KEY
from cellplane.api.wire.ratelimit import ratelimit_headers
from cellplane.domain.caller import Caller
from cellplane.services.audit import AuditWriter, event_row

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SID_IN_BODY = re.compile(rb'"(?:sid|id|client_id)"\s*:\s*"([A-Za-z0-9_-]{2,64})"')
ACTOR_KEY = "cellplane.actor"  # set by surfaces without a Caller (the operator's /admin/v1): (kind, sid)


class _HeaderAdder:
    """The `send` of a read: the RateLimit fields added to the response head, nothing else looked at."""

    __slots__ = ("scope", "send")

    def __init__(self, scope: Scope, send: Send) -> None:
        self.scope = scope
        self.send = send

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            quota = self.scope.get(QUOTA_KEY)
            if quota is not None:
                message["headers"] = [*message.get("headers", ()), *ratelimit_headers(quota)]
        await self.send(message)


class Edge:
    def __init__(self, app: ASGIApp, audit: AuditWriter | None, rate_headers: bool) -> None:
        self.app = app
        self.audit = audit
        self.rate_headers = rate_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        changing = scope["method"] not in SAFE_METHODS and self.audit is not None
        if not changing:
            if self.rate_headers:
                await self.app(scope, receive, _HeaderAdder(scope, send))
            else:
                await self.app(scope, receive, send)
            return
        seen: dict[str, Any] = {"status": None, "sid": None}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                quota = scope.get(QUOTA_KEY) if self.rate_headers else None
                if quota is not None:
                    message["headers"] = [*message.get("headers", ()), *ratelimit_headers(quota)]
            elif changing and seen["sid"] is None and message["type"] == "http.response.body":
                found = _SID_IN_BODY.search(message.get("body", b"")[:4096])
                seen["sid"] = found.group(1).decode() if found else ""
            await send(message)

        await self.app(scope, receive, send_with_headers)
        if changing:
            self._record(scope, seen["status"], seen["sid"] or None)

    def _record(self, scope: Scope, status: int | None, body_sid: str | None) -> None:
        if status is None or status >= 400 or self.audit is None:
            return
        caller: Caller | None = scope.get(CALLER_KEY)
        route = scope.get("route")
        permission: str | None = getattr(route, "permission", None)
        params = scope.get("path_params") or {}
        resource_sid = body_sid or (str(list(params.values())[-1]) if params else None)
        client = scope.get("client")
        source = client[0] if client else None
        if caller is not None:
            who: dict[str, Any] = {
                "account_sid": caller.account_sid,
                "actor_kind": caller.actor_kind,
                "actor_sid": caller.actor_sid,
                "role": caller.role,
            }
        elif ACTOR_KEY in scope:
            kind, sid, account = scope[ACTOR_KEY]
            who = {"account_sid": account, "actor_kind": kind, "actor_sid": sid, "role": None}
        else:
            return  # nobody authenticated: the token endpoints (no change to an account's resources)
        self.audit.add(
            event_row(
                **who,
                action=f"{scope['method']} {scope['path']}",
                resource=permission.partition(":")[0] if permission else None,
                resource_sid=resource_sid,
                status=status,
                source=source,
            )
        )
