"""Apply Alembic migrations programmatically (on start, and from `cellplane db upgrade`)."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The revision a fully migrated database is at (the single head of the chain)."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None, "the migration chain has no single head"
    return head


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url`; safe to call from inside a running event loop (uses a thread)."""
    errors: list[BaseException] = []

    def _work() -> None:
        try:
            command.upgrade(alembic_config(url), revision)
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    worker = threading.Thread(target=_work, name="alembic-upgrade")
    worker.start()
    worker.join()
    if errors:
        raise errors[0]


def ensure_sqlite_dir(url: str) -> None:
    """Create the folder of a SQLite file URL so a fresh --data-dir just works."""
    prefix = "sqlite+aiosqlite:///"
    if url.startswith(prefix):
        Path(url[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)
