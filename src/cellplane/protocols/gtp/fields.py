"""What the GTPv2-C message modules share: IE instances of the S5/S8 path and the IE reading rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from cellplane.protocols.gtp import values as v
from cellplane.protocols.gtp.errors import GtpError
from cellplane.protocols.gtp.ies import Ies, IeType, PrivateExtension, incorrect, missing, pack_ie

T = TypeVar("T")

# Instances that tell apart IEs of the same type (TS 29.274 Tables 7.2.1-1/-2, 7.2.2-1/-2, 7.2.9.2-1).
SENDER_FTEID = 0  # Sender F-TEID for Control Plane
PGW_S5S8_FTEID = 1  # PGW S5/S8 F-TEID for the GTP-based control plane, in Create Session Response
S5S8_U_FTEID = 2  # S5/S8-U SGW F-TEID (request) / S5/S8-U PGW F-TEID (response), inside the Bearer Context
LINKED_EBI, EBIS = 0, 1  # Linked EPS Bearer ID / EPS Bearer IDs in Delete Bearer Request


def optional(ies: Ies, ie_type: int, decoder: Callable[[bytes], T], instance: int = 0) -> T | None:
    """An optional IE's value, or None when it is absent or incorrect (TS 29.274 §7.7.7: discard it)."""
    raw = ies.first(ie_type, instance)
    if raw is None:
        return None
    try:
        return decoder(raw)
    except GtpError:
        return None


def required(
    ies: Ies, ie_type: int, decoder: Callable[[bytes], T], what: str, instance: int = 0, cause: int | None = None
) -> T:
    """An IE's value; GtpError if it is incorrect, or absent (Mandatory IE missing unless `cause` says else)."""
    raw = ies.first(ie_type, instance)
    if raw is None:
        error = missing(what)
        if cause is not None:
            error.cause = cause
        raise error
    return decoder(raw)


def grouped(raw: bytes) -> Ies:
    """The IEs inside a Bearer Context (TS 29.274 §8.28, a grouped IE)."""
    return Ies(raw, "Bearer Context")


def cause_ie(cause: int) -> bytes:
    return pack_ie(IeType.CAUSE, v.encode_cause(cause))


def recovery_ie(recovery: int | None) -> bytes:
    return pack_ie(IeType.RECOVERY, v.encode_recovery(recovery)) if recovery is not None else b""


def private_extension_ie(extension: PrivateExtension | None) -> bytes:
    """The Private Extension IE (TS 29.274 §8.67): Enterprise ID (2 octets) then the proprietary value."""
    if extension is None:
        return b""
    if not isinstance(extension.enterprise_id, int) or not 0 <= extension.enterprise_id <= 0xFFFF:
        raise GtpError(f"Private Extension enterprise ID must be 0 to 65535, not {extension.enterprise_id!r}")
    return pack_ie(IeType.PRIVATE_EXTENSION, extension.enterprise_id.to_bytes(2, "big") + bytes(extension.value))


def decode_private_extension(raw: bytes) -> PrivateExtension:
    if len(raw) < 2:
        raise incorrect("Private Extension")
    return PrivateExtension(int.from_bytes(raw[:2], "big"), bytes(raw[2:]))
