"""Delete Session and Delete Bearer Request/Response (TS 29.274 §7.2.9, §7.2.10): closing a PDN connection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cellplane.protocols.gtp import values as v
from cellplane.protocols.gtp.causes import Cause
from cellplane.protocols.gtp.errors import GtpError
from cellplane.protocols.gtp.fields import EBIS, LINKED_EBI, cause_ie, optional, recovery_ie, required
from cellplane.protocols.gtp.header import Header, MessageType, frame
from cellplane.protocols.gtp.ies import Ies, IeType, UserLocation, pack_ie


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteSessionRequest:
    """SGW -> PGW: close the PDN connection of the default bearer `ebi` (TS 29.274 §7.2.9.1).

    `teid` is the PGW's control TEID from its Create Session Response.
    """

    message_type: ClassVar[int] = MessageType.DELETE_SESSION_REQUEST
    seq: int
    teid: int
    ebi: int | None = 5  # Linked EPS Bearer ID
    cause: int | None = None
    uli: UserLocation | None = None

    def encode(self) -> bytes:
        parts = []
        if self.cause is not None:
            parts.append(cause_ie(self.cause))
        if self.ebi is not None:
            parts.append(pack_ie(IeType.EBI, v.encode_ebi(self.ebi)))
        if self.uli is not None:
            parts.append(pack_ie(IeType.ULI, v.encode_uli(self.uli)))
        return frame(self.message_type, self.seq, b"".join(parts), teid=self.teid)

    @classmethod
    def from_ies(cls, header: Header, ies: Ies) -> DeleteSessionRequest:
        raw_ebi = ies.first(IeType.EBI)
        return cls(
            seq=header.seq,
            teid=header.teid or 0,
            ebi=v.decode_ebi(raw_ebi) if raw_ebi is not None else None,
            cause=optional(ies, IeType.CAUSE, v.decode_cause),
            uli=optional(ies, IeType.ULI, v.decode_uli),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteSessionResponse:
    """PGW -> SGW: the PDN connection is closed, or Context Not Found (TS 29.274 §7.2.10.1)."""

    message_type: ClassVar[int] = MessageType.DELETE_SESSION_RESPONSE
    seq: int
    teid: int
    cause: int
    recovery: int | None = None

    def encode(self) -> bytes:
        body = cause_ie(self.cause) + recovery_ie(self.recovery)
        return frame(self.message_type, self.seq, body, teid=self.teid)

    @classmethod
    def from_ies(cls, header: Header, ies: Ies) -> DeleteSessionResponse:
        return cls(
            seq=header.seq,
            teid=header.teid or 0,
            cause=required(ies, IeType.CAUSE, v.decode_cause, "Cause"),
            recovery=optional(ies, IeType.RECOVERY, v.decode_recovery),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteBearerRequest:
    """PGW -> SGW: the network tears the connection down (TS 29.274 §7.2.9.2), e.g. on a RADIUS Disconnect.

    `lbi` (Linked EPS Bearer ID) deletes the whole PDN connection; `ebis` would delete dedicated
    bearers only. `teid` is the SGW's control TEID.
    """

    message_type: ClassVar[int] = MessageType.DELETE_BEARER_REQUEST
    seq: int
    teid: int
    lbi: int | None = 5
    ebis: tuple[int, ...] = ()
    cause: int | None = None

    def encode(self) -> bytes:
        if self.lbi is None and not self.ebis:
            raise GtpError("a Delete Bearer Request needs the Linked EPS Bearer ID or EPS Bearer IDs")
        parts = []
        if self.lbi is not None:
            parts.append(pack_ie(IeType.EBI, v.encode_ebi(self.lbi), LINKED_EBI))
        parts.extend(pack_ie(IeType.EBI, v.encode_ebi(ebi), EBIS) for ebi in self.ebis)
        if self.cause is not None:
            parts.append(cause_ie(self.cause))
        return frame(self.message_type, self.seq, b"".join(parts), teid=self.teid)

    @classmethod
    def from_ies(cls, header: Header, ies: Ies) -> DeleteBearerRequest:
        raw_lbi = ies.first(IeType.EBI, LINKED_EBI)
        ebis = tuple(v.decode_ebi(raw) for raw in ies.all(IeType.EBI, EBIS))
        if raw_lbi is None and not ebis:
            raise GtpError("neither Linked EPS Bearer ID nor EPS Bearer IDs", cause=Cause.CONDITIONAL_IE_MISSING)
        return cls(
            seq=header.seq,
            teid=header.teid or 0,
            lbi=v.decode_ebi(raw_lbi) if raw_lbi is not None else None,
            ebis=ebis,
            cause=optional(ies, IeType.CAUSE, v.decode_cause),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteBearerResponse:
    """SGW -> PGW: the bearers are gone (TS 29.274 §7.2.10.2). `teid` is the PGW's control TEID."""

    message_type: ClassVar[int] = MessageType.DELETE_BEARER_RESPONSE
    seq: int
    teid: int
    cause: int
    lbi: int | None = 5
    recovery: int | None = None

    def encode(self) -> bytes:
        parts = [cause_ie(self.cause)]
        if self.lbi is not None:
            parts.append(pack_ie(IeType.EBI, v.encode_ebi(self.lbi), LINKED_EBI))
        parts.append(recovery_ie(self.recovery))
        return frame(self.message_type, self.seq, b"".join(parts), teid=self.teid)

    @classmethod
    def from_ies(cls, header: Header, ies: Ies) -> DeleteBearerResponse:
        return cls(
            seq=header.seq,
            teid=header.teid or 0,
            cause=required(ies, IeType.CAUSE, v.decode_cause, "Cause"),
            lbi=optional(ies, IeType.EBI, v.decode_ebi, LINKED_EBI),
            recovery=optional(ies, IeType.RECOVERY, v.decode_recovery),
        )
