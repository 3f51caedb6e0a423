"""Settings of the platform (CELLPLANE_* environment variables and flags), and migrating the database."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from cellplane.store.migrate import ensure_sqlite_dir, upgrade


class Settings(BaseSettings):
    """Every knob, from flags or CELLPLANE_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="CELLPLANE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path(".cellplane")
    database_url: str | None = None
    seed: int | None = None
    # Pace of asynchronous SIM updates (`scheduled` → final status), seconds.
    sim_update_delay: float = 1.0
    # Per-credential request rate (token bucket); 0 turns rate limiting off.
    rate_limit: float = 100.0
    rate_burst: float = 200.0
    webhook_timeout: float = 10.0
    webhook_max_attempts: int = 8
    job_backoff_base: float = 1.0
    job_concurrency: int = 16

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'cellplane.db'}"


def migrate(settings: Settings) -> str:
    url = settings.resolved_database_url()
    ensure_sqlite_dir(url)
    upgrade(url)
    return url
