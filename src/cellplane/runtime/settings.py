"""Settings of the platform (CELLPLANE_* environment variables and flags), and migrating the database."""

from __future__ import annotations

import secrets
from pathlib import Path

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
    # Billing reports (issue 18): one with more lines than this is a 302 to a stored download, kept this many seconds.
    billing_report_inline_lines: int = 10_000
    billing_report_download_ttl: float = 86_400.0
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
