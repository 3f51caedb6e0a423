"""`cellplane things bulk <action>`: start a bulk action over HTTP with the account's credentials and follow it to the
end with a progress bar (what a customer runs; the platform does the work, the CLI only asks and watches)."""

from __future__ import annotations

import json
import os
import time

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cellplane.runtime.settings import Settings

app = typer.Typer(help="The Things surface (/things/v1) from the command line.", no_args_is_help=True)
ACTIONS = ("activate", "suspend", "retire", "moveToGroup", "addTags", "removeTags", "setServices", "lockIp", "unlockIp")


@app.command()
def bulk(
    action: str = typer.Argument(..., help=f"One of {', '.join(ACTIONS)}."),
    tag: str = typer.Option(None, help="Select the Things with this tag."),
    group: str = typer.Option(None, help="Select the Things of this Things Group (TG...)."),
    ids: str = typer.Option(None, help="Select these Things: ids or ICCIDs, comma-separated."),
    parameters: str = typer.Option(None, help='The action\'s parameters as JSON, e.g. \'{"tags": ["north"]}\'.'),
    account: str = typer.Option(..., help="The account (AC...)."),
    token: str = typer.Option(
        None, envvar="CELLPLANE_AUTH_TOKEN", help="The account's auth token (or API key secret)."
    ),
    platform: str = typer.Option(None, help="The platform's API (default: http://CELLPLANE_HOST:CELLPLANE_PORT)."),
    wait: bool = typer.Option(True, help="Follow the action to its end (--no-wait: print it and return)."),
) -> None:
    """Start a bulk action and show its progress until it completes or is cancelled."""
    chosen = {name: value for name, value in (("tag", tag), ("thingsGroupId", group), ("thingIds", ids)) if value}
    if len(chosen) != 1:
        raise typer.BadParameter("give exactly one of --tag, --group or --ids")
    if "thingIds" in chosen:
        chosen["thingIds"] = [part.strip() for part in str(chosen["thingIds"]).split(",") if part.strip()]
    try:
        params = json.loads(parameters) if parameters else None
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"--parameters is not JSON: {exc}") from None
    settings = Settings()
    base = (platform or f"http://{settings.host}:{settings.port}").rstrip("/")
    secret = token or os.environ.get("CELLPLANE_AUTH_TOKEN")
    if not secret:
        raise typer.BadParameter("give --token or set CELLPLANE_AUTH_TOKEN")
    console = Console(stderr=True)
    with httpx.Client(base_url=base, auth=(account, secret), timeout=30) as client:
        body = {"action": action, "selection": chosen, **({"parameters": params} if params is not None else {})}
        posted = client.post("/things/v1/bulkActions", json=body)
        if posted.status_code != 202:
            error = posted.json() if posted.headers.get("content-type", "").startswith("application/json") else {}
            console.print(f"[red]refused ({posted.status_code}):[/red] {error.get('message', posted.text)}")
            raise typer.Exit(1)
        location = posted.headers["Location"]
        state = posted.json()
        if wait:
            state = _follow(client, location, state, console)
    typer.echo(json.dumps(state, indent=2))
    if state["failed"]:
        console.print(f"[yellow]{state['failed']} item(s) failed:[/yellow] GET {location}/items?outcome=failed")


def _follow(client: httpx.Client, location: str, state: dict[str, object], console: Console) -> dict[str, object]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"{state['action']} {state['id']}", total=int(str(state["total"])), failed=0)
        while True:
            state = client.get(location).json()
            done = int(str(state["succeeded"])) + int(str(state["failed"]))
            progress.update(task, completed=done, failed=state["failed"])
            if state["status"] in ("completed", "cancelled"):
                return state
            time.sleep(0.25)
