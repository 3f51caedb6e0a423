"""The rules of Programmable Wireless Commands: statuses, modes, transports, the sid in the body, sizes, codes.

From the official spec (`wireless.v1.command`, CreateCommand) and the Command resource docs
(https://www.twilio.com/docs/iot/wireless/api/command-resource): a Command is text or binary (base64); as an SMS
it carries 160 characters of text or 140 bytes; `IncludeSid` puts the Command's sid at the start or the end of
the body, separated by a space, and the sid counts toward the limit. Statuses: `queued` -> `sent` ->
`delivered` once a requested delivery receipt comes (SMS), or `failed`; commands from the SIM are `received`.

Transport. The resource has `transport` (sms | ip), but CreateCommand has no parameter that chooses it and the
hosted docs describe SMS only; the spec's two create examples pair CommandMode=text with an SMS Command and
CommandMode=binary with an IP one (`createCommandSms`, `createCommandIp`). cellplane takes an optional
`Transport` parameter (an extension) and defaults to that pairing. A binary Command with `Transport=sms` is one
8-bit data SMS (TP-DCS 0x04): its bytes, the sid's ASCII and a space included (IncludeSid), at most 140 octets
of user data; a text Command is one SMS of text (160 GSM 7-bit characters, or 70 UCS-2). An IP Command is one UDP
datagram from
100.64.0.1, under the IP Commands rules (domain/ip_commands.py: at most 1300 bytes), to DEVICE_PORT on the
device: the hosted docs publish no port for Wireless IP Commands, so this one is cellplane's.
"""

from __future__ import annotations

import base64
import binascii

from cellplane.domain import ip_commands
from cellplane.domain.errors import InvalidParameter

STATUSES = ("queued", "sent", "delivered", "received", "failed")
QUEUED, SENT, DELIVERED, RECEIVED, FAILED = STATUSES
DIRECTIONS = ("from_sim", "to_sim")
FROM_SIM, TO_SIM = DIRECTIONS
MODES = ("text", "binary")
TEXT, BINARY = MODES
TRANSPORTS = ("sms", "ip")
SMS, IP = TRANSPORTS
INCLUDE_SID = ("none", "start", "end")

DEVICE_PORT = 30000  # cellplane's: where a device listens for Wireless IP Commands (see the module docstring)

# DESIGN.md's Wireless codes: 33101 an invalid value, 33104 a SIM that cannot take Commands yet (not ready or
# active, no rate plan), 33201 Commands its rate plan does not allow.
INVALID = 33101
NOT_READY = 33104
NOT_PERMITTED = 33201


def check_choice(parameter: str, value: str | None, choices: tuple[str, ...]) -> str | None:
    if value is not None and value not in choices:
        raise InvalidParameter(parameter, f"{parameter} must be one of: {', '.join(choices)}", code=INVALID)
    return value


def default_transport(mode: str) -> str:
    """The spec's own examples: text Commands travel as SMS, binary ones over IP."""
    return IP if mode == BINARY else SMS


def decode(command: str, mode: str) -> bytes:
    """The bytes a Command stands for: base64 in binary mode, UTF-8 text otherwise."""
    if mode != BINARY:
        return command.encode("utf-8")
    try:
        return base64.b64decode(command.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise InvalidParameter("Command", "Command must be valid base64 in binary mode", code=INVALID) from None


def with_sid_text(text: str, include_sid: str, sid: str) -> str:
    """The text body as sent: the sid before or after the Command, separated by a space (IncludeSid)."""
    if include_sid == "start":
        return f"{sid} {text}"
    if include_sid == "end":
        return f"{text} {sid}"
    return text


def with_sid_bytes(data: bytes, include_sid: str, sid: str) -> bytes:
    """The binary body as sent: the sid's ASCII before or after the bytes, separated by a space."""
    return with_sid_text(data.decode("latin-1"), include_sid, sid).encode("latin-1")


def body(command: str, mode: str, include_sid: str, sid: str) -> bytes:
    """What goes to the device, as bytes (a datagram's payload, or a binary SMS's user data)."""
    return with_sid_bytes(decode(command, mode), include_sid, sid)


def sms_message(command: str, mode: str, include_sid: str, sid: str) -> str | bytes:
    """What one SMS carries: the text with its sid, or in binary mode the bytes (sent as 8-bit data)."""
    if mode == BINARY:
        return body(command, mode, include_sid, sid)
    return with_sid_text(command, include_sid, sid)


def check_datagram(data: bytes) -> None:
    if len(data) > ip_commands.MAX_PAYLOAD_BYTES:
        raise InvalidParameter(
            "Command",
            f"Command is {len(data)} bytes as sent; an IP Command carries at most {ip_commands.MAX_PAYLOAD_BYTES}",
            code=INVALID,
        )


def encode_received(data: bytes) -> str:
    """Bytes from the SIM (a datagram, or an 8-bit data SMS), as the API shows them: binary mode, so base64."""
    return base64.b64encode(data).decode("ascii")
