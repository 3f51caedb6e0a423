"""The one UniqueName mechanism of every resource that has one: the rules (domain/names.py), the friendly
check before writing, and the unique constraint as the guarantee when two requests take a name at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.errors import Conflict
from cellplane.domain.names import check_unique_name


def taken(resource: str, name: str | None, code: int | None = None) -> Conflict:
    return Conflict(f"UniqueName {name} is already used by another {resource}", code=code, parameter="UniqueName")


async def check(
    resource: str, name: str, is_taken: Callable[[str], Awaitable[bool]], *, code: int | None = None
) -> None:
    """Refuse a malformed name (400) or one the account already uses (409); "" (clear the name) passes."""
    if not name:
        return
    check_unique_name(name, code=code)
    if await is_taken(name):
        raise taken(resource, name, code)


async def flush(session: AsyncSession, resource: str, name: str | None, *, code: int | None = None) -> None:
    """Flush; a unique-name violation is a request that lost the race for the name since `check`: 409, never 500.

    Any other integrity error is not ours to explain and propagates."""
    try:
        await session.flush()
    except IntegrityError as exc:
        if "unique_name" not in str(exc.orig):
            raise
        raise taken(resource, name, code) from None
