"""Keyset pagination over any SELECT ordered by one unique string column."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from cellplane.domain.paging import Page, PageSpec


async def keyset_page(
    session: AsyncSession,
    stmt: Select[Any],
    key: ColumnElement[str],
    spec: PageSpec,
    *,
    descending: bool = False,
    entities: bool = True,
) -> Page[Any]:
    """Fetch one page of `stmt` by `key` (ascending, or descending for newest-first lists).

    One row more than the page is read to learn whether another page follows. With `entities`,
    items are the selected ORM objects (one entity per row); otherwise the rows themselves.
    """

    async def fetch(query: Select[Any]) -> list[Any]:
        result = await session.execute(query.limit(spec.size + 1))
        return list(result.scalars().all() if entities else result.all())

    forward_order = key.desc() if descending else key.asc()
    backward_order = key.asc() if descending else key.desc()
    if spec.before is not None:
        condition = key > spec.before if descending else key < spec.before
        rows = await fetch(stmt.where(condition).order_by(backward_order))
        has_previous = len(rows) > spec.size
        rows = rows[: spec.size]
        rows.reverse()
        has_next = True
    else:
        query = stmt.order_by(forward_order)
        if spec.after is not None:
            query = query.where(key < spec.after if descending else key > spec.after)
        elif spec.offset:
            query = query.offset(spec.offset)
        rows = await fetch(query)
        has_next = len(rows) > spec.size
        rows = rows[: spec.size]
        has_previous = spec.after is not None or spec.offset > 0
    key_name = str(getattr(key, "key", "sid"))
    first = getattr(rows[0], key_name) if rows else None
    last = getattr(rows[-1], key_name) if rows else None
    return Page(items=rows, has_next=has_next, has_previous=has_previous, first_key=first, last_key=last)
