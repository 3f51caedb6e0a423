"""The database's clock in SQL (store/db_clock.py): compiled once per offset, never with another statement's offset."""

from __future__ import annotations

from sqlalchemy import create_engine, select
from sqlalchemy.engine.default import DefaultExecutionContext

from cellplane.store.db_clock import db_utcnow
from cellplane.store.models import Job


def test_a_statement_with_the_database_clock_is_compiled_once_per_offset() -> None:
    engine = create_engine("sqlite://")
    Job.metadata.create_all(engine, tables=[Job.__table__])  # type: ignore[list-item]
    seen = []
    with engine.connect() as connection:
        for seconds in (60, 60, 2, 60, 0):
            result = connection.execute(select(Job.id).where(Job.locked_until < db_utcnow(seconds)))
            context = result.context
            assert isinstance(context, DefaultExecutionContext)
            assert context.compiled is not None
            seen.append((context.compiled.string.split("WHERE")[1].strip(), context.cache_hit.name))
    engine.dispose()
    later = "jobs.locked_until < strftime('%Y-%m-%d %H:%M:%f000', 'now', '+{}.000000 seconds')"
    assert seen == [
        (later.format(60), "CACHE_MISS"),
        (later.format(60), "CACHE_HIT"),  # the job runner's claim: the same lease every time
        (later.format(2), "CACHE_MISS"),  # another offset is another statement, not the cached one's text
        (later.format(60), "CACHE_HIT"),
        ("jobs.locked_until < strftime('%Y-%m-%d %H:%M:%f000', 'now')", "CACHE_MISS"),
    ]
