"""The rules of IP Commands: statuses, directions, payload encodings and limits, ports, error codes.

From the seed (IPCommand Resource) and the official spec: a payload is text (UTF-8) or binary (base64),
at most 1300 bytes once decoded, sent as one UDP datagram to a device port; commands from the SIM are
always shown as binary. Statuses: queued -> sent | failed for commands to the SIM, received for those
from it.
"""

from __future__ import annotations

import base64
import binascii

from cellplane.domain.errors import InvalidParameter

MAX_PAYLOAD_BYTES = 1300  # "The decoded payload is too large to send in a single UDP request" above this
STATUSES = ("queued", "sent", "received", "failed")
DIRECTIONS = ("to_sim", "from_sim")
PAYLOAD_TYPES = ("text", "binary")
TO_SIM, FROM_SIM = DIRECTIONS
QUEUED, SENT, RECEIVED, FAILED = STATUSES

# DESIGN.md error codes: 83400 delivery error, 83402 non-2xx answer to an IP Command callback.
DELIVERY_ERROR = 83400
CALLBACK_ERROR = 83402
NOT_ATTACHED_MESSAGE = "The device was not attached to a cellular network when the IP Command was dequeued"
NO_USER_PLANE_MESSAGE = "No packet gateway serves this SIM's data sessions here, so the IP Command could not be sent"


def decode_payload(payload: str, payload_type: str) -> bytes:
    """The bytes that go into the UDP datagram; InvalidParameter names `Payload` when they cannot."""
    if payload_type == "binary":
        try:
            data = base64.b64decode(payload.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise InvalidParameter("Payload", "Payload must be valid base64 when PayloadType is binary") from None
    else:
        data = payload.encode("utf-8")
    if len(data) > MAX_PAYLOAD_BYTES:
        raise InvalidParameter(
            "Payload",
            f"Payload is {len(data)} bytes once decoded; an IP Command carries at most {MAX_PAYLOAD_BYTES} bytes",
        )
    return data


def stored_payload(payload: str, payload_type: str) -> bytes:
    """The datagram of a stored command (already validated at creation)."""
    return base64.b64decode(payload) if payload_type == "binary" else payload.encode("utf-8")


def encode_received(data: bytes) -> str:
    """A payload from the SIM, as the API shows it: always binary, so base64 (the spec's `payload_type`)."""
    return base64.b64encode(data).decode("ascii")


def check_port(port: int) -> int:
    """A UDP destination port on the device: 1 to 65535 (port 0 is reserved, RFC 768 / IANA)."""
    if not 0 < port <= 0xFFFF:
        raise InvalidParameter("DevicePort", "DevicePort must be a UDP port from 1 to 65535")
    return port
