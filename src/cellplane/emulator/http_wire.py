"""The platform's wire conventions for the emulator's control API, kept here because the emulator may not import
the API layer: form parameters that name themselves when wrong, the `{code, message, more_info, status}` error
body, keyset paging with absolute `meta` URLs, ISO 8601 `Z` times (docs: ../shared/DESIGN.md, wire conventions).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar
from urllib.parse import parse_qsl, urlencode

from fastapi import Request
from starlette.responses import JSONResponse, Response

from .errors import EmulatorError, InvalidState, InvalidValue, UnknownDevice

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_BODY = 1 << 16
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
PAGING = ("PageSize", "Page", "PageToken")
# The emulator's own parameter names -> the wire's (the emulator says Mcc/Mnc where the API takes Network).
WIRE_NAMES = {"Rat": "RatType", "Mcc": "Network", "Mnc": "Network", "Imsi": "Iccid"}

P = ParamSpec("P")


class WireError(Exception):
    """A refusal with its HTTP status and platform code (20001 bad parameter, 20003 auth, 20404, 20409)."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def invalid(parameter: str, message: str) -> WireError:
    return WireError(400, 20001, message if parameter in message else f"{parameter}: {message}")


def missing(parameter: str) -> WireError:
    return WireError(400, 20001, f"Missing required parameter {parameter} in the post body")


def not_found(resource: str, key: str) -> WireError:
    return WireError(404, 20404, f"The requested resource {resource} {key} was not found")


def from_emulator(error: EmulatorError) -> WireError:
    """The emulator's errors name the parameter at fault; the wire says which status and code that is."""
    parameter = WIRE_NAMES.get(error.parameter or "", error.parameter)
    if isinstance(error, UnknownDevice):
        return WireError(404, 20404, error.message)
    if isinstance(error, InvalidState):
        # The request is fine but clashes with the device's state (traffic while detached): 409, as the
        # platform answers any HTTP 409 (20000 + status).
        return WireError(409, 20409, error.message)
    if isinstance(error, InvalidValue) and parameter:
        return invalid(parameter, error.message)
    return WireError(400, 20001, error.message)


def error_response(error: WireError) -> Response:
    body = {
        "code": error.code,
        "message": error.message,
        "more_info": f"https://www.twilio.com/docs/errors/{error.code}",
        "status": error.status,
    }
    headers = {"WWW-Authenticate": 'Basic realm="cellplane emulator"'} if error.status == 401 else None
    return JSONResponse(body, status_code=error.status, headers=headers)


def answered(handler: Callable[P, Awaitable[Response]]) -> Callable[P, Awaitable[Response]]:
    """Turns WireError and EmulatorError raised by an endpoint into the platform's error body. Other errors
    (the platform's own, from an injected `authenticate`) pass through to the application's handlers."""

    @functools.wraps(handler)
    async def endpoint(*args: P.args, **kwargs: P.kwargs) -> Response:
        try:
            return await handler(*args, **kwargs)
        except WireError as error:
            return error_response(error)
        except EmulatorError as error:
            return error_response(from_emulator(error))

    return endpoint


class Params:
    """Parameters by name, last value winning; each accessor names the parameter when the value is bad."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self.pairs = list(pairs)
        self._last = dict(self.pairs)

    def __contains__(self, name: str) -> bool:
        return name in self._last

    def string(self, name: str, *, required: bool = False, max_length: int = 64) -> str | None:
        value = self._last.get(name)
        if value is None or (required and value == ""):
            if required:
                raise missing(name)
            return None
        if len(value) > max_length:
            raise invalid(name, f"{name} must be at most {max_length} characters")
        if not value.isprintable():
            raise invalid(name, f"{name} must not contain control characters")
        return value

    def integer(self, name: str, *, minimum: int, maximum: int) -> int | None:
        value = self._last.get(name)
        if value is None:
            return None
        if not re.fullmatch(r"[+-]?\d{1,18}", value.strip()):
            raise invalid(name, f"{name} must be an integer")
        number = int(value)
        if not minimum <= number <= maximum:
            raise invalid(name, f"{name} must be from {minimum} to {maximum}")
        return number

    def boolean(self, name: str) -> bool | None:
        value = self._last.get(name)
        if value is None:
            return None
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise invalid(name, f"{name} must be true or false")


def query(request: Request) -> Params:
    return Params(parse_qsl(request.url.query, keep_blank_values=True))


async def form(request: Request) -> Params:
    """The url-encoded body; another content type with a body is refused, naming the header."""
    body = await request.body()
    if not body:
        return Params(())
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        raise invalid("Content-Type", f"Content-Type must be {FORM_TYPE} (got {content_type or 'none'})")
    if len(body) > MAX_BODY:
        raise invalid("Body", "Body: the request body is too large")
    try:
        return Params(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=100))
    except UnicodeDecodeError:
        raise invalid("Body", "Body: the request body must be UTF-8") from None
    except ValueError:
        raise invalid("Body", "Body: the request body has too many fields") from None


def iso(epoch: float | None) -> str | None:
    """2015-07-30T20:00:00Z: the platform's time format."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat()[:19] + "Z"


def base_url(request: Request) -> str:
    """Scheme and host of this request: resource URLs are absolute and built from it (DESIGN.md)."""
    return f"{request.url.scheme}://{request.url.netloc}"


# --- keyset paging over an in-memory list ----------------------------------------------------------------------


T = TypeVar("T")


@dataclass(frozen=True)
class PageRequest:
    size: int
    page: int
    after: str | None
    before: str | None
    token: str | None


def _token(direction: str, key: str) -> str:
    return direction + base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def page_request(params: Params) -> PageRequest:
    size = params.integer("PageSize", minimum=1, maximum=MAX_PAGE_SIZE) or DEFAULT_PAGE_SIZE
    page = params.integer("Page", minimum=0, maximum=10**9) or 0
    token = params.string("PageToken", max_length=400)
    after = before = None
    if token:
        try:
            key = base64.urlsafe_b64decode(token[2:] + "=" * (-len(token[2:]) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            key = ""
        if token[:2] not in ("PA", "PB") or not key or not key.isprintable():
            raise WireError(400, 21481, "Invalid PageToken: it does not belong to this list")
        after, before = (key, None) if token[:2] == "PA" else (None, key)
    return PageRequest(size, page, after, before, token or None)


def list_body(
    request: Request, params: Params, name: str, items: Sequence[T], key: Callable[[T], str], render: Callable[[T], Any]
) -> dict[str, Any]:
    """One page of `items` (sorted by `key`) in the platform's list envelope: `{name: [...], "meta": {...}}`."""
    spec = page_request(params)
    keys = [key(item) for item in items]
    if spec.before is not None:
        end = bisect.bisect_left(keys, spec.before)
        start = max(0, end - spec.size)
    elif spec.after is not None:
        start = bisect.bisect_right(keys, spec.after)
        end = start + spec.size
    else:
        start = min(spec.page * spec.size, len(items))
        end = start + spec.size
    chosen = list(items[start:end])
    filters = [(n, v) for n, v in params.pairs if n not in PAGING]
    here = f"{base_url(request)}{request.url.path}"

    def url(page: int, token: str | None) -> str:
        pairs = [*filters, ("PageSize", str(spec.size)), ("Page", str(page))]
        return f"{here}?{urlencode([*pairs, ('PageToken', token)] if token else pairs)}"

    has_next = end < len(items) and bool(chosen)
    has_previous = start > 0 and spec.page > 0 and bool(chosen)
    return {
        name: [render(item) for item in chosen],
        "meta": {
            "page": spec.page,
            "page_size": spec.size,
            "first_page_url": url(0, None),
            "previous_page_url": url(spec.page - 1, _token("PB", key(chosen[0]))) if has_previous else None,
            "url": url(spec.page, spec.token),
            "next_page_url": url(spec.page + 1, _token("PA", key(chosen[-1]))) if has_next else None,
            "key": name,
        },
    }
