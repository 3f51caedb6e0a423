"""GTPv2-C messages of the S5/S8 path (TS 29.274 §7): Echo, Create/Delete Session, Delete Bearer.

Each message is a frozen dataclass with `encode() -> bytes`; `decode(data)` reads any of them back and
raises GtpError, and only GtpError, for anything else. IE values go through pycrate (values.py); the
header and the IE framing are ours, because building pycrate's whole-message trees costs ~7 ms per
Create Session on our test machine (~1 ms this way), and the emulator and the gateway share one process.

What a message needs beyond TS 29.274's "M" IEs is what our gateway cannot work without: the IMSI, and
on S5/S8 the SGW's user-plane F-TEID in a Create Session Request; the PGW's F-TEIDs and the allocated
address in an accepting Create Session Response. Their absence is reported as Conditional IE missing.
Incorrect optional IEs are dropped rather than failing the message (TS 29.274 §7.7.7).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cellplane.protocols.gtp import values as v
from cellplane.protocols.gtp.causes import Cause
from cellplane.protocols.gtp.create_session import CreateSessionRequest, CreateSessionResponse
from cellplane.protocols.gtp.errors import GtpError
from cellplane.protocols.gtp.fields import recovery_ie, required
from cellplane.protocols.gtp.header import Header, MessageType, body_of, frame, read_header
from cellplane.protocols.gtp.ies import Ies, IeType
from cellplane.protocols.gtp.teardown import (
    DeleteBearerRequest,
    DeleteBearerResponse,
    DeleteSessionRequest,
    DeleteSessionResponse,
)

__all__ = [
    "CreateSessionRequest",
    "CreateSessionResponse",
    "DeleteBearerRequest",
    "DeleteBearerResponse",
    "DeleteSessionRequest",
    "DeleteSessionResponse",
    "EchoRequest",
    "EchoResponse",
    "GtpcMessage",
    "decode",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class EchoRequest:
    """Path liveness probe (TS 29.274 §7.1.1); `recovery` is the sender's restart counter."""

    message_type: ClassVar[int] = MessageType.ECHO_REQUEST
    seq: int
    recovery: int = 0

    def encode(self) -> bytes:
        return frame(self.message_type, self.seq, recovery_ie(self.recovery), teid=None)

    @classmethod
    def from_ies(cls, header: Header, ies: Ies) -> EchoRequest:
        return cls(seq=header.seq, recovery=required(ies, IeType.RECOVERY, v.decode_recovery, "Recovery"))


@dataclass(frozen=True, slots=True, kw_only=True)
class EchoResponse:
    """Answer to an Echo Request (TS 29.274 §7.1.2); a changed `recovery` means the peer restarted."""

    message_type: ClassVar[int] = MessageType.ECHO_RESPONSE
    seq: int
    recovery: int = 0

    def encode(self) -> bytes:
        return frame(self.message_type, self.seq, recovery_ie(self.recovery), teid=None)

    @classmethod
    def from_ies(cls, header: Header, ies: Ies) -> EchoResponse:
        return cls(seq=header.seq, recovery=required(ies, IeType.RECOVERY, v.decode_recovery, "Recovery"))


GtpcMessage = (
    EchoRequest
    | EchoResponse
    | CreateSessionRequest
    | CreateSessionResponse
    | DeleteSessionRequest
    | DeleteSessionResponse
    | DeleteBearerRequest
    | DeleteBearerResponse
)

_MESSAGES: dict[int, type[GtpcMessage]] = {
    cls.message_type: cls
    for cls in (
        EchoRequest,
        EchoResponse,
        CreateSessionRequest,
        CreateSessionResponse,
        DeleteSessionRequest,
        DeleteSessionResponse,
        DeleteBearerRequest,
        DeleteBearerResponse,
    )
}
_NO_TEID = frozenset({MessageType.ECHO_REQUEST, MessageType.ECHO_RESPONSE})


def decode(data: bytes | bytearray | memoryview) -> GtpcMessage:
    """The message in one UDP payload; GtpError (with the header's type, sequence and TEID when it was
    readable, and the cause to answer with) for anything we cannot accept."""
    raw = bytes(data)
    header = read_header(raw)
    try:
        cls = _MESSAGES.get(header.msg_type)
        if cls is None:
            # TS 29.274 §7.7.4: an unknown or unsupported message is discarded (no response).
            raise GtpError(f"message type {header.msg_type} is not one we handle", cause=Cause.SERVICE_NOT_SUPPORTED)
        # Echo messages carry no TEID and every session message carries one (TS 29.274 §5.4, §5.5).
        if (header.teid is None) != (header.msg_type in _NO_TEID):
            raise GtpError(f"{cls.__name__} with the T flag {'un' if header.teid is None else ''}set")
        return cls.from_ies(header, Ies(body_of(raw, header), cls.__name__))
    except GtpError as error:
        error.msg_type, error.seq, error.teid = header.msg_type, header.seq, header.teid
        raise
