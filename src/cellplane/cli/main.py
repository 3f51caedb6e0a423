"""The `cellplane` command: run the platform, migrate, and operator admin."""

from __future__ import annotations

from pathlib import Path

import typer

from cellplane.cli import admin
from cellplane.runtime.settings import Settings, migrate

app = typer.Typer(
    help="cellplane: self-hosted connectivity management for cellular IoT SIM fleets.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(admin.app, name="admin")


@app.command()
def up(
    host: str = typer.Option(None, help="Address to bind (default 127.0.0.1)."),
    port: int = typer.Option(None, help="HTTP port of the API (default 8080)."),
    data_dir: Path = typer.Option(None, help="Folder of the embedded SQLite database (default ./.cellplane)."),
    log_level: str = typer.Option("warning", help="uvicorn log level."),
) -> None:
    """Run the whole platform in one process on the embedded database (or CELLPLANE_DATABASE_URL)."""
    import uvicorn

    from cellplane.runtime.platform import Platform

    overrides = {k: v for k, v in {"host": host, "port": port, "data_dir": data_dir}.items() if v is not None}
    settings = Settings(**overrides)
    url = migrate(settings)
    platform = Platform(settings)
    typer.echo(f"cellplane API      http://{settings.host}:{settings.port}/  (docs: /docs, health: /healthz)")
    typer.echo(f"  Super SIM v1     http://{settings.host}:{settings.port}/supersim/v1")
    typer.echo(f"  database         {url.split('@')[-1]}")
    typer.echo("  credentials      cellplane admin create-account --json", err=False)
    uvicorn.run(
        platform.app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


@db_app.command("upgrade")
def db_upgrade(data_dir: Path = typer.Option(None, help="Folder of the embedded SQLite database.")) -> None:
    """Apply all migrations to the configured database."""
    settings = Settings(**({"data_dir": data_dir} if data_dir else {}))
    url = migrate(settings)
    typer.echo(f"database at head: {url.split('@')[-1]}")


if __name__ == "__main__":
    app()
