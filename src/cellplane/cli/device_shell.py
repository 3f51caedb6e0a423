"""`cellplane device shell`: run a real program as an emulated device, its packets carried over the cellular link.

    sudo cellplane device shell --iccid 8988... -- curl http://198.18.x.1:8000/
    sudo cellplane device shell --iccid 8988...          # an interactive shell on the device

The device attaches to the platform's gateway like any emulated device (GTP-C, then GTP-U); a network namespace
of its own (cellplane-<instance>-device) has one interface besides lo, `wwan0`, a TUN with the session's address
and the default route, whose packets the emulated SGW tunnels to the gateway. COMMAND runs in that namespace and
sees what a modem's host would: the platform's AAA decisions, idle and paging, eDRX, throttling and disconnects.
The exit status is COMMAND's; the device detaches and the namespace goes when it ends. Needs CAP_NET_ADMIN and
CAP_SYS_ADMIN (root): namespaces and TUNs are the kernel's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from typing import TYPE_CHECKING

import typer

from cellplane.cli.device import _ask_platform, _operator_token, _say, app
from cellplane.runtime.settings import Settings

if TYPE_CHECKING:
    from cellplane.emulator import DeviceView, Emulator

INTERFACE = "wwan0"
ATTACH_PATIENCE = 15.0  # seconds of refusals (a just-activated SIM) before giving up
EXIT_NO_SESSION = 69  # EX_UNAVAILABLE (sysexits.h): the device never got a data session
EXIT_NOT_PERMITTED = 77  # EX_NOPERM: no CAP_NET_ADMIN


@app.command(context_settings={"allow_interspersed_args": False})
def shell(
    command: list[str] = typer.Argument(None, help="The program and its arguments (after --); default: $SHELL."),
    iccid: str = typer.Option(..., help="The SIM's ICCID (claimed, in a fleet, active or ready)."),
    network: str = typer.Option(None, help="HW sid or MCC-MNC (default: first network of the fleet's profile)."),
    imei: str = typer.Option(None, help="The device's IMEI (default: a generated one)."),
    rat: str = typer.Option("LTE-M", help="Radio access type: LTE-M, NB-IoT, LTE, 3G, 2G, 5G."),
    platform: str = typer.Option(None, help="The platform's API (default: http://CELLPLANE_HOST:CELLPLANE_PORT)."),
) -> None:
    """Attach an emulated device and run COMMAND (or a shell) on it: its only network is the SIM's data session."""
    from cellplane.network.dataplane import has_net_admin

    if not has_net_admin() or shutil.which("nsenter") is None:
        _say("device shell: needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and nsenter: it makes a network namespace")
        raise typer.Exit(EXIT_NOT_PERMITTED)
    settings = Settings()
    base = (platform or f"http://{settings.host}:{settings.port}").rstrip("/")
    imsi, (mcc, mnc) = _ask_platform(base, _operator_token(settings), iccid, network)
    argv = list(command or []) or [os.environ.get("SHELL") or "/bin/sh"]
    import uvloop  # the platform's loop too (uvicorn's): every packet of the device crosses this process twice

    # This loop only, not the policy: pyroute2 makes loops of its own for netlink sockets, which uvloop cannot open.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        code = runner.run(_run(settings, iccid, imsi, mcc, mnc, imei, rat, argv))
    raise typer.Exit(code)


async def _run(
    settings: Settings, iccid: str, imsi: str, mcc: str, mnc: str, imei: str | None, rat: str, argv: list[str]
) -> int:
    from cellplane.emulator import Emulator, EmulatorConfig, SimRecord
    from cellplane.network.dataplane.device_ns import DeviceNamespace

    async def lookup(wanted: str) -> SimRecord | None:
        return SimRecord(iccid, imsi) if wanted == iccid else None

    config = EmulatorConfig(
        gateway_host=settings.gateway_host, gateway_gtpc_port=settings.gtpc_port, gateway_gtpu_port=settings.gtpu_port
    )
    emulator = Emulator(config, sim_lookup=lookup)
    namespace = DeviceNamespace(INTERFACE)
    await emulator.start()
    link = None
    try:
        await asyncio.to_thread(namespace.create)
        view = await _attach(emulator, iccid, mcc, mnc, rat, imei)
        if view.session is None:
            code = f"{view.code} " if view.code else ""
            _say(f"device {iccid}: no data session on {mcc}-{mnc}: {code}{view.reason or view.state}")
            return EXIT_NO_SESSION

        loop = asyncio.get_running_loop()
        running = True

        def follow(changed: DeviceView) -> None:
            if not running:
                return  # the device is detaching because COMMAND ended
            address = changed.session["ip_address"] if changed.session else None
            # pyroute2's netlink calls run their own event loop: a worker thread makes them.
            loop.run_in_executor(None, namespace.address, address)
            if address is None:
                _say(f"device {iccid}: no data session ({changed.reason or changed.state})")
            else:
                _say(f"device {iccid}: data session again as {address}")

        await asyncio.to_thread(namespace.address, view.session["ip_address"])
        link = emulator.attach_tun(iccid, namespace.tun_fd, follow)
        _say(
            f"device {iccid} attached on {mcc}-{mnc} as {view.session['ip_address']} ({INTERFACE} in {namespace.name})"
        )
        try:
            return await _execute(namespace.name, argv)
        finally:
            running = False
    finally:
        if link is not None:
            link.stop()
        with contextlib.suppress(Exception):
            await emulator.power_off(iccid)
        await emulator.stop()
        await asyncio.to_thread(namespace.destroy)


async def _attach(emulator: Emulator, iccid: str, mcc: str, mnc: str, rat: str, imei: str | None) -> DeviceView:
    """Attach, and again while the platform refuses for a moment (a SIM activated a second ago), as a modem would."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ATTACH_PATIENCE
    view = await emulator.power_on(iccid, mcc=mcc, mnc=mnc, rat=rat, imei=imei)
    while view.session is None and loop.time() < deadline:
        await asyncio.sleep(1.0)
        view = await emulator.set_state(iccid, "attached", mcc=mcc, mnc=mnc)
    return view


async def _execute(namespace: str, argv: list[str]) -> int:
    """COMMAND in the device's namespace, on this terminal; its exit status (128 + signal when killed)."""
    process = await asyncio.create_subprocess_exec("nsenter", f"--net=/run/netns/{namespace}", "--", *argv)
    loop = asyncio.get_running_loop()

    def relay(sig: int) -> None:
        if process.returncode is None:
            process.send_signal(sig)

    for sig in (signal.SIGINT, signal.SIGTERM):
        # The program gets the signal (a terminal's Ctrl-C reaches it anyway); the device stays until it ends.
        loop.add_signal_handler(sig, relay, sig)
    try:
        code = await process.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return code if code >= 0 else 128 - code
