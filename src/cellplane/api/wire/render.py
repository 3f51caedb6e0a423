"""JSON rendering for every surface: orjson, ISO 8601 UTC times with Z."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from starlette.responses import Response

_last_iso: tuple[datetime | None, str | None] = (None, None)


def iso(value: datetime | None) -> str | None:
    """2015-07-30T20:00:00Z: the platform's time format (seconds precision, UTC)."""
    global _last_iso
    if value is None:
        return None
    last, text = _last_iso
    if value is last:  # a resource's date_created and date_updated, a batch's commands: often the same object
        return text
    # isoformat() starts with exactly YYYY-MM-DDTHH:MM:SS and is about 3x cheaper than strftime, which
    # adds up on a page of 1000 resources with several times each.
    text = value.isoformat()[:19] + "Z"
    _last_iso = (value, text)
    return text


class OrjsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return OrjsonResponse(content, status_code=status, headers=headers)
