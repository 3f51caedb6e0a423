"""The devices' SMS app: each device's inbox and sent messages, and SMS carried the way a radio network carries them.

Mobile-terminated (`deliver`, the radio leg an SMS center is given): a connected device has the SMS at once;
an idle one is paged and has it once it answers (TS 23.401 §5.3.4.3 paging, then the SMS over NAS,
TS 23.272 §8.2); one asleep in eDRX gets it when it wakes; a detached or powered-off device is absent, which
the SMS center learns at once (as an HLR answers "absent subscriber"). Mobile-originated (`send`): the device
wakes if it must (a Service Request), submits the SMS to the network and keeps the answer, RP-ACK or
RP-ERROR with its cause (TS 24.011 §7.3). An SMS is text or 8-bit data (bytes; TP-DCS 0x04), both ways, and
each message keeps the TP-DCS it travelled with. Inboxes are kept by ICCID across power cycles, as a real SIM
stores its SMS (TS 31.102 EF_SMS). It imports protocols only, like the rest of the emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from cellplane.protocols.sms import ShortMessage, alphabet_of, data_coding, measure

from .emulator import Emulator
from .errors import EmulatorError, InvalidState, InvalidValue, UnknownDevice
from .states import CONNECTED, DeviceState

SERVICE_NUMBER = "000"  # the platform's SMS Commands number: MT SMS come from it, MO SMS go to it
BOX_LIMIT = 1000  # messages an inbox or a sent box keeps (oldest dropped first)
WAKE_POLL = 0.02  # how often a held SMS looks whether its sleeping device woke


class MtResult(StrEnum):
    DELIVERED = "delivered"
    PENDING = "pending"  # being paged, or asleep in eDRX: `later` settles it
    ABSENT = "absent"


@dataclass(frozen=True)
class MtDelivery:
    result: MtResult
    later: asyncio.Future[bool] | None = None  # True once the device has it; False if it went absent


@dataclass(frozen=True)
class NetworkAnswer:
    """What the network answered a device's SMS: RP-ACK, or RP-ERROR with its RP-Cause (TS 24.011 §8.2.5.4)."""

    accepted: bool
    cause: int | None = None
    reason: str | None = None


# The SMS center a device's SMS reaches: (IMSI, text or 8-bit data) -> the network's answer.
Submit = Callable[[str, ShortMessage], Awaitable[NetworkAnswer]]


@dataclass(frozen=True, slots=True)
class Sms:
    """One message in a device's inbox (`to_sim`) or sent box (`from_sim`): text, or bytes of 8-bit data."""

    direction: str
    peer: str  # who sent it (inbox) or where it went (sent box)
    message: ShortMessage
    at: float
    alphabet: str
    data_coding: int  # the TP-DCS it travelled with (TS 23.038 §4): 0x00 GSM 7-bit, 0x04 8-bit data, 0x08 UCS-2
    accepted: bool = True  # sent box: whether the network took it
    cause: int | None = None
    reason: str | None = None


@dataclass
class _Held:
    message: ShortMessage
    future: asyncio.Future[bool] = field(repr=False)


class SmsApp:
    """SMS for every device of one Emulator; `submit` reaches the SMS center (None: there is none)."""

    def __init__(self, emulator: Emulator, *, submit: Submit | None = None) -> None:
        self.emulator = emulator
        self.submit = submit
        self._inbox: dict[str, deque[Sms]] = {}
        self._sent: dict[str, deque[Sms]] = {}
        self._held: dict[str, list[_Held]] = {}
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._iccid_by_imsi: dict[str, str] = {}

    # --- mobile terminated ----------------------------------------------------------------------------------

    def deliver(self, imsi: str, message: ShortMessage) -> MtDelivery:
        """An SMS (text, or 8-bit data) from the SMS center to the device with this IMSI, as its serving network
        carries it."""
        iccid = self._iccid_of(imsi)
        state = self._state(iccid) if iccid is not None else DeviceState.DETACHED
        if iccid is None or state not in CONNECTED:
            return MtDelivery(MtResult.ABSENT)
        if state == DeviceState.ATTACHED:
            self._receive(iccid, message)
            return MtDelivery(MtResult.DELIVERED)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._held.setdefault(iccid, []).append(_Held(message, future))
        if iccid not in self._watchers:
            self._watchers[iccid] = asyncio.create_task(self._watch(iccid), name=f"sms-held-{iccid}")
        return MtDelivery(MtResult.PENDING, future)

    async def _watch(self, iccid: str) -> None:
        """Hold the device's SMS until it is connected (paging it when idle), or absent."""
        try:
            while True:
                held = [item for item in self._held.get(iccid, []) if not item.future.done()]
                self._held[iccid] = held
                if not held:
                    return  # every one expired at the SMS center (its validity period)
                state = self._state(iccid)
                if state == DeviceState.ATTACHED:
                    for item in held:
                        self._receive(iccid, item.message)
                        item.future.set_result(True)
                    self._held[iccid] = []
                    return
                if state not in CONNECTED:
                    for item in held:
                        item.future.set_result(False)
                    self._held[iccid] = []
                    return
                if state == DeviceState.IDLE:
                    await asyncio.sleep(self.emulator.config.paging_delay)  # the page, then its answer
                    if self._state(iccid) == DeviceState.IDLE:
                        with contextlib.suppress(EmulatorError):
                            await self.emulator.set_state(iccid, DeviceState.ATTACHED)
                else:
                    await asyncio.sleep(WAKE_POLL)  # eDRX: the network holds it until the device wakes
        finally:
            self._watchers.pop(iccid, None)

    def _receive(self, iccid: str, message: ShortMessage) -> None:
        sms = Sms("to_sim", SERVICE_NUMBER, message, time.time(), alphabet_of(message).value, data_coding(message))
        self._inbox.setdefault(iccid, deque(maxlen=BOX_LIMIT)).append(sms)

    # --- mobile originated ----------------------------------------------------------------------------------

    async def send(self, iccid: str, message: ShortMessage) -> Sms:
        """The device sends `message` (text, or bytes as 8-bit data) to the platform's number; returns it with the
        network's answer."""
        view = self.emulator.device(iccid)
        if not message:
            raise InvalidValue("Body must not be empty", "Body")
        size = measure(message)
        if not size.fits:
            raise InvalidValue(f"Body is {size.length} {size.unit}; one SMS carries at most {size.limit}", "Body")
        if view.state not in CONNECTED:
            raise InvalidState(f"device {iccid} is {view.state}: it must be attached to send an SMS")
        if self.submit is None:
            raise InvalidState("this emulator has no SMS center to send to")
        if view.state != DeviceState.ATTACHED:
            await self.emulator.set_state(iccid, DeviceState.ATTACHED)  # a Service Request, to send
        answer = await self.submit(view.imsi, message)
        sms = Sms(
            "from_sim",
            SERVICE_NUMBER,
            message,
            time.time(),
            size.alphabet.value,
            data_coding(message),
            accepted=answer.accepted,
            cause=answer.cause,
            reason=answer.reason,
        )
        self._sent.setdefault(iccid, deque(maxlen=BOX_LIMIT)).append(sms)
        return sms

    # --- boxes ----------------------------------------------------------------------------------------------

    def inbox(self, iccid: str) -> list[Sms]:
        """What the device received, oldest first (kept across power cycles, like SMS stored on a SIM)."""
        return list(self._inbox.get(iccid, ()))

    def sent(self, iccid: str) -> list[Sms]:
        return list(self._sent.get(iccid, ()))

    def held(self, iccid: str) -> int:
        """SMS the network holds for the device until it can be reached."""
        return sum(1 for item in self._held.get(iccid, []) if not item.future.done())

    async def stop(self) -> None:
        for task in list(self._watchers.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._watchers.clear()

    # --- internals ------------------------------------------------------------------------------------------

    def _state(self, iccid: str) -> str:
        try:
            return self.emulator.device(iccid).state
        except UnknownDevice:
            return DeviceState.DETACHED  # powered off

    def _iccid_of(self, imsi: str) -> str | None:
        iccid = self._iccid_by_imsi.get(imsi)
        if iccid is not None:
            with contextlib.suppress(UnknownDevice):
                if self.emulator.device(iccid).imsi == imsi:
                    return iccid
        self._iccid_by_imsi = {view.imsi: view.iccid for view in self.emulator.devices()}
        return self._iccid_by_imsi.get(imsi)
