"""Engine and session factory for the embedded SQLite file or a shared PostgreSQL."""

from __future__ import annotations

import logging
import socket
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import URL, event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

log = logging.getLogger("cellplane.store")


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


def watched_engine(engine: AsyncEngine, *, connect_timeout: float = 2.0, silence: float = 1.0) -> AsyncEngine:
    """An engine for a connection that must notice a lost database within about `silence` seconds (the AAA's
    accounting writer answers nothing it has not written, so every second it hangs on a half-open connection is a
    second every NAS waits once the database is back; TCP's own retransmission backoff makes that many seconds).

    On PostgreSQL: no pool (the caller keeps its connection, and a pooled one's pre-ping could hang as well); a
    connect that gives up after `connect_timeout`; TCP keepalives every `silence` seconds and TCP_USER_TIMEOUT, so
    that unacknowledged data or probes for that long end the connection at once (a slow query on a live server is
    acknowledged by its kernel meanwhile, and not cut short); and the server ending a transaction left idle for
    1.5 s, so that the row locks of a transaction whose client is gone (cut off mid-batch) are soon released for
    its retry. SQLite: the engine itself, unchanged."""
    if engine.dialect.name != "postgresql":
        return engine
    idle = max(1000, int(1500 * silence))
    watched = create_async_engine(
        engine.url,
        poolclass=NullPool,
        connect_args={
            "timeout": connect_timeout,
            "server_settings": {"idle_in_transaction_session_timeout": str(idle)},
        },
    )

    @event.listens_for(watched.sync_engine, "connect")
    def _bound_silence(dbapi_connection: Any, _record: Any) -> None:
        _tcp_silence(dbapi_connection, silence)

    return watched


def _tcp_silence(dbapi_connection: Any, seconds: float) -> None:
    """Keepalive probes after `seconds` idle and TCP_USER_TIMEOUT of `seconds` on the connection's socket (Linux).
    asyncpg has no option for it: its transport's socket is set directly (left as is when the driver hides it)."""
    driver = getattr(dbapi_connection, "driver_connection", None) or getattr(dbapi_connection, "_connection", None)
    transport = getattr(driver, "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    whole = max(1, round(seconds))
    options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in (("TCP_KEEPIDLE", whole), ("TCP_KEEPINTVL", whole), ("TCP_KEEPCNT", 1),
                        ("TCP_USER_TIMEOUT", int(seconds * 1000))):  # fmt: skip
        if hasattr(socket, name):
            options.append((socket.IPPROTO_TCP, getattr(socket, name), value))
    try:
        for level, option, value in options:
            sock.setsockopt(level, option, value)
    except OSError as error:  # not fatal: the connection works, only slower to notice a loss
        log.warning("could not bound the database connection's silence: %s", error)


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
