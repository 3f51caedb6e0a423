"""The `cellplane` command: run the platform, migrate, and operator admin."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from pydantic import ValidationError

from cellplane import __version__
from cellplane.cli import admin, device, emulator, things
from cellplane.cli import device_shell as _device_shell  # noqa: F401  (registers `device shell` on device.app)
from cellplane.runtime.ports import first_problem, setting_name
from cellplane.runtime.settings import Settings, admin_token, migrate, write_platform_file

if TYPE_CHECKING:
    from cellplane.services.demo import Demo

app = typer.Typer(
    help="cellplane: self-hosted connectivity management for cellular IoT SIM fleets.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(admin.app, name="admin")
app.add_typer(emulator.app, name="emulator")
app.add_typer(device.app, name="device")
app.add_typer(things.app, name="things")


@app.command()
def up(
    host: str = typer.Option(None, help="Address to bind (default 127.0.0.1)."),
    port: int = typer.Option(None, help="HTTP port of the API (default 8080)."),
    data_dir: Path = typer.Option(None, help="Folder of the embedded SQLite database (default ./.cellplane)."),
    log_level: str = typer.Option("warning", help="uvicorn log level."),
    demo: bool = typer.Option(False, "--demo", help="Seed (once) and print a demo account with active SIMs."),
    emulator: bool = typer.Option(None, "--emulator/--no-emulator", help="Run the emulated radio network too."),
    aaa_auth_port: int = typer.Option(None, help="UDP port of the RADIUS AAA's authentication (default 1812)."),
    aaa_acct_port: int = typer.Option(None, help="UDP port of the RADIUS AAA's accounting (default 1813)."),
    radius_secret: str = typer.Option(None, help="RADIUS shared secret of the AAA and gateway (default cellplane)."),
    radius_clients: str = typer.Option(
        None, help='NAS addresses the AAA answers, "addr[=secret],..." (default 127.0.0.1).'
    ),
    gtpc_port: int = typer.Option(None, help="UDP port of the gateway's GTPv2-C (default 2123)."),
    gtpu_port: int = typer.Option(None, help="UDP port of the gateway's GTP-U (default 2152)."),
    role: str = typer.Option(
        None, help="What this process runs: some of api,aaa,gateway,workers (default all; see docs/DEPLOY.md)."
    ),
) -> None:
    """Run the platform (or the roles given) in one process on the embedded database (or CELLPLANE_DATABASE_URL)."""
    from cellplane.api.http_server import HttpLimits, HttpProtocol
    from cellplane.runtime.platform import Platform
    from cellplane.runtime.serve import serve

    flags = {
        "host": host,
        "port": port,
        "data_dir": data_dir,
        "aaa_auth_port": aaa_auth_port,
        "aaa_acct_port": aaa_acct_port,
        "radius_secret": radius_secret,
        "radius_clients": radius_clients,
        "gtpc_port": gtpc_port,
        "gtpu_port": gtpu_port,
        "roles": role,
    }
    # A flag given wins over its CELLPLANE_* variable; one not given leaves the variable (or default) in force.
    overrides: dict[str, object] = {k: v for k, v in flags.items() if v is not None}
    if emulator is not None:
        overrides["emulator_enabled"] = emulator
    elif demo:
        overrides["emulator_enabled"] = True
    if demo and "CELLPLANE_WEBHOOK_ALLOW_PRIVATE" not in os.environ:
        overrides["webhook_allow_private"] = True  # a demo's callbacks go to a receiver on this machine
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        for error in exc.errors():
            # A field's error names its variable and, where it has one, its flag.
            where = f"{setting_name(str(error['loc'][0]))}: " if error["loc"] else ""
            typer.echo(f"error: {where}{error['msg'].removeprefix('Value error, ')}", err=True)
        raise typer.Exit(2) from None
    from cellplane.network.dataplane import DataPlaneUnavailable

    # Every socket the platform will bind, probed before anything is printed, migrated or minted (runtime/ports.py).
    problem = first_problem(settings)
    if problem is not None:
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2)
    url = migrate(settings)
    write_platform_file(settings)  # where the API and gateway listen, for `cellplane device bridge --data-dir`
    try:
        platform = Platform(settings)
    except DataPlaneUnavailable as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    seeded = seed_demo(settings) if demo else None
    if seeded is not None and platform.emulator is not None:
        # The demo's devices power on once the platform runs, so `make up` shows a living network; only those the
        # network accepts as the database has them now (the user may have deactivated or moved some since).
        from cellplane.runtime.emulated import DemoDevices
        from cellplane.services.demo import DEMO_DEVICE_NETWORK

        imsis = {sim["iccid"]: sim["imsi"] for sim in seeded.sims}
        gateway = platform.gateway

        def held(iccid: str) -> bool:
            return gateway is not None and gateway.session(imsis[iccid]) is not None

        devices = DemoDevices(platform.emulator, seeded.attachable_iccids(), DEMO_DEVICE_NETWORK, held=held)
        platform.components.append(devices)
    show_banner(settings, url, seeded, platform.data_plane.status() if platform.data_plane else None)
    # httptools, one write per response, and the limits that keep one client from starving the rest
    limits = HttpLimits(
        head_timeout=settings.http_head_timeout,
        body_timeout=settings.http_body_timeout,
        max_header_bytes=settings.http_max_header_bytes,
        max_connections=settings.http_max_connections,
    )
    serve(
        platform,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        http=HttpProtocol.with_limits(limits),
        backlog=settings.http_backlog,
    )


def seed_demo(settings: Settings) -> Demo:
    """Create the demo account once (kept in the database) and remember it in the data directory."""
    from cellplane.services.demo import ensure_demo
    from cellplane.store.db import make_engine, make_sessionmaker

    async def _seed() -> Demo:
        engine = make_engine(settings.resolved_database_url())
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                return await ensure_demo(session)
        finally:
            await engine.dispose()

    demo = asyncio.run(_seed())
    (settings.data_dir / "demo.json").write_text(json.dumps(dataclasses.asdict(demo), indent=2) + "\n")
    return demo


def show_banner(
    settings: Settings, database_url: str, demo: Demo | None, data_plane: dict[str, object] | None = None
) -> None:
    base = f"http://{settings.host}:{settings.port}"
    lines = [
        f"cellplane {__version__} is starting",
        f"  API            {base}/   (docs {base}/docs, health {base}/healthz, metrics {base}/metrics)",
        f"  Super SIM v1   {base}/supersim/v1",
        f"  Wireless v1    {base}/wireless/v1",
        f"  extensions     {base}/cellplane/v1",
        f"  admin          {base}/admin/v1   (Basic admin:{admin_token(settings)})",
        f"  console        {base}/console   (sign in as a user, or with an AccountSid and AuthToken)",
        f"  database       {database_url.split('@')[-1]}",
    ]
    if settings.roles != Settings.model_fields["roles"].default:
        # A node of several (docs/DEPLOY.md): without the api role its port answers /healthz and /metrics only.
        if not settings.has_role("api"):
            lines = [lines[0], f"  health         {base}/healthz, metrics {base}/metrics (no API here)", lines[-1]]
        lines.append(f"  roles          {settings.roles}")
    if settings.aaa_enabled:
        lines.append(
            f"  RADIUS AAA     {settings.aaa_host}:{settings.aaa_auth_port} (auth), "
            f":{settings.aaa_acct_port} (acct), secret {settings.radius_secret!r}"
        )
    if settings.gateway_enabled:
        lines.append(
            f"  gateway        GTP-C {settings.gateway_host}:{settings.gtpc_port}, GTP-U :{settings.gtpu_port}"
        )
    if data_plane is not None and data_plane["status"] == "on":
        lines.append(
            f"  data plane     on: instance {data_plane['instance']}, uplinks in {data_plane['link_subnet']}"
            f" (device shells: cellplane device shell --iccid ICCID -- COMMAND)"
        )
    elif data_plane is not None:
        lines.append(f"  data plane     off: {data_plane['reason']} (to turn it on: {data_plane['how_to_enable']})")
    if settings.emulator_enabled:
        lines.append(f"  emulator       on: control API {base}/cellplane/v1/Emulator/Devices")
    else:
        lines.append("  emulator       off (--emulator to run the emulated radio network)")
    if demo is not None:
        lines += [
            "",
            "Demo account (kept in the data directory's demo.json):",
            f"  AccountSid     {demo.account_sid}",
            f"  AuthToken      {demo.auth_token}",
            "  SIMs (as the database has them now):",
        ]
        for sim in demo.sims:
            fleet = f"fleet {sim['fleet']}" if sim["fleet"] else "no fleet"
            lines.append(f"    {sim['unique_name'] or sim['sid']:<14} {sim['iccid']}  {sim['status']}, {fleet}")
        if settings.emulator_enabled:
            from cellplane.services.demo import DEMO_DEVICE_NETWORK

            powered = demo.attachable_iccids()
            lines.append(
                f"  devices        {len(powered)} emulated devices powering on, attaching to {DEMO_DEVICE_NETWORK}"
            )
            for sim in demo.sims:
                if sim["attachable"] != "yes":
                    lines.append(f"    not {sim['unique_name'] or sim['sid']}: {sim['attachable']}")
        lines += [
            "",
            "Try it:",
            f"  curl -u {demo.account_sid}:{demo.auth_token} {base}/supersim/v1/Sims",
        ]
        if settings.emulator_enabled:
            lines.append(f"  curl -u {demo.account_sid}:{demo.auth_token} {base}/cellplane/v1/Emulator/Devices")
    else:
        lines.append("  credentials    cellplane admin create-account --json")
    typer.echo("\n".join(lines))


@db_app.command("upgrade")
def db_upgrade(data_dir: Path = typer.Option(None, help="Folder of the embedded SQLite database.")) -> None:
    """Apply all migrations to the configured database."""
    settings = Settings(**({"data_dir": data_dir} if data_dir else {}))
    url = migrate(settings)
    typer.echo(f"database at head: {url.split('@')[-1]}")


if __name__ == "__main__":
    app()
