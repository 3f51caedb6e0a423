"""`cellplane admin ...`: the operator's commands (accounts, API keys, SIM inventory)."""

from __future__ import annotations

import asyncio
import getpass
import json
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cellplane.domain.errors import CellplaneError, NotFound
from cellplane.runtime.settings import NoPlatform, Settings, existing_database
from cellplane.services import accounts, api_clients, audit, inventory
from cellplane.store.db import make_engine, make_sessionmaker
from cellplane.store.migrate import upgrade
from cellplane.store.repositories import accounts as account_repo

app = typer.Typer(help="Operator administration: accounts, credentials, SIM inventory.", no_args_is_help=True)
T = TypeVar("T")

DataDir = typer.Option(
    None, "--data-dir", help="The platform's data directory (default: CELLPLANE_DATA_DIR, else ./.cellplane)."
)


def _run(data_dir: Path | None, work: Callable[[Any], Awaitable[T]]) -> T:
    """Find the platform's database as the server does (never make one), open a session, run `work` in one
    transaction, and turn rule errors into a clean exit."""
    settings = Settings(**({"data_dir": data_dir} if data_dir else {}))
    try:
        url = existing_database(settings)
    except NoPlatform as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    upgrade(url)  # a platform made by an older cellplane: its schema brought to this one's

    async def _main() -> T:
        engine = make_engine(url)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(_main())
    except CellplaneError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None


def _print(data: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        for key, value in data.items() if isinstance(data, dict) else enumerate(data):
            typer.echo(f"{key}: {value}")


@app.command("create-account")
def create_account(
    friendly_name: str = typer.Option(None, "--friendly-name", help="A name for people."),
    parent: str = typer.Option(None, "--parent", help="Make it a subaccount of this AC sid."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    data_dir: Path = DataDir,
) -> None:
    """Create an account (or a subaccount) and print its sid and auth token."""

    async def work(session: Any) -> dict[str, Any]:
        account = await accounts.create_account(session, friendly_name, parent)
        await _audit(session, account.sid, "create-account", None, account.sid)
        return {
            "account_sid": account.sid,
            "auth_token": account.auth_token,
            "friendly_name": account.friendly_name,
            "parent_sid": account.parent_sid,
        }

    _print(_run(data_dir, work), as_json)


@app.command("create-api-key")
def create_api_key(
    account: str = typer.Option(..., "--account", help="The AC sid the key acts for."),
    friendly_name: str = typer.Option(None, "--friendly-name"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    data_dir: Path = DataDir,
) -> None:
    """Create an API key (SK sid + secret) for an account; the secret is shown only now."""

    async def work(session: Any) -> dict[str, Any]:
        key = await accounts.create_api_key(session, account, friendly_name)
        await _audit(session, account, "create-api-key", "api_clients", key.sid)
        return {"sid": key.sid, "secret": key.secret, "account_sid": key.account_sid}

    _print(_run(data_dir, work), as_json)


@app.command("create-api-client")
def create_api_client(
    account: str = typer.Option(..., "--account", help="The AC sid the client acts for."),
    role: str = typer.Option(..., "--role", help="admin, operator, viewer or billing."),
    lifetime: str = typer.Option("1h", "--lifetime", help="Token lifetime: 1h, 24h, 30d or 24mo."),
    friendly_name: str = typer.Option(None, "--friendly-name"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    data_dir: Path = DataDir,
) -> None:
    """Create an OAuth2 API client; prints client_id and client_secret (the secret is shown only now)."""

    async def work(session: Any) -> dict[str, Any]:
        made = await api_clients.create(session, account, role, lifetime, friendly_name, created_by="operator")
        await _audit(session, account, "create-api-client", "api_clients", made.client.sid)
        return {
            "client_id": made.client.sid,
            "client_secret": made.client_secret,
            "account_sid": account,
            "role": made.client.role,
            "token_lifetime": made.client.token_lifetime,
        }

    _print(_run(data_dir, work), as_json)


async def _audit(session: Any, account_sid: str | None, command: str, resource: str | None, sid: str | None) -> None:
    """The operator's change, in the audit log, in the same transaction as the change."""
    await audit.record(
        session,
        account_sid=account_sid,
        actor_kind="operator",
        actor_sid=getpass.getuser(),
        role=None,
        action=f"cellplane admin {command}",
        resource=resource,
        resource_sid=sid,
        status=None,
        source=f"cli@{socket.gethostname()}",
    )


@app.command("provision-sims")
def provision_sims(
    count: int = typer.Option(0, "--count", min=0, help="How many SIMs to generate."),
    product: str = typer.Option("supersim", "--product", help="supersim, wireless or things."),
    from_csv: Path = typer.Option(
        None,
        "--from-csv",
        exists=True,
        dir_okay=False,
        help="Import an operator's CSV (iccid, imsi, registration_code).",
    ),
    seed: int = typer.Option(None, "--seed", help="Seed for reproducible ICCIDs, IMSIs and codes."),
    account: str = typer.Option(None, "--account", help="Hand the SIMs to this AC sid (Wireless SIMs are unclaimed)."),
    as_json: bool = typer.Option(False, "--json", help="Print the SIMs as JSON."),
    data_dir: Path = DataDir,
) -> None:
    """Add unclaimed SIMs to the inventory: generated (--count) or imported (--from-csv)."""
    if product not in inventory.PRODUCTS:
        raise typer.BadParameter(f"product must be one of {', '.join(inventory.PRODUCTS)}", param_hint="--product")
    if (count > 0) == (from_csv is not None):
        raise typer.BadParameter("give either --count N or --from-csv FILE", param_hint="--count")
    total = count or max(0, sum(1 for _ in from_csv.open()) - 1)
    source = inventory.read_csv(from_csv, product) if from_csv else inventory.generate(count, product, seed)

    async def work(session: Any) -> list[tuple[str, inventory.InventorySim]]:
        with Progress(
            TextColumn("provisioning SIMs"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=as_json,
            disable=as_json and total < 5000,
        ) as bar:
            task = bar.add_task("sims", total=total)
            if account and await account_repo.get_account(session, account) is None:
                raise NotFound("Account", account)
            loaded = await inventory.load(
                session, source, seed=seed, progress=lambda n: bar.advance(task, n), account_sid=account
            )
            if account:  # SIMs handed to an account are a change to it; the inventory alone is the operator's
                await _audit(session, account, f"provision-sims ({len(loaded)} SIMs)", "sims", None)
            return loaded

    loaded = _run(data_dir, work)
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "sid": sid,
                        "iccid": s.iccid,
                        "imsi": s.imsi,
                        "registration_code": s.registration_code,
                        "product": s.product,
                        "account_sid": account,
                    }
                    for sid, s in loaded
                ]
            )
        )
    else:
        typer.echo(f"provisioned {len(loaded)} {product} SIMs")
