"""SMS Commands' place in the platform: the SMS center connected to the emulated devices' SMS app (its radio leg, in
process), and that app's control API wired to the platform's authentication and SIM ownership.

The SMS center (network/smsc) and the emulator (emulator/sms.py) never import each other; each states what it
expects of the other, and these adapters translate, as runtime/adapters.py does for the gateway.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from fastapi import APIRouter, Request

from cellplane.api.wire.auth import authenticate
from cellplane.domain.caller import Caller
from cellplane.emulator import Emulator, http_sms
from cellplane.emulator.sms import NetworkAnswer, SmsApp, Submit
from cellplane.network.smsc import Deliver, MtAttempt, MtResult, SmsCenter
from cellplane.protocols.sms import ShortMessage
from cellplane.services.context import PlatformContext
from cellplane.store.repositories.sim_owners import owners


def radio_leg(app: SmsApp) -> Deliver:
    """The SMS center's `deliver`: the devices' serving network, as the emulator carries SMS."""

    def deliver(imsi: str, message: ShortMessage) -> MtAttempt:
        delivery = app.deliver(imsi, message)
        return MtAttempt(MtResult(delivery.result.value), delivery.later)

    return deliver


def service_center(center: SmsCenter) -> Submit:
    """The devices' SMS center: what they send reaches `center.submit_from_device`."""

    async def submit(imsi: str, message: ShortMessage) -> NetworkAnswer:
        answer = await center.submit_from_device(imsi, message)
        return NetworkAnswer(answer.accepted, int(answer.cause) if answer.cause is not None else None, answer.reason)

    return submit


class DeviceSms(SmsApp):
    """The emulated devices' SMS app as a platform component (stopping it drops what the network holds)."""

    async def start(self) -> None:
        pass


def connect_emulator(center: SmsCenter, emulator: Emulator) -> DeviceSms:
    """Give the devices an SMS app whose messages go through `center`, and `center` the devices as its radio leg."""
    app = DeviceSms(emulator, submit=service_center(center))
    center.deliver = radio_leg(app)
    return app


def sms_router(app: SmsApp, ctx: PlatformContext) -> APIRouter:
    """`/cellplane/v1/Emulator/Devices/{Iccid}/Sms`, for the caller's own SIMs and its subaccounts'."""

    async def caller(request: Request) -> Caller:
        return await authenticate(request)

    async def owned(who: Caller, iccids: Sequence[str]) -> Collection[str]:
        async with ctx.sessions() as session:
            found = await owners(session, iccids)
        return {iccid for iccid, account in found.items() if who.can_see(account)}

    return http_sms.router(app, caller, owned)
