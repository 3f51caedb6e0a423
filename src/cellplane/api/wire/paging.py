"""PageSize/Page/PageToken in, the list body with its absolute `meta` URLs out.

The PageToken carries the keyset position ("PA" + after-key or "PB" + before-key, base64url),
so a page deep into a million SIMs costs one index seek, like the first.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from cellplane.api.wire.forms import Params
from cellplane.domain.errors import InvalidPageToken
from cellplane.domain.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, PageSpec

PAGING_PARAMS = ("PageSize", "Page", "PageToken")


def encode_token(direction: str, key: str) -> str:
    return direction + base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_token(token: str) -> tuple[str, str]:
    if len(token) < 3 or token[:2] not in ("PA", "PB"):
        raise InvalidPageToken()
    body = token[2:]
    try:
        key = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidPageToken() from None
    if not key or len(key) > 200 or not key.isprintable():
        raise InvalidPageToken()
    return token[:2], key


def page_spec(params: Params, validate_key: Callable[[str], bool] | None = None) -> PageSpec:
    size = params.integer("PageSize", minimum=1, maximum=MAX_PAGE_SIZE)
    page = params.integer("Page", minimum=0, maximum=10**9)
    token = params.raw("PageToken")
    after = before = None
    if token:
        direction, key = decode_token(token)
        if validate_key is not None and not validate_key(key):
            raise InvalidPageToken()
        if direction == "PA":
            after = key
        else:
            before = key
    return PageSpec(size=size or DEFAULT_PAGE_SIZE, page=page or 0, after=after, before=before)


def _url(base: str, filters: list[tuple[str, str]], size: int, page: int, token: str | None) -> str:
    query = [*filters, ("PageSize", str(size)), ("Page", str(page))]
    if token:
        query.append(("PageToken", token))
    return f"{base}?{urlencode(query)}"


def list_body(
    request: Request, params: Params, key: str, spec: PageSpec, page: Page[Any], items: list[dict[str, Any]]
) -> dict[str, Any]:
    """The list envelope: `{key: [...], "meta": {...}}` with URLs built from the request's own host."""
    base = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
    filters = [(name, value) for name, value in params._pairs if name not in PAGING_PARAMS]
    current_token = params.raw("PageToken")
    next_url = None
    if page.has_next and page.last_key is not None:
        next_url = _url(base, filters, spec.size, spec.page + 1, encode_token("PA", page.last_key))
    previous_url = None
    if page.has_previous and page.first_key is not None and spec.page > 0:
        previous_url = _url(base, filters, spec.size, spec.page - 1, encode_token("PB", page.first_key))
    return {
        key: items,
        "meta": {
            "page": spec.page,
            "page_size": spec.size,
            "first_page_url": _url(base, filters, spec.size, 0, None),
            "previous_page_url": previous_url,
            "url": _url(base, filters, spec.size, spec.page, current_token),
            "next_page_url": next_url,
            "key": key,
        },
    }
