"""The SMS center's side towards devices: how it hands a mobile-terminated SMS to the network that serves a SIM.

In a real core the SMSC asks the HLR/HSS where the subscriber is (MAP SendRoutingInfoForSM, TS 29.002) and
forwards the SMS to that MSC or MME, which pages an idle device and delivers it over NAS (TS 23.040 §10,
TS 23.272 for SMS over SGs). Here that whole leg is one in-process call, `deliver(imsi, message)`, given by
whoever runs the SMSC (the runtime connects the emulator's devices): it answers at once whether the
device has the SMS, is being reached (then `later` settles it), or is absent (attached nowhere).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from cellplane.protocols.sms import ShortMessage


class MtResult(StrEnum):
    DELIVERED = "delivered"  # connected: the device acknowledged it (RP-ACK)
    PENDING = "pending"  # idle (being paged) or asleep (eDRX): `later` says whether it arrived
    ABSENT = "absent"  # detached, powered off or unknown: the HLR's "absent subscriber"


@dataclass(frozen=True)
class MtAttempt:
    result: MtResult
    # For PENDING: resolves to True once the device has the SMS, False if it went absent meanwhile.
    later: Awaitable[bool] | None = None


# (IMSI, the SMS: text, or bytes sent as 8-bit data) -> what the serving network made of it.
Deliver = Callable[[str, ShortMessage], MtAttempt]
