"""`cellplane emulator run`: the emulated radio network on its own, against a platform's gateway elsewhere.

    cellplane emulator run --sims sims.csv --network 310-260 --traffic 50000:0
    sudo cellplane emulator run --sims sims.csv --traffic http://198.18.0.1:8000/ --traffic meter=udp://198.18.0.1:9000
    cellplane emulator run --sims sims.csv --api 127.0.0.1:8090 --token s3cret   # and drive it over HTTP

It speaks only GTP to the gateway (`--gateway`, default the local platform's GTP-C port), like a real RAN/SGW.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from cellplane.runtime.settings import Settings, read_platform_file

if TYPE_CHECKING:
    from cellplane.emulator.traffic_models import TrafficModel

app = typer.Typer(help="The emulated radio network: devices that attach, roam, sleep and make traffic.")

_DIGITS = re.compile(r"[0-9]+")


_KIND = re.compile(r"[A-Za-z0-9_-]{1,32}")


@dataclass(frozen=True)
class SimLine:
    iccid: str
    imsi: str
    imei: str | None = None
    kind: str | None = None  # the device kind (4th column): which `--traffic KIND=URL` models it runs


def address(text: str, option: str) -> tuple[str, int]:
    """ "host:port" (host defaults to 127.0.0.1 when the text is only a port)."""
    host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 0xFFFF:
        raise typer.BadParameter(f"{text!r} is not host:port", param_hint=option)
    return host or "127.0.0.1", int(port)


def local_gateway(settings: Settings) -> tuple[str, int, int]:
    """The gateway's (host, GTP-C port, GTP-U port) of the platform the data directory belongs to: a CELLPLANE_*
    variable given wins, else what `cellplane up` wrote in platform.json, else the defaults."""
    found = read_platform_file(settings) or {}

    def value(name: str) -> Any:
        default = getattr(settings, name)
        return default if name in settings.model_fields_set else found.get(name, default)

    return value("gateway_host"), int(value("gtpc_port")), int(value("gtpu_port"))


def network_of(text: str, option: str = "--network") -> tuple[str, str]:
    """A visited network given as HW sid, MCC-MNC or MCCMNC -> (MCC, MNC)."""
    from cellplane.runtime.emulated import resolve_network

    ref = resolve_network(text)
    if ref is None:
        raise typer.BadParameter(
            f"{text!r} is not a Network sid (HW...) or an MCC-MNC such as 310-260", param_hint=option
        )
    return ref.mcc, ref.mnc


def read_sims(path: Path) -> list[SimLine]:
    """iccid,imsi[,imei[,kind]] per line; a header line (any first line whose first field is not digits) is skipped."""
    try:
        rows = list(csv.reader(path.read_text().splitlines()))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise typer.BadParameter(f"cannot read {path}: {error}", param_hint="--sims") from None
    sims: list[SimLine] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        fields = [field.strip() for field in row]
        if not fields or not any(fields) or fields[0].startswith("#"):
            continue
        if number == 1 and not _DIGITS.fullmatch(fields[0]):
            continue  # header
        if len(fields) < 2 or not all(_DIGITS.fullmatch(f) for f in fields[:3] if f):
            raise typer.BadParameter(f"line {number}: expected iccid,imsi[,imei] in digits", param_hint="--sims")
        kind = fields[3] if len(fields) > 3 and fields[3] else None
        if kind is not None and not _KIND.fullmatch(kind):
            raise typer.BadParameter(
                f"line {number}: the device kind {kind!r} must be 1 to 32 letters, digits, - or _", param_hint="--sims"
            )
        if fields[0] in seen:
            raise typer.BadParameter(f"line {number}: ICCID {fields[0]} is listed twice", param_hint="--sims")
        seen.add(fields[0])
        sims.append(SimLine(fields[0], fields[1], fields[2] if len(fields) > 2 and fields[2] else None, kind))
    if not sims:
        raise typer.BadParameter(f"{path} lists no SIMs", param_hint="--sims")
    return sims


def traffic_specs(texts: list[str] | None) -> tuple[int, dict[str, list[TrafficModel]]]:
    """--traffic values: at most one UP:0 byte count for every device, and traffic models (URLs), each for every
    device or, as KIND=URL, for the devices of that kind (4th column of --sims) -> (octets, {kind or "": models})."""
    from cellplane.emulator.traffic_models import TrafficModelError, parse

    upload = 0
    models: dict[str, list[TrafficModel]] = {}
    for text in texts or []:
        head, sep, rest = text.partition("=")
        kind = head if sep and _KIND.fullmatch(head) else ""
        spec = rest if kind else text
        if "://" not in spec:
            if kind or upload:
                raise typer.BadParameter(
                    f"{text!r}: one UP:0 byte count applies to every device; per kind, give a URL",
                    param_hint="--traffic",
                )
            upload, _ = traffic_of(spec)
            continue
        try:
            models.setdefault(kind, []).append(parse(spec))
        except TrafficModelError as error:
            raise typer.BadParameter(str(error), param_hint="--traffic") from None
    return upload, models


def traffic_of(text: str | None) -> tuple[int, int]:
    if text is None:
        return 0, 0
    up, sep, down = text.partition(":")
    if not sep or not up.isdigit() or not down.isdigit():
        raise typer.BadParameter(f"{text!r} is not UP:DOWN in bytes", param_hint="--traffic")
    if int(down):
        # Downlink comes from the internet side, that is from the gateway: a standalone emulator has none.
        raise typer.BadParameter(
            "a standalone emulator makes uplink only (downlink comes from the gateway's side; "
            "`cellplane up --emulator` and its control API make both): use UP:0",
            param_hint="--traffic",
        )
    return int(up), int(down)


@app.command()
def run(
    sims: Path = typer.Option(..., "--sims", help="CSV of iccid,imsi[,imei]; a header line is optional."),
    network: str = typer.Option("310-260", help="Visited network every device attaches to: HW sid or MCC-MNC."),
    rat: str = typer.Option("LTE-M", help="Radio access type: LTE-M, NB-IoT, LTE, 3G, 2G, 5G."),
    gateway: str = typer.Option(None, help="The gateway's GTP-C host:port (default: the local platform's)."),
    gtpu_port: int = typer.Option(None, help="The gateway's GTP-U port (default: the local platform's, 2152)."),
    traffic: list[str] = typer.Option(
        None,
        help="UP:0 bytes of IP packets each device sends once attached, or a real client's traffic from each device's "
        "own namespace (root): http://HOST:PORT/PATH, mqtt://HOST:PORT/TOPIC?size=N&count=N, udp://HOST:PORT?size=N&"
        "count=N; KIND=URL for the devices of that kind (4th column of --sims). Repeatable.",
    ),
    every: float = typer.Option(0.0, help="Repeat the traffic every this many seconds (0: once)."),
    concurrency: int = typer.Option(32, min=1, max=1000, help="Devices attaching at the same time."),
    retries: int = typer.Option(2, min=0, max=10, help="Attach attempts again for a rejected device."),
    api: str = typer.Option(None, help="Serve the control API (/cellplane/v1/Emulator) at host:port."),
    token: str = typer.Option(
        None, envvar="CELLPLANE_EMULATOR_TOKEN", help="Bearer token (or Basic password) of the control API."
    ),
    once: bool = typer.Option(False, "--once", help="Detach and exit once every device has attached and sent."),
    seed: int = typer.Option(None, help="Seed IMEIs, cells and TEIDs, for reproducible runs."),
    data_dir: Path = typer.Option(
        None, "--data-dir", help="Data directory of the local platform whose gateway to use (default ./.cellplane)."
    ),
) -> None:
    """Attach every SIM of the file, optionally make traffic, and stay attached until Ctrl-C (then detach)."""
    from cellplane.cli.emulator_run import FleetRun, run_fleet

    settings = Settings(**({"data_dir": data_dir} if data_dir else {}))
    gateway_host, gtpc_port, local_gtpu_port = local_gateway(settings)
    gateway_address = address(gateway, "--gateway") if gateway else (gateway_host, gtpc_port)
    mcc, mnc = network_of(network)
    up, models = traffic_specs(traffic)
    if models:
        from cellplane.network.dataplane import has_net_admin

        if not has_net_admin():
            typer.echo("--traffic URL needs root (CAP_NET_ADMIN): each device gets a network namespace", err=True)
            raise typer.Exit(77)
    if api is not None and not token:
        import secrets

        token = secrets.token_hex(16)
        typer.echo(f"control API token (generated): {token}")
    plan = FleetRun(
        sims=read_sims(sims),
        mcc=mcc,
        mnc=mnc,
        rat=rat,
        gateway=gateway_address,
        gtpu_port=gtpu_port or local_gtpu_port,
        upload=up,
        models=models,
        every=every,
        concurrency=concurrency,
        retries=retries,
        api=address(api, "--api") if api else None,
        token=token,
        once=once,
        seed=seed,
    )
    raise typer.Exit(run_fleet(plan))
