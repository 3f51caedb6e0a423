"""The in-process emulator's place in the platform: its control API wired to the platform's authentication, SIM
ownership and Networks catalogue, usage reported as soon as traffic is made, and the demo's devices powered on.

The emulator package knows none of this (it speaks GTP and HTTP only); the runtime, which may import everything,
hands it these seams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Sequence
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellplane.api.admin_v1.operator import require_operator
from cellplane.api.wire.auth import authenticate
from cellplane.api.wire.render import json_response
from cellplane.domain.caller import Caller
from cellplane.domain.errors import AuthenticationFailed
from cellplane.domain.networks import catalogue
from cellplane.emulator import Emulator, UnknownDevice
from cellplane.emulator import http as emulator_http
from cellplane.network.gateway import Gateway
from cellplane.services.context import PlatformContext
from cellplane.store.repositories.sim_owners import owners

log = logging.getLogger("cellplane.emulator")
SETTLE_TICK = 0.005  # how often to look whether the gateway has read every uplink packet already sent
SETTLE_LIMIT = 1.0


def resolve_network(text: str) -> emulator_http.NetworkRef | None:
    """A Network parameter: a catalogue entry by HW sid, MCC-MNC or MCCMNC; a well-formed PLMN outside the
    catalogue is kept (an attach there is refused by the AAA, as a real network would be)."""
    network = catalogue().lookup(text)
    if network is not None:
        return emulator_http.NetworkRef(network.mcc, network.mnc, network.sid)
    return emulator_http.parse_network(text)


def emulator_router(emulator: Emulator, ctx: PlatformContext, gateway: Gateway | None) -> APIRouter:
    async def caller(request: Request) -> Caller:
        return await authenticate(request)

    async def owned(who: Caller, iccids: Sequence[str]) -> Collection[str]:
        """The SIMs the caller may drive: those of its own account and its subaccounts."""
        async with ctx.sessions() as session:
            found = await owners(session, iccids)
        return {iccid for iccid, account in found.items() if who.can_see(account)}

    async def report(imsi: str) -> None:
        """Have the gateway send an Interim-Update now, once it has read every uplink packet the device sent
        (they are already in its socket: its counter stops growing), so usage shows when the call returns."""
        assert gateway is not None
        session = gateway.session(imsi)
        if session is None:
            return
        last, steady = -1, 0
        with contextlib.suppress(TimeoutError):
            # Bounded: a device whose apps keep sending never settles, and its usage is reported all the same.
            async with asyncio.timeout(SETTLE_LIMIT):
                while steady < 2:
                    await asyncio.sleep(SETTLE_TICK)
                    steady = steady + 1 if session.up_octets == last else 0
                    last = session.up_octets
        await gateway.report_usage(imsi)

    def network_session(imsi: str) -> dict[str, Any] | None:
        """The gateway's view of the device's session: usage it counted, throttle state, what its policer dropped."""
        assert gateway is not None
        session = gateway.session(imsi)
        if session is None:
            return None
        return {"acct_session_id": session.acct_session_id, **session.usage(), **session.throttle_view()}

    return emulator_http.router(
        emulator,
        caller,
        owned,
        resolve_network=resolve_network,
        after_traffic=report if gateway is not None else None,
        network_session=network_session if gateway is not None else None,
        is_operator=is_operator,
    )


def is_operator(request: Request) -> bool:
    """Whether the request carries /admin/v1's operator credential (Basic admin:<admin token>)."""
    try:
        require_operator(request)
    except AuthenticationFailed:
        return False
    return True


def handover_router(emulator: Emulator) -> APIRouter:
    """`DELETE /admin/v1/Emulator/Devices/{Iccid}`: the operator's side of the emulator's control API, for
    `cellplane device bridge`, which attaches a device of its own for a SIM and must not share the IMSI with the
    in-process one (a demo SIM's): that one is powered off (Delete Session) and `powered_off` says whether it was on."""
    router = APIRouter()

    @router.delete("/admin/v1/Emulator/Devices/{iccid}")
    async def hand_over(request: Request, iccid: str) -> Response:
        require_operator(request)
        try:
            emulator.device(iccid)
        except UnknownDevice:
            return json_response({"iccid": iccid, "powered_off": False})
        await emulator.power_off(iccid)
        log.info("device %s powered off: handed over to a device bridge", iccid)
        return json_response({"iccid": iccid, "powered_off": True})

    return router


class DemoDevices:
    """A component that powers the demo's devices on once the platform runs (`cellplane up --demo`), so that a
    newcomer sees a living network: attached devices, sessions, connection events."""

    def __init__(
        self,
        emulator: Emulator,
        iccids: Sequence[str],
        network: str,
        attempts: int = 5,
        held: Callable[[str], bool] | None = None,
    ) -> None:
        self.emulator = emulator
        self.iccids = list(iccids)
        # Whether another device already holds the SIM's session (a `cellplane device bridge` that attached again
        # before this start got to it): powering ours on would silently take the session from the user's code.
        self.held = held
        self.mcc, _, self.mnc = network.partition("-")
        self.attempts = attempts
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # In the background: the API must not wait for radio procedures to answer its first request.
        self._task = asyncio.create_task(self._power_on(), name="demo-devices")

    async def _power_on(self) -> None:
        for iccid in self.iccids:
            if self.held is not None and self.held(iccid):
                log.info("demo device %s left off: another device (a bridge) holds its session", iccid)
                continue
            for attempt in range(self.attempts):
                try:
                    view = await self.emulator.power_on(iccid, mcc=self.mcc, mnc=self.mnc, rat="LTE-M")
                except Exception:
                    log.exception("demo device %s could not be powered on", iccid)
                    break
                if view.state == "attached":
                    break
                log.info("demo device %s %s (%s); retrying", iccid, view.state, view.reason)
                await asyncio.sleep(0.5 * (attempt + 1))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
