"""Settings of the platform (CELLPLANE_* environment variables and flags), and migrating the database."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import secrets
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cellplane.domain.callback_targets import TargetPolicy, parse_host_address
from cellplane.jobs.webhook_transport import parse_pins
from cellplane.store.migrate import ensure_sqlite_dir, upgrade

# What one process can run (issue 21, docs/DEPLOY.md); several processes on one PostgreSQL share the work.
ROLES = ("api", "aaa", "gateway", "workers")


class Settings(BaseSettings):
    """Every knob, from flags or CELLPLANE_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="CELLPLANE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path(".cellplane")
    database_url: str | None = None
    # The parts of the platform this process runs, comma-separated: api, aaa, gateway, workers (default all).
    roles: str = ",".join(ROLES)
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
    # Bulk actions: Things per transaction (one chunk's rules, writes and progress commit together; between chunks
    # the API and other jobs get the database). Smaller keeps other requests' latency lower, larger is quicker.
    # 0: the backend's default (services/things_bulk.default_bulk_chunk: smaller where the API shares the process).
    bulk_chunk: int = 0
    # The token endpoints, per source address and per client id (a token bucket each): slows secret guessing.
    token_rate_limit: float = 5.0
    token_rate_burst: float = 50.0
    # FastAPI's native OpenTelemetry (traces, metrics, logs to the global providers); off, it costs nothing.
    otel: bool = False
    webhook_timeout: float = 10.0
    # Callbacks to loopback and private networks (a lab's own machine); never link-local, never our own ports.
    webhook_allow_private: bool = False
    # Callback host names pinned to addresses, "name=address,...", like curl --resolve (checked all the same).
    webhook_resolve: str = ""
    webhook_max_attempts: int = 8
    job_backoff_base: float = 1.0
    # How long a claimed job is its worker's; a job whose worker died is claimed again once this lapses.
    job_lease_seconds: float = 60.0
    job_concurrency: int = 16
    # Commands (issue 4): IP Command dispatch pace (0: at once; a demo shows `queued`), webhook workers of
    # their own (a slow receiver never holds up command delivery), and the 30-day retention purge's period.
    ip_command_delay: float = 0.0
    webhook_concurrency: int = 32
    retention_interval: float = 3600.0
    # The web console (issue 19): how long a signed-in session lasts, seconds.
    console_session_seconds: float = 28800.0

    # HTTP limits (api/http_server.py): seconds to send a request head, seconds a body may stall between reads,
    # bytes of a request head (431 past it), open connections (lowered to what the descriptor limit allows).
    http_head_timeout: float = 10.0
    http_body_timeout: float = 30.0
    http_max_header_bytes: int = Field(default=32 * 1024, ge=1024)
    http_max_connections: int = Field(default=1000, ge=8)
    http_backlog: int = Field(default=2048, ge=1)

    # Network side (docs/NETWORK.md). Each element can be turned off to use a third-party one instead.
    aaa_enabled: bool = True
    aaa_host: str = "127.0.0.1"
    aaa_auth_port: int = 1812
    aaa_acct_port: int = 1813
    # SIM policy snapshots an AAA node keeps in memory (least recently used leave first; the others are loaded from
    # the database when they attach); 0: no bound, every SIM loaded at start.
    aaa_cache_sims: int = Field(default=200_000, ge=0)
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
    # AAA nodes sharing the pool take leased slices of it of this prefix length (docs/DEPLOY.md); default: 256
    # slices (none smaller than a /28). The lease of a slice, renewed every third of it, on the database's clock.
    ue_ip_pool_slice: int | None = None
    ue_ip_pool_lease: float = 30.0
    # How long a UE address stays its SIM's once no session holds it (a quick re-attach gets it back), then free.
    ue_ip_lease_ttl: float = Field(default=300.0, gt=0)
    # A gateway node's lease (renewed every third of it; a lapsed one has its sessions closed by a workers node's
    # sweep, run every gateway_sweep_interval seconds) and its NAS-Identifier (default: from the node id).
    gateway_lease: float = 30.0
    gateway_sweep_interval: float = 5.0
    gateway_nas_identifier: str | None = None
    # This node's name in the leases it holds; default the host name and data directory (stable across restarts).
    node_id: str | None = None
    # The data plane (docs/NETWORK.md): routing domains behind the gateway. auto: on with CAP_NET_ADMIN.
    data_plane: Literal["off", "auto", "on"] = "auto"
    # Short name of this instance in everything it makes (cellplane-<instance>-...); default random.
    data_plane_instance: str | None = None
    # Where the uplinks' host ends take their /30s; default a random /24 of 198.18.0.0/15.
    data_plane_link_subnet: str | None = None
    # Devices reach beyond the host (its own default route, masqueraded); off: only the uplinks' host ends.
    data_plane_internet: bool = False
    # VPN tunnels (strongSwan charon, one per routing domain with tunnels): dead-peer detection interval in seconds; a
    # silent site is declared down after about 1.5 times it.
    vpn_dpd_seconds: int = Field(default=30, ge=1, le=3600)
    emulator_enabled: bool = False
    emulator_gtpc_port: int = 0
    emulator_gtpu_port: int = 0

    @field_validator("webhook_resolve")
    @classmethod
    def _pins_parse(cls, value: str) -> str:
        parse_pins(value)  # a bad entry is named at start, not at the first callback
        return value

    @field_validator("roles")
    @classmethod
    def _roles_known(cls, value: str) -> str:
        named = [role.strip().lower() for role in value.split(",") if role.strip()]
        unknown = [role for role in named if role not in ROLES]
        if unknown or not named:
            raise ValueError(f"roles must be some of {', '.join(ROLES)}, comma-separated (got {value!r})")
        return ",".join(role for role in ROLES if role in named)

    @model_validator(mode="after")
    def _ue_pool_slices_fit(self) -> Settings:
        try:
            pool = ipaddress.IPv4Network(self.ue_ip_pool, strict=False)
        except ValueError as error:
            raise ValueError(f"ue_ip_pool: {error}") from None
        if self.ue_ip_pool_slice is not None and not pool.prefixlen <= self.ue_ip_pool_slice <= 32:
            raise ValueError(f"ue_ip_pool_slice: /{self.ue_ip_pool_slice} is not a slice of {pool}")
        if self.ue_ip_pool_lease < 3:
            raise ValueError("ue_ip_pool_lease: at least 3 seconds")
        if self.gateway_lease < 3:
            raise ValueError("gateway_lease: at least 3 seconds")
        if self.gateway_sweep_interval <= 0:
            raise ValueError("gateway_sweep_interval: more than 0 seconds")
        return self

    @model_validator(mode="after")
    def _roles_select_elements(self) -> Settings:
        """A role left out turns its elements off here, so that ports, banner and callback policy follow."""
        if not self.has_role("aaa"):
            self.aaa_enabled = False
        if not self.has_role("gateway"):
            self.gateway_enabled = False
        if self.emulator_enabled and not (self.has_role("gateway") and self.has_role("api")):
            raise ValueError(
                "the emulator runs beside the gateway and serves its control API: it needs the roles gateway and api"
            )
        return self

    def has_role(self, role: str) -> bool:
        return role in self.roles.split(",")

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

    @model_validator(mode="after")
    def _data_plane_names(self) -> Settings:
        import ipaddress
        import re

        if self.data_plane_instance is not None and not re.fullmatch(r"[a-z][a-z0-9]{0,7}", self.data_plane_instance):
            raise ValueError("data_plane_instance must be 1 to 8 lowercase letters and digits, starting with a letter")
        if self.data_plane_link_subnet is not None:
            try:
                network = ipaddress.IPv4Network(self.data_plane_link_subnet)
            except ValueError as error:
                raise ValueError(f"data_plane_link_subnet: {error}") from None
            if network.prefixlen > 30:
                raise ValueError("data_plane_link_subnet must hold at least one /30")
        return self

    def resolved_node_id(self) -> str:
        if self.node_id:
            return self.node_id[:128]
        where = hashlib.sha256(str(self.data_dir.resolve()).encode()).hexdigest()[:12]
        return f"{socket.gethostname()[:100]}:{where}"

    def resolved_nas_identifier(self) -> str:
        """Each gateway node's own NAS-Identifier: sessions are owned by it, and swept by it when it dies."""
        if self.gateway_nas_identifier:
            return self.gateway_nas_identifier[:64]
        return f"cellplane-gateway-{hashlib.sha256(self.resolved_node_id().encode()).hexdigest()[:12]}"

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'cellplane.db'}"


def callback_policy(settings: Settings) -> TargetPolicy:
    """Where callbacks may go: public addresses, loopback and private ones too in a lab (webhook_allow_private),
    never the platform's own listeners (its API, AAA, gateway ports on loopback or its bound addresses)."""
    ports = {settings.port}
    if settings.aaa_enabled:
        ports |= {settings.aaa_auth_port, settings.aaa_acct_port}
    if settings.gateway_enabled:
        ports |= {settings.gtpc_port, settings.gtpu_port, settings.gateway_dae_port}
    addresses = {parse_host_address(host) for host in (settings.host, settings.aaa_host, settings.gateway_host)}
    return TargetPolicy(
        allow_private=settings.webhook_allow_private,
        own_ports=frozenset(port for port in ports if port),
        own_addresses=frozenset(address for address in addresses if address is not None),
    )


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
