"""Absolute resource URLs built from the request's own scheme and host."""

from __future__ import annotations

from fastapi import Request

# scheme://netloc per (scheme, Host header, server address): clients send the same few Host values, and
# Starlette's URL parsing (host validation included) is a noticeable part of a one-row GET.
_ORIGINS: dict[tuple[str, bytes | None, object], str] = {}


def origin(request: Request) -> str:
    """E.g. http://127.0.0.1:8080, as Starlette's `request.url` gives it (same host-header checks)."""
    scope = request.scope
    host = next((value for key, value in scope["headers"] if key == b"host"), None)
    key = (scope.get("scheme", "http"), host, scope.get("server"))
    found = _ORIGINS.get(key)
    if found is None:
        url = request.url
        found = f"{url.scheme}://{url.netloc}"
        if len(_ORIGINS) >= 256:
            _ORIGINS.clear()
        _ORIGINS[key] = found
    return found


def surface_base(request: Request, surface: str) -> str:
    """E.g. http://127.0.0.1:8080/supersim/v1 for a request that reached us at that host."""
    return f"{origin(request)}/{surface}"
