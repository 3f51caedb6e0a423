"""`cellplane device bridge`: one emulated device, attached to the local platform, whose UDP port is joined to real
sockets on this host, so that firmware-side code can run against cellplane unchanged (issue 4).

    cellplane device bridge --iccid 8988... --deliver-to 127.0.0.1:7000 --listen 127.0.0.1:7001 --device-port 6000

It finds the platform as `cellplane admin` does (--data-dir, CELLPLANE_DATA_DIR, ./.cellplane): the operator token
and the platform.json `cellplane up` writes there (its API URL and gateway ports); --platform names the API instead.

Every IP Command sent to the SIM's DevicePort arrives as one UDP datagram at --deliver-to (the payload, byte for
byte); every datagram sent to --listen goes up from the device to 100.64.0.1 and becomes an IP Command from the
SIM. The device speaks GTP to the platform's gateway like any emulated device; the platform is asked (admin API)
only what a SIM card would tell a modem: the IMSI, and where the SIM may roam.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import typer

from cellplane.cli.emulator import address, local_gateway, network_of
from cellplane.runtime.settings import WHERE_TO_LOOK, Settings, read_platform_file

if TYPE_CHECKING:  # the emulator (and pycrate under it) loads only when a bridge runs: `cellplane --help` stays quick
    from cellplane.emulator import DeviceView, Emulator

app = typer.Typer(help="Emulated devices for device developers.", no_args_is_help=True)

# Pauses between attach attempts: quick at first (the platform learns of a just-activated SIM within about a
# second), then slower, staying under the platform's limit of 20 attaches a minute per SIM (error 83703).
RETRY_DELAYS = (0.5, 0.5, 1.0, 1.0, 2.0, 3.0)
RETRY_STEADY = 5.0
CONNECTED = ("attached", "idle", "edrx")


# How often the bridge asks the gateway whether it still holds the session (GTP Echo, T3/N3 as any request).
ECHO_INTERVAL = 2.0
# Re-attach attempts that wait for the platform's API to answer the hand-over before attaching without it.
HANDOVER_PATIENCE = 8


@dataclass(frozen=True)
class BridgePlan:
    iccid: str
    imsi: str
    mcc: str
    mnc: str
    imei: str | None
    rat: str
    device_port: int
    deliver_to: tuple[str, int]
    listen: tuple[str, int]
    gateway: tuple[str, int]
    gtpu_port: int
    platform: str
    token: str


@app.command()
def bridge(
    iccid: str = typer.Option(..., help="The SIM's ICCID (claimed, in a fleet, active or ready)."),
    deliver_to: str = typer.Option(..., "--deliver-to", help="host:port that receives IP Commands as UDP."),
    listen: str = typer.Option("127.0.0.1:0", help="host:port whose datagrams go up as IP Commands from the SIM."),
    device_port: int = typer.Option(6000, min=1, max=65535, help="The device's UDP port (IP Commands' DevicePort)."),
    network: str = typer.Option(None, help="HW sid or MCC-MNC (default: first network of the fleet's profile)."),
    imei: str = typer.Option(None, help="The device's IMEI (default: a generated one)."),
    rat: str = typer.Option("LTE-M", help="Radio access type: LTE-M, NB-IoT, LTE, 3G, 2G, 5G."),
    platform: str = typer.Option(
        None, help="The platform's API (default: where `cellplane up` of the data directory listens)."
    ),
    data_dir: Path = typer.Option(
        None,
        "--data-dir",
        help="The platform's data directory: its operator token and where it listens (default: CELLPLANE_DATA_DIR, "
        "else ./.cellplane).",
    ),
) -> None:
    """Attach an emulated device and bridge its UDP port to sockets on this host, until Ctrl-C."""
    settings = Settings(**({"data_dir": data_dir} if data_dir else {}))
    found = read_platform_file(settings) or {}
    base = (platform or found.get("api") or f"http://{settings.host}:{settings.port}").rstrip("/")
    token = _operator_token(settings)
    imsi, (mcc, mnc) = _ask_platform(base, token, iccid, network)
    gateway_host, gtpc_port, gtpu_port = local_gateway(settings)

    plan = BridgePlan(
        iccid=iccid,
        imsi=imsi,
        mcc=mcc,
        mnc=mnc,
        imei=imei,
        rat=rat,
        device_port=device_port,
        deliver_to=address(deliver_to, "--deliver-to"),
        listen=address(listen, "--listen"),
        gateway=(gateway_host, gtpc_port),
        gtpu_port=gtpu_port,
        platform=base,
        token=token,
    )
    raise typer.Exit(asyncio.run(_run(plan)))


def _operator_token(settings: Settings) -> str:
    """CELLPLANE_ADMIN_TOKEN, or the token `cellplane up` keeps in its data directory (never made here)."""
    if settings.admin_token:
        return settings.admin_token
    path = settings.data_dir / "admin-token"
    if path.exists():
        return path.read_text().strip()
    raise typer.BadParameter(
        f"no cellplane platform in {settings.data_dir.resolve()} (no operator token there): {WHERE_TO_LOOK}; "
        "or set CELLPLANE_ADMIN_TOKEN and give --platform URL",
        param_hint="--data-dir",
    )


def _ask_platform(base: str, token: str, iccid: str, network: str | None) -> tuple[str, tuple[str, str]]:
    """The SIM's IMSI and the visited network to attach to, from the platform's admin API."""
    with httpx.Client(base_url=base, auth=("admin", token), timeout=10) as client:
        sim = _get(client, f"/admin/v1/Sims/{iccid}", iccid)
        if network is not None:
            return sim["imsi"], network_of(network)
        allowed = _get(client, f"/admin/v1/Sims/{iccid}/Networks", iccid)["networks"]
    if not allowed:
        raise typer.BadParameter(
            f"SIM {iccid} is in no fleet, or its network access profile allows no network: give --network",
            param_hint="--network",
        )
    return sim["imsi"], (allowed[0]["mcc"], allowed[0]["mnc"])


def _get(client: httpx.Client, path: str, iccid: str) -> dict[str, Any]:
    try:
        response = client.get(path)
    except httpx.HTTPError as error:
        raise typer.BadParameter(
            f"cannot reach the platform at {client.base_url}: {error} (give --platform URL, or --data-dir DIR or "
            "CELLPLANE_DATA_DIR for the data directory of the `cellplane up` that runs)",
            param_hint="--platform",
        ) from None
    if response.status_code == 404:
        raise typer.BadParameter(f"no SIM with ICCID {iccid} in the platform's inventory", param_hint="--iccid")
    if response.status_code == 401:
        raise typer.BadParameter(
            f"the platform at {client.base_url} refused the operator token: is --data-dir its data directory?",
            param_hint="--data-dir",
        )
    if response.status_code != 200:
        raise typer.BadParameter(f"the platform answered {response.status_code}: {response.text}")
    body: dict[str, Any] = response.json()
    return body


async def _hand_over(plan: BridgePlan, *, quiet: bool = False) -> bool:
    """A SIM whose device the platform's in-process emulator powers (a demo SIM of `cellplane up --demo`) would
    have two devices on one IMSI: that one is powered off first, through the emulator's control API, and this
    bridge's device takes the SIM. Said on the output, since the platform's demo device stops answering. False when
    the platform's API did not answer (it may be starting: its demo devices power on as it does)."""
    url = f"{plan.platform}/admin/v1/Emulator/Devices/{plan.iccid}"
    try:
        async with httpx.AsyncClient(auth=("admin", plan.token), timeout=10) as client:
            response = await client.delete(url)
    except httpx.HTTPError as error:
        if not quiet:  # while the platform restarts, each re-attach would say it again
            _say(f"bridge: could not ask the platform to hand SIM {plan.iccid} over ({error}); attaching anyway")
        return False
    if response.status_code == 404:
        return True  # a platform without the in-process emulator: no device of its own to power off
    if response.status_code != 200:
        _say(f"bridge: the platform answered {response.status_code} to the hand-over: {response.text}")
        return True
    if response.json().get("powered_off"):
        _say(f"bridge: the platform's in-process emulator powered SIM {plan.iccid}: powered off there, handed over")
    return True


def _say(text: str) -> None:
    print(text, flush=True)  # a line at a time: people and scripts read it as it happens


async def _run(plan: BridgePlan) -> int:
    from cellplane.emulator import Emulator, EmulatorConfig, SimRecord

    async def lookup(iccid: str) -> SimRecord | None:
        return SimRecord(plan.iccid, plan.imsi) if iccid == plan.iccid else None

    config = EmulatorConfig(
        gateway_host=plan.gateway[0],
        gateway_gtpc_port=plan.gateway[1],
        gateway_gtpu_port=plan.gtpu_port,
    )
    emulator = Emulator(config, sim_lookup=lookup)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await emulator.start()
    try:
        await _hand_over(plan)
        view = await emulator.power_on(plan.iccid, mcc=plan.mcc, mnc=plan.mnc, rat=plan.rat, imei=plan.imei)
        described = await emulator.open_app(
            plan.iccid, plan.device_port, "bridge", deliver_to=plan.deliver_to, listen=plan.listen
        )
        host, port = described["listen"]
        _say(f"bridge: IP Commands to device port {plan.device_port} -> UDP to {_at(plan.deliver_to)}")
        _say(f"bridge: UDP to {host}:{port} -> IP Commands from the SIM (100.64.0.1:{plan.device_port})")
        await _stay_attached(emulator, plan, view, stop)
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        with contextlib.suppress(Exception):
            await emulator.power_off(plan.iccid)
            _say(f"device {plan.iccid} detached")
        await emulator.stop()


async def _stay_attached(emulator: Emulator, plan: BridgePlan, view: DeviceView, stop: asyncio.Event) -> None:
    """Say each change of state; attach again whenever the device is not connected, as a modem does. While
    connected, watch the gateway with GTP Echo: a restart or a path failure loses the session without a word
    to the device (the new gateway process knows nothing of it), so the bridge notices and attaches again."""
    attempts, said, next_echo, unanswered = 0, "", 0.0, 0
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        news = _describe(view, plan)
        if news != said:
            _say(news)
            said = news
        if view.state in CONNECTED:
            attempts = 0
            pause = 0.25
        else:
            pause = RETRY_DELAYS[attempts] if attempts < len(RETRY_DELAYS) else RETRY_STEADY
            attempts += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=pause)
        if stop.is_set():
            break
        view = emulator.device(plan.iccid)
        if view.state in CONNECTED and loop.time() >= next_echo:
            next_echo = loop.time() + ECHO_INTERVAL
            lost = await _race(emulator.check_gateway(), stop)
            if lost:
                _say(f"device {plan.iccid} lost its session: {lost} (attaching again)")
                said = ""
                view = emulator.device(plan.iccid)
        if view.state not in CONNECTED and not stop.is_set():
            # A restarted demo platform powers its own device on again: hand over before attaching, so that the
            # two never share the IMSI. Its gateway answers before its API does: wait a little for the API.
            if not await _hand_over(plan, quiet=True) and unanswered < HANDOVER_PATIENCE:
                unanswered += 1
                continue
            unanswered = 0
            view = await emulator.set_state(plan.iccid, "attached", mcc=plan.mcc, mnc=plan.mnc)


async def _race(work: Coroutine[Any, Any, str | None], stop: asyncio.Event) -> str | None:
    """`work`'s result, or None as soon as the bridge is asked to stop."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return None
    return task.result()


def _describe(view: DeviceView, plan: BridgePlan) -> str:
    where = f"{plan.mcc}-{plan.mnc}"
    if view.state in CONNECTED and view.session is not None:
        return f"device {plan.iccid} attached on {where} as {view.session['ip_address']} (IMSI {plan.imsi})"
    if view.state == "rejected":
        code = f"{view.code} " if view.code else ""
        return f"device {plan.iccid} rejected on {where}: {code}{view.reason} (retrying)"
    return f"device {plan.iccid} {view.state}{': ' + view.reason if view.reason else ''} (attaching again)"


def _at(address: tuple[str, int]) -> str:
    return f"{address[0]}:{address[1]}"
