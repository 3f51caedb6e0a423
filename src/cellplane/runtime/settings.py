"""Settings of the platform (CELLPLANE_* environment variables and flags), and migrating the database."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from pydantic import model_validator
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
    # Operator credential for /admin/v1 (Basic admin:<token>); generated into the data dir when unset.
    admin_token: str | None = None
    # Pace of asynchronous SIM updates (`scheduled` → final status), seconds.
    sim_update_delay: float = 1.0
    # Per-credential request rate (token bucket); 0 turns rate limiting off.
    rate_limit: float = 100.0
    rate_burst: float = 200.0
    # Browser origins the /things/v1 surface answers CORS for, comma-separated ("*" for any); empty: none.
    things_cors_origins: str = ""
    # FastAPI's native OpenTelemetry (traces, metrics, logs to the global providers); off, it costs nothing.
    otel: bool = False
    webhook_timeout: float = 10.0
    webhook_max_attempts: int = 8
    job_backoff_base: float = 1.0
    job_concurrency: int = 16
    # Commands (issue 4): IP Command dispatch pace (0: at once; a demo shows `queued`), webhook workers of
    # their own (a slow receiver never holds up command delivery), and the 30-day retention purge's period.
    ip_command_delay: float = 0.0
    webhook_concurrency: int = 32
    retention_interval: float = 3600.0

    # Network side (docs/NETWORK.md). Each element can be turned off to use a third-party one instead.
    aaa_enabled: bool = True
    aaa_host: str = "127.0.0.1"
    aaa_auth_port: int = 1812
    aaa_acct_port: int = 1813
    radius_secret: str = "cellplane"
    radius_clients: str = "127.0.0.1"
    # Where each NAS takes Disconnect-Requests, "nas_ip=host:port,..."; default (nas_ip, gateway_dae_port).
    radius_dae_targets: str = ""
    gateway_enabled: bool = True
    gateway_host: str = "127.0.0.1"
    gtpc_port: int = 2123
    gtpu_port: int = 2152
    gateway_dae_port: int = 3799
    gateway_interim_interval: float = 60.0
    # bit/s each way of a Wireless session throttled at its rate plan's limit (DataLimitStrategy throttle); 0: none.
    throttle_rate: int = 64_000
    ue_ip_pool: str = "10.64.0.0/10"
    emulator_enabled: bool = False
    emulator_gtpc_port: int = 0
    emulator_gtpu_port: int = 0

    @model_validator(mode="after")
    def _udp_ports_distinct(self) -> Settings:
        """Two elements on one UDP port would fail at start with a bare EADDRINUSE; say which two, before."""
        taken: dict[tuple[str, int], str] = {}
        for name, host, port, enabled in (
            ("aaa_auth_port", self.aaa_host, self.aaa_auth_port, self.aaa_enabled),
            ("aaa_acct_port", self.aaa_host, self.aaa_acct_port, self.aaa_enabled),
            ("gtpc_port", self.gateway_host, self.gtpc_port, self.gateway_enabled),
            ("gtpu_port", self.gateway_host, self.gtpu_port, self.gateway_enabled),
            ("gateway_dae_port", self.gateway_host, self.gateway_dae_port, self.gateway_enabled),
        ):
            if not enabled or port == 0:  # 0: the kernel picks a free one
                continue
            other = taken.setdefault((host, port), name)
            if other != name:
                raise ValueError(f"{name} and {other} are both UDP port {port} on {host}; give each its own")
        return self

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'cellplane.db'}"


def admin_token(settings: Settings) -> str:
    """The operator token: from the environment, else the one kept in the data directory (made once)."""
    if settings.admin_token:
        return settings.admin_token
    path = settings.data_dir / "admin-token"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(20)
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token


def migrate(settings: Settings) -> str:
    url = settings.resolved_database_url()
    ensure_sqlite_dir(url)
    upgrade(url)
    return url


class NoPlatform(Exception):
    """A command that needs a platform's database (or its data directory) found none where it looked."""


WHERE_TO_LOOK = (
    "give --data-dir DIR or set CELLPLANE_DATA_DIR to the data directory of `cellplane up` "
    "(or CELLPLANE_DATABASE_URL to its database)"
)


def existing_database(settings: Settings) -> str:
    """The platform's database URL, found as the server finds it, without creating one: a command other than
    `cellplane up` or `cellplane db upgrade` that makes a fresh empty database would act on a platform nobody runs."""
    url = settings.resolved_database_url()
    if settings.database_url:
        return url
    path = settings.data_dir.resolve() / "cellplane.db"
    if not path.exists():
        where = settings.data_dir.resolve()
        raise NoPlatform(f"no cellplane platform in {where} (no cellplane.db there): {WHERE_TO_LOOK}")
    return url


# What `cellplane up` tells the tools that run beside it (the device bridge): where its API and gateway listen.
PLATFORM_FILE = "platform.json"


def write_platform_file(settings: Settings) -> None:
    """Record where this platform listens, in its data directory, for the tools that find it from there."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    info = {
        "api": f"http://{settings.host}:{settings.port}",
        "gateway_host": settings.gateway_host,
        "gtpc_port": settings.gtpc_port,
        "gtpu_port": settings.gtpu_port,
    }
    (settings.data_dir / PLATFORM_FILE).write_text(json.dumps(info, indent=2) + "\n")


def read_platform_file(settings: Settings) -> dict[str, Any] | None:
    path = settings.data_dir / PLATFORM_FILE
    try:
        info: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return info
