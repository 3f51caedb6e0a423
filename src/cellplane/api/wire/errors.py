"""The one table from domain errors to HTTP statuses, and the platform's error body."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect, HTTPConnection
from starlette.responses import Response

from cellplane.api.wire.render import json_response
from cellplane.domain import errors

STATUS_BY_ERROR: tuple[tuple[type[errors.CellplaneError], int], ...] = (
    (errors.AuthenticationFailed, 401),
    (errors.Unauthorized, 403),
    (errors.NotFound, 404),
    (errors.RateLimited, 429),
    (errors.Conflict, 409),
    (errors.PreconditionFailed, 412),
    (errors.CellplaneError, 400),
)

HTTP_CODES = {401: 20003, 403: 20403, 404: 20404, 405: 20004, 413: 20413, 415: 20415, 429: 20429}


def error_body(code: int, message: str, status: int) -> dict[str, object]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def status_for(error: errors.CellplaneError) -> int:
    for kind, status in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 400


# A surface with an error body of its own (/things/v1: THINGS.md's envelope) registers a renderer for its path
# prefix in `app.state.error_renderers`: (status, message, field at fault or None, headers) -> Response.
SurfaceRenderer = Callable[[int, str, str | None, dict[str, str]], Response]


def _renderer(request: Request) -> SurfaceRenderer | None:
    renderers: dict[str, SurfaceRenderer] = getattr(request.app.state, "error_renderers", {})
    path = request.url.path
    return next((render for prefix, render in renderers.items() if path.startswith(prefix)), None)


def error_response(error: errors.CellplaneError, render: SurfaceRenderer | None = None) -> Response:
    status = status_for(error)
    headers: dict[str, str] = {}
    if isinstance(error, errors.InvalidToken):
        headers["WWW-Authenticate"] = 'Bearer realm="cellplane", error="invalid_token"'  # RFC 6750 §3.1
    elif isinstance(error, errors.AuthenticationFailed):
        headers["WWW-Authenticate"] = 'Basic realm="cellplane", Bearer realm="cellplane"'
    if isinstance(error, errors.RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    if render is not None:
        return render(status, error.message, error.parameter, headers)
    return json_response(error_body(error.code, error.message, status), status=status, headers=headers)


async def handle_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.CellplaneError)
    return error_response(exc, _renderer(request))


async def handle_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, 20000 + exc.status_code)
    message = exc.detail if isinstance(exc.detail, str) else "Request failed"
    render = _renderer(request)
    if render is not None:
        return render(exc.status_code, message, None, dict(exc.headers or {}))
    return json_response(error_body(code, message, exc.status_code), status=exc.status_code)


async def handle_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    name = str(first.get("loc", ["", "parameter"])[-1])
    render = _renderer(request)
    if render is not None:
        return render(400, f"Invalid parameter: {name}", name, {})
    return json_response(error_body(20001, f"Invalid parameter: {name}", 400), status=400)


log = logging.getLogger("cellplane.http")


def log_disconnect(connection: HTTPConnection) -> None:
    """One line for a client that went away mid-request (any client can do it at will: no traceback)."""
    client = f"{connection.client.host}:{connection.client.port}" if connection.client else "a client"
    log.warning(
        "%s disconnected before its request was read: %s %s",
        client,
        connection.scope.get("method"),
        connection.url.path,
    )


async def handle_client_disconnect(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ClientDisconnect)
    log_disconnect(request)
    return Response(status_code=400)  # never read: the client is gone
