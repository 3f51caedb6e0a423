"""The database's clock in SQL: leases are stamped and compared by one clock, the database's, not each node's.

Two nodes whose clocks differ by a second would otherwise each see the other's lease as lapsed (or alive) a
second early or late. PostgreSQL: `now()` in UTC (the transaction's start, the same for every statement in it);
SQLite: its own `'now'`, which on one machine is the machine's clock, written in the text form SQLAlchemy
stores naive UTC datetimes in (`YYYY-MM-DD HH:MM:SS.ffffff`), so that comparisons with stored values hold.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal

from cellplane.store.models.base import UtcDateTime


class db_utcnow(FunctionElement[Any]):
    """The database's current UTC time, `seconds` later (0: now)."""

    type = UtcDateTime()
    # The offset is part of the SQL text, so it is part of the cache key: a statement is compiled once per offset
    # (the job runner's claim, run several times a second under load, compiled every time when it was not cached).
    inherit_cache = True
    _cache_key_traversal = [*FunctionElement._traverse_internals, ("seconds", InternalTraversal.dp_plain_obj)]

    def __init__(self, seconds: float = 0.0) -> None:
        super().__init__()
        self.seconds = float(seconds)


def _seconds(element: db_utcnow) -> str:
    # A float formatted here (never user input), to the microsecond.
    return f"{element.seconds:.6f}"


@compiles(db_utcnow, "postgresql")
def _pg(element: db_utcnow, compiler: Any, **kw: Any) -> str:
    now = "timezone('utc', now())"
    return f"({now} + interval '{_seconds(element)} seconds')" if element.seconds else now


@compiles(db_utcnow, "sqlite")
def _sqlite(element: db_utcnow, compiler: Any, **kw: Any) -> str:
    later = f", '{'+' if element.seconds >= 0 else ''}{_seconds(element)} seconds'" if element.seconds else ""
    return f"strftime('%Y-%m-%d %H:%M:%f000', 'now'{later})"


@compiles(db_utcnow)
def _other(element: db_utcnow, compiler: Any, **kw: Any) -> str:
    raise NotImplementedError(f"no database clock for {compiler.dialect.name}")
