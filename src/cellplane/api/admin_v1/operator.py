"""Operator authentication for /admin/v1: Basic `admin:<token>`, compared in constant time."""

from __future__ import annotations

import base64
import binascii
import hmac

from fastapi import Request

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
