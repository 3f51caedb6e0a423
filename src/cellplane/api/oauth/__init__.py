"""The OAuth2 token endpoints (client credentials grant, RFC 6749 §4.4), one per platform flavour, each in its shape.

- `POST /api-services/v1/auth/token` (the hosted Super SIM flavour, seeds/004): form `grant_type`, `client_id`,
  `client_secret` → `{"access_token", "token_type": "Bearer", "expires_in": <seconds>, "scope"}`.
- `POST /oauth/client_credential/accesstoken?grant_type=client_credentials` (the private-network platform,
  THINGS.md): → the same token with `expires_in` as a string, `issued_at` (ms), `client_id`, `scope`, `status`.

Both take the client credentials in the form or as HTTP Basic (RFC 6749 §2.3.1), never both, never in the query
string (it ends up in access logs). Errors are RFC 6749 §5.2 bodies: `invalid_client` with 401 (and a Basic
challenge when Basic was tried), the rest 400. Requests are limited per source address and per client id
(429 with Retry-After). `scope` is the client's role; asking for another one is `invalid_scope`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.wire.auth import basic_pair
from cellplane.api.wire.db import transaction
from cellplane.api.wire.edge import ACTOR_KEY
from cellplane.api.wire.forms import form_params
from cellplane.api.wire.ratelimit import TokenBuckets
from cellplane.api.wire.render import json_response
from cellplane.domain.errors import AuthenticationFailed, InvalidParameter, OAuthError, RateLimited
from cellplane.services import api_clients
from cellplane.services.api_clients import IssuedToken

GRANT = "client_credentials"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1


def hosted_shape(token: IssuedToken) -> dict[str, Any]:
    return {
        "access_token": token.access_token,
        "token_type": "Bearer",
        "expires_in": token.expires_in,
        "scope": token.role,
    }


def things_shape(token: IssuedToken) -> dict[str, Any]:
    return {
        "access_token": token.access_token,
        "token_type": "Bearer",
        "expires_in": str(token.expires_in),
        "issued_at": str(int(token.issued_at.timestamp() * 1000)),
        "client_id": token.client_id,
        "scope": token.role,
        "status": "approved",
    }


def router() -> APIRouter:
    combined = APIRouter(tags=["OAuth2 tokens"])

    @combined.post("/api-services/v1/auth/token")
    async def hosted_token(request: Request) -> Response:
        """Client credentials → Bearer token, in the hosted Super SIM platform's shape."""
        return await _token(request, hosted_shape)

    @combined.post("/oauth/client_credential/accesstoken")
    async def things_token(request: Request) -> Response:
        """Client credentials → Bearer token, in the private-network platform's shape."""
        return await _token(request, things_shape)

    return combined


def _error(error: str, description: str, basic_tried: bool = False) -> Response:
    status = 401 if error == "invalid_client" else 400
    headers = dict(NO_STORE)
    if status == 401 and basic_tried:
        headers["WWW-Authenticate"] = 'Basic realm="cellplane"'
    return json_response({"error": error, "error_description": description}, status=status, headers=headers)


def _limited(request: Request, key: str) -> None:
    limits: TokenBuckets = request.app.state.token_limits
    limits.take(key)


async def _token(request: Request, shape: Callable[[IssuedToken], dict[str, Any]]) -> Response:
    header = request.headers.get("authorization")
    basic_tried = bool(header and header.partition(" ")[0].lower() == "basic")
    client = request.client
    try:
        _limited(request, f"address:{client.host if client else '-'}")
        query = dict(parse_qsl(request.url.query, keep_blank_values=True))
        if "client_secret" in query:
            raise OAuthError("invalid_request", "client_secret must not be sent in the query string")
        form_type = request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
        if not basic_tried and not form_type:
            # Authenticate before validating, as every endpoint does: no client authentication at all is
            # invalid_client (RFC 6749 §5.2), whatever else the request holds.
            raise OAuthError("invalid_client", "No client authentication: HTTP Basic, or client_id in a form body")
        try:
            form = await form_params(request)
        except InvalidParameter as exc:
            raise OAuthError("invalid_request", exc.message) from None
        if not basic_tried and not form.raw("client_id"):
            raise OAuthError("invalid_client", "No client authentication: HTTP Basic, or client_id in the form")
        grant = form.raw("grant_type") or query.get("grant_type")
        if not grant:
            raise OAuthError("invalid_request", "Missing required parameter grant_type")
        if grant != GRANT:
            raise OAuthError("unsupported_grant_type", f"grant_type must be {GRANT}")
        try:
            pair = basic_pair(header)
        except AuthenticationFailed:
            raise OAuthError("invalid_client", "Malformed Basic client credentials") from None
        if pair is not None and ("client_secret" in form or ("client_id" in form and form.raw("client_id") != pair[0])):
            raise OAuthError("invalid_request", "Use one client authentication method: HTTP Basic or the form")
        client_id, client_secret = pair if pair is not None else (form.raw("client_id"), form.raw("client_secret"))
        if not client_id or client_secret is None:
            raise OAuthError("invalid_request", "Missing client credentials: client_id and client_secret")
        _limited(request, f"client:{client_id[:64]}")
        requested = form.raw("scope") or query.get("scope")
        async with transaction(request) as session:
            token = await api_clients.issue_token(session, client_id, client_secret)
            if requested and requested.strip() != token.role:
                # Raised inside the transaction: the token is rolled back, never stored unhanded.
                raise OAuthError("invalid_scope", f"This client's scope is {token.role}")
    except OAuthError as exc:
        return _error(exc.error, exc.message, basic_tried)
    except RateLimited as exc:
        headers = {**NO_STORE, "Retry-After": str(exc.retry_after)}
        body = {"error": "too_many_requests", "error_description": "Too many token requests; retry later"}
        return json_response(body, status=429, headers=headers)
    request.scope[ACTOR_KEY] = ("api_client", token.client_id, token.account_sid)
    return json_response(shape(token), headers=NO_STORE)
