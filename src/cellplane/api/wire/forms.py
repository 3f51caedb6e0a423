"""Form bodies and query strings in, typed values out; every bad value names its parameter.

The hosted platform takes `application/x-www-form-urlencoded` with UpperCamelCase names. Starlette's
own form parser needs python-multipart and builds an immutable multidict per request; the stdlib
parser is enough for url-encoded bodies and keeps the hot path short.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

from fastapi import Request
from starlette.requests import ClientDisconnect

from cellplane.domain.callback_targets import RefusedTarget, TargetPolicy
from cellplane.domain.callbacks import CALLBACK_METHODS
from cellplane.domain.errors import InvalidParameter, MissingParameter

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_BODY = 1 << 20
_UNSET = object()
_INTEGER = re.compile(r"[+-]?\d{1,18}")
STRICT_TARGETS = TargetPolicy()


class Params:
    """Parameters by name (last value wins for scalars; `all()` for repeated names like Networks). URLs are
    callback targets, checked against `targets` (strict when none is given)."""

    def __init__(self, pairs: Iterable[tuple[str, str]], targets: TargetPolicy | None = None) -> None:
        self._pairs = list(pairs)
        self._targets = targets or STRICT_TARGETS
        self._last: dict[str, str] = {}
        for name, value in self._pairs:
            self._last[name] = value

    def __contains__(self, name: str) -> bool:
        return name in self._last

    def raw(self, name: str) -> str | None:
        return self._last.get(name)

    def all(self, name: str) -> list[str]:
        return [value for key, value in self._pairs if key == name]

    def string(
        self, name: str, *, required: bool = False, max_length: int | None = None, allow_empty: bool = True
    ) -> str | None:
        value = self._last.get(name)
        if value is None:
            if required:
                raise MissingParameter(name)
            return None
        if not allow_empty and value == "":
            raise InvalidParameter(name, f"{name} must not be empty")
        if max_length is not None and len(value) > max_length:
            raise InvalidParameter(name, f"{name} must be at most {max_length} characters")
        if "\x00" in value:
            raise InvalidParameter(name, f"{name} must not contain NUL characters")
        return value

    def required(self, name: str, *, max_length: int | None = None, code: int | None = None) -> str:
        value = self._last.get(name)
        if value is None or value == "":
            raise MissingParameter(name, code=code)
        return self.string(name, max_length=max_length) or ""

    def boolean(self, name: str) -> bool | None:
        value = self._last.get(name)
        if value is None:
            return None
        lowered = value.lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
        raise InvalidParameter(name, f"{name} must be true or false")

    def integer(self, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int | None:
        value = self._last.get(name)
        if value is None:
            return None
        if not _INTEGER.fullmatch(value.strip()):
            raise InvalidParameter(name, f"{name} must be an integer")
        number = int(value)
        if minimum is not None and number < minimum:
            raise InvalidParameter(name, f"{name} must be at least {minimum}")
        if maximum is not None and number > maximum:
            raise InvalidParameter(name, f"{name} must be at most {maximum}")
        return number

    def choice(self, name: str, choices: Iterable[str], *, fold_case: bool = False) -> str | None:
        value = self._last.get(name)
        if value is None:
            return None
        options = tuple(choices)
        candidate = value.upper() if fold_case else value
        if candidate not in options:
            raise InvalidParameter(name, f"{name} must be one of: {', '.join(options)}")
        return candidate

    def method(self, name: str) -> str | None:
        """An HTTP method for a callback, any case: one of the seed's six (domain/callbacks.py)."""
        return self.choice(name, CALLBACK_METHODS, fold_case=True)

    def url(self, name: str, *, max_length: int = 1024) -> str | None:
        """An absolute http(s) URL the platform may call back; the empty string clears the field (returned as "").
        Internal targets are refused here and again when the callback is sent (domain/callback_targets.py)."""
        value = self.string(name, max_length=max_length)
        if value is None or value == "":
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidParameter(name, f"{name} must be an absolute http or https URL")
        try:
            self._targets.check_url(value)
        except RefusedTarget as refused:
            raise InvalidParameter(name, f"{name} is not an allowed callback target: {refused.reason}") from None
        return value

    def timestamp(self, name: str) -> datetime | None:
        value = self._last.get(name)
        if value is None:
            return None
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidParameter(name, f"{name} must be an ISO 8601 date-time") from None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def query_params(request: Request) -> Params:
    return Params(parse_qsl(request.url.query, keep_blank_values=True))


async def form_params(request: Request) -> Params:
    """The url-encoded body; any other content type with a body is refused, naming the header."""
    body = await read_body(request)
    if not body:
        return Params(())
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        raise InvalidParameter("Content-Type", f"Content-Type must be {FORM_TYPE} (got {content_type or 'none'})")
    if len(body) > MAX_BODY:
        raise InvalidParameter("Body", "Request body is too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidParameter("Body", "Request body must be UTF-8") from None
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, max_num_fields=1000)
        return Params(pairs, getattr(request.app.state, "callback_targets", None))
    except ValueError:
        raise InvalidParameter("Body", "Request body has too many fields") from None


async def read_body(request: Request) -> bytes:
    """The whole request body, read from the ASGI channel; stops reading past MAX_BODY (the caller refuses it).

    Starlette's `request.body()` does the same through an async generator and a list of chunks, about a third of
    the cost of parsing a small form here; nothing else reads the body of the requests that come through here."""
    receive = request.receive
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientDisconnect()
    body = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY or not message.get("more_body", False):
            return b"".join(chunks)
