"""Engine and session factory for the embedded SQLite file or a shared PostgreSQL."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import URL, event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine tuned per backend: WAL and a busy timeout for SQLite, a pool for PostgreSQL."""
    if is_sqlite(url):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def asyncpg_dsn(url: URL) -> str:
    """The DSN asyncpg's own connect takes for an engine's URL (the direct readers, the change listener). Several
    hosts (`?host=a:5432&host=b:5432`, a primary and its standbys, with `target_session_attrs=read-write`) go into
    the netloc, as `postgresql://user@a:5432,b:5432/db`, which asyncpg tries in turn like libpq."""
    hosts = url.query.get("host")
    if not isinstance(hosts, tuple):
        return url.set(drivername="postgresql").render_as_string(hide_password=False)
    query = {name: value for name, value in url.query.items() if name != "host"}
    auth = quote(url.username or "", safe="")
    if url.password is not None:
        auth += ":" + quote(str(url.password), safe="")
    rest = f"?{urlencode(query, doseq=True)}" if query else ""
    return f"postgresql://{auth}@{','.join(hosts)}/{quote(url.database or '', safe='')}{rest}"


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions; on PostgreSQL they notify the AAA nodes of policy changes as they write (store/notify.py)."""
    if engine.dialect.name == "postgresql":
        from cellplane.store.notify import NotifyingSession

        return async_sessionmaker(engine, expire_on_commit=False, autoflush=False, sync_session_class=NotifyingSession)
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
