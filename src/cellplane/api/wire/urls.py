"""Absolute resource URLs built from the request's own scheme and host."""

from __future__ import annotations

from fastapi import Request


def surface_base(request: Request, surface: str) -> str:
    """E.g. http://127.0.0.1:8080/supersim/v1 for a request that reached us at that host."""
    return f"{request.url.scheme}://{request.url.netloc}/{surface}"
