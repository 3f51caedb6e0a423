"""Operator authentication for /admin/v1: Basic `admin:<token>`, compared in constant time."""

from __future__ import annotations

import base64
import binascii
import hmac

from fastapi import Request

from cellplane.api.wire.edge import ACTOR_KEY
from cellplane.domain.errors import AuthenticationFailed


def require_operator(request: Request) -> None:
    expected: str | None = getattr(request.app.state, "admin_token", None)
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if not expected or scheme.lower() != "basic":
        raise AuthenticationFailed("Operator authentication required: Basic admin:<admin token>")
    try:
        username, _, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationFailed("Operator authentication failed") from None
    if username != "admin" or not hmac.compare_digest(password.encode(), expected.encode()):
        raise AuthenticationFailed("Operator authentication failed")
    # For the audit log (api/wire/edge.py): the operator acted, on the account the path names, if any.
    request.scope[ACTOR_KEY] = ("operator", "admin", request.path_params.get("sid"))
