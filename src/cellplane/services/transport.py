"""The seam between command delivery and the user plane: what a job needs to put a datagram in a SIM's tunnel.

Jobs never import the network side; the runtime hands them an object with this shape (an adapter around
the in-process gateway, or anything else that reaches a PGW). What the transport can know is what a PGW
knows: whether the SIM has a data session and the datagram went into its tunnel. Paging an idle device,
buffering for an eDRX sleeper (HLCOM) or losing the packet happen further on, in the visited network.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from cellplane.protocols.sms import ShortMessage


class DeliveryOutcome(StrEnum):
    SENT = "sent"  # handed to the SIM's GTP-U tunnel towards the visited network
    NOT_ATTACHED = "not_attached"  # the SIM has no data session: nothing to send it through
    NO_USER_PLANE = "no_user_plane"  # this process runs no gateway (a third-party PGW holds the sessions)


@dataclass(frozen=True)
class IpDelivery:
    outcome: DeliveryOutcome
    device_ip: str | None = None  # the SIM's address in the session the datagram went to


class CommandTransport(Protocol):
    async def send_ip(self, imsi: str, device_port: int, payload: bytes) -> IpDelivery:
        """Send one UDP datagram from 100.64.0.1 to `device_port` of the SIM with this IMSI."""
        ...


# --- SMS --- the same seam for SMS Commands: what a job needs to hand an SMS to an SMS center (network/smsc).


class SmsOutcome(StrEnum):
    DELIVERED = "delivered"  # the device acknowledged it at once (it was connected)
    SENT = "sent"  # handed to the serving network (the device is being paged, or asleep): a report follows
    NOT_REACHABLE = "not_reachable"  # absent subscriber: the SIM is attached nowhere
    NO_SMSC = "no_smsc"  # this process runs no SMS center


@dataclass(frozen=True)
class SmsSubmission:
    outcome: SmsOutcome


class SmsTransport(Protocol):
    async def send_sms(self, reference: str, imsi: str, message: ShortMessage) -> SmsSubmission:
        """Submit one SMS to the SIM with this IMSI (text, or bytes as 8-bit data); `reference` (the command's sid)
        comes back in its report."""
        ...
