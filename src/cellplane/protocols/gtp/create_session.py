"""Create Session Request/Response (TS 29.274 §7.2.1, §7.2.2): opening a PDN connection on S5/S8."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cellplane.protocols.gtp import values as v
from cellplane.protocols.gtp.causes import Cause, is_acceptance
from cellplane.protocols.gtp.errors import GtpError
from cellplane.protocols.gtp.fields import (
    PGW_S5S8_FTEID,
    S5S8_U_FTEID,
    SENDER_FTEID,
    cause_ie,
    decode_private_extension,
    grouped,
    optional,
    private_extension_ie,
    recovery_ie,
    required,
)
from cellplane.protocols.gtp.header import Header, MessageType, frame
from cellplane.protocols.gtp.ies import (
    Fteid,
    Ies,
    IeType,
    PdnType,
    Plmn,
    PrivateExtension,
    RatType,
    UserLocation,
    missing,
    pack_ie,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateSessionRequest:
    """SGW -> PGW: open a PDN connection for a subscriber (TS 29.274 §7.2.1).

    `teid` is the header TEID: 0, since the PGW has no context for this UE yet (TS 29.274 §5.5.2).
    `paa_ipv4` is the address asked for, "0.0.0.0" for dynamic allocation (TS 29.274 §8.14).
    """

    message_type: ClassVar[int] = MessageType.CREATE_SESSION_REQUEST
    seq: int
    imsi: str
    apn: str
    sender_fteid: Fteid  # S5/S8 SGW GTP-C: where the PGW sends its requests and responses
    bearer_fteid: Fteid  # S5/S8-U SGW GTP-U: where the PGW tunnels downlink packets
    ebi: int = 5
    teid: int = 0
    msisdn: str | None = None
    mei: str | None = None  # IMEI or IMEISV digits
    serving_network: Plmn | None = None
    uli: UserLocation | None = None
    rat_type: int = RatType.EUTRAN
    pdn_type: int = PdnType.IPV4
    paa_ipv4: str | None = "0.0.0.0"
    qci: int = 9
    arp_priority: int = 15
    recovery: int | None = None
    private_extension: PrivateExtension | None = None  # last IE of Table 7.2.1-1 (see private.py for ours)

    def encode(self) -> bytes:
        bearer = b"".join(
            (
                pack_ie(IeType.EBI, v.encode_ebi(self.ebi)),
                pack_ie(IeType.BEARER_QOS, v.encode_bearer_qos(self.qci, self.arp_priority)),
                pack_ie(IeType.FTEID, v.encode_fteid(self.bearer_fteid), S5S8_U_FTEID),
            )
        )
        parts = [pack_ie(IeType.IMSI, v.encode_digits("IMSI", self.imsi))]
        if self.msisdn is not None:
            parts.append(pack_ie(IeType.MSISDN, v.encode_digits("MSISDN", self.msisdn)))
        if self.mei is not None:
            parts.append(pack_ie(IeType.MEI, v.encode_digits("MEI", self.mei)))
        if self.uli is not None:
            parts.append(pack_ie(IeType.ULI, v.encode_uli(self.uli)))
        if self.serving_network is not None:
            parts.append(pack_ie(IeType.SERVING_NETWORK, v.encode_serving_network(self.serving_network)))
        parts.append(pack_ie(IeType.RAT_TYPE, v.encode_rat_type(self.rat_type)))
        parts.append(pack_ie(IeType.FTEID, v.encode_fteid(self.sender_fteid), SENDER_FTEID))
        parts.append(pack_ie(IeType.APN, v.encode_apn(self.apn)))
        parts.append(pack_ie(IeType.PDN_TYPE, v.encode_pdn_type(self.pdn_type)))
        if self.paa_ipv4 is not None:
            parts.append(pack_ie(IeType.PAA, v.encode_paa_ipv4(self.paa_ipv4)))
        parts.append(pack_ie(IeType.BEARER_CONTEXT, bearer))
        parts.append(recovery_ie(self.recovery))
        parts.append(private_extension_ie(self.private_extension))
        return frame(self.message_type, self.seq, b"".join(parts), teid=self.teid)

    @classmethod
    def from_ies(cls, header: Header, ies: Ies) -> CreateSessionRequest:
        bearer = required(ies, IeType.BEARER_CONTEXT, grouped, "Bearer Context to be created")
        qci, arp_priority = required(bearer, IeType.BEARER_QOS, v.decode_bearer_qos, "Bearer Level QoS")
        paa = optional(ies, IeType.PAA, v.decode_paa)
        pdn_type = optional(ies, IeType.PDN_TYPE, v.decode_pdn_type)
        return cls(
            seq=header.seq,
            teid=header.teid or 0,
            # The IMSI is conditional in TS 29.274 (absent only for unauthenticated emergency attach,
            # which an IoT platform does not serve); without it there is no SIM to authorize.
            imsi=required(
                ies, IeType.IMSI, lambda raw: v.decode_digits("IMSI", raw), "IMSI", cause=Cause.CONDITIONAL_IE_MISSING
            ),
            apn=required(ies, IeType.APN, v.decode_apn, "APN"),
            rat_type=required(ies, IeType.RAT_TYPE, v.decode_rat_type, "RAT Type"),
            sender_fteid=required(ies, IeType.FTEID, v.decode_fteid, "Sender F-TEID for Control Plane"),
            ebi=required(bearer, IeType.EBI, v.decode_ebi, "EPS Bearer ID"),
            qci=qci,
            arp_priority=arp_priority,
            bearer_fteid=required(
                bearer,
                IeType.FTEID,
                v.decode_fteid,
                "S5/S8-U SGW F-TEID",
                S5S8_U_FTEID,
                cause=Cause.CONDITIONAL_IE_MISSING,
            ),
            msisdn=optional(ies, IeType.MSISDN, lambda raw: v.decode_digits("MSISDN", raw)),
            mei=optional(ies, IeType.MEI, lambda raw: v.decode_digits("MEI", raw)),
            serving_network=optional(ies, IeType.SERVING_NETWORK, v.decode_serving_network),
            uli=optional(ies, IeType.ULI, v.decode_uli),
            # Without a PDN Type IE the PAA's type says what the UE asked for (both are conditional).
            pdn_type=pdn_type if pdn_type is not None else (paa[0] if paa else PdnType.IPV4),
            paa_ipv4=paa[1] if paa else None,
            recovery=optional(ies, IeType.RECOVERY, v.decode_recovery),
            private_extension=optional(ies, IeType.PRIVATE_EXTENSION, decode_private_extension),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateSessionResponse:
    """PGW -> SGW: the PDN connection is open, or why not (TS 29.274 §7.2.2).

    `teid` is the header TEID: the SGW's control TEID from the request's Sender F-TEID. An accepting
    response carries the PGW's control and user-plane F-TEIDs and the allocated address; a rejection
    carries only the cause (and the restart counter, if given).
    """

    message_type: ClassVar[int] = MessageType.CREATE_SESSION_RESPONSE
    seq: int
    teid: int
    cause: int
    pgw_fteid: Fteid | None = None  # S5/S8 PGW GTP-C
    bearer_fteid: Fteid | None = None  # S5/S8-U PGW GTP-U
    paa_ipv4: str | None = None
    ebi: int = 5
    bearer_cause: int | None = None  # the Bearer Context's own cause; defaults to `cause`
    recovery: int | None = None
    private_extension: PrivateExtension | None = None  # last IE of Table 7.2.2-1 (see private.py for ours)

    def __post_init__(self) -> None:
        # What goes on the wire when the Bearer Context's cause is not given: keeps decode(encode(m)) == m.
        if self.bearer_cause is None and is_acceptance(self.cause):
            object.__setattr__(self, "bearer_cause", self.cause)

    @property
    def accepted(self) -> bool:
        return is_acceptance(self.cause)

    def encode(self) -> bytes:
        parts = [cause_ie(self.cause)]
        if self.accepted:
            if self.pgw_fteid is None or self.bearer_fteid is None or self.paa_ipv4 is None:
                raise GtpError("an accepting Create Session Response needs pgw_fteid, bearer_fteid and paa_ipv4")
            bearer = b"".join(
                (
                    pack_ie(IeType.EBI, v.encode_ebi(self.ebi)),
                    cause_ie(self.bearer_cause or self.cause),
                    pack_ie(IeType.FTEID, v.encode_fteid(self.bearer_fteid), S5S8_U_FTEID),
                )
            )
            parts.append(pack_ie(IeType.FTEID, v.encode_fteid(self.pgw_fteid), PGW_S5S8_FTEID))
            parts.append(pack_ie(IeType.PAA, v.encode_paa_ipv4(self.paa_ipv4)))
            parts.append(pack_ie(IeType.BEARER_CONTEXT, bearer))
        parts.append(recovery_ie(self.recovery))
        parts.append(private_extension_ie(self.private_extension))
        return frame(self.message_type, self.seq, b"".join(parts), teid=self.teid)

    @classmethod
    def from_ies(cls, header: Header, ies: Ies) -> CreateSessionResponse:
        cause = required(ies, IeType.CAUSE, v.decode_cause, "Cause")
        recovery = optional(ies, IeType.RECOVERY, v.decode_recovery)
        extension = optional(ies, IeType.PRIVATE_EXTENSION, decode_private_extension)
        if not is_acceptance(cause):
            return cls(
                seq=header.seq, teid=header.teid or 0, cause=cause, recovery=recovery, private_extension=extension
            )
        bearer = required(ies, IeType.BEARER_CONTEXT, grouped, "Bearer Context created")
        # A PGW puts its S5/S8 control F-TEID at instance 1; accept a Sender F-TEID (instance 0) too.
        control = ies.first(IeType.FTEID, PGW_S5S8_FTEID)
        if control is None:
            control = ies.first(IeType.FTEID, SENDER_FTEID)
        if control is None:
            raise missing("PGW S5/S8 F-TEID for Control Plane")
        paa = required(ies, IeType.PAA, v.decode_paa, "PAA", cause=Cause.CONDITIONAL_IE_MISSING)
        if paa[1] is None:
            raise GtpError(f"PAA of PDN type {paa[0]} has no IPv4 address", cause=Cause.MANDATORY_IE_INCORRECT)
        return cls(
            seq=header.seq,
            teid=header.teid or 0,
            cause=cause,
            pgw_fteid=v.decode_fteid(control, "PGW S5/S8 F-TEID"),
            paa_ipv4=paa[1],
            ebi=required(bearer, IeType.EBI, v.decode_ebi, "EPS Bearer ID"),
            bearer_cause=required(bearer, IeType.CAUSE, v.decode_cause, "Bearer Context Cause"),
            bearer_fteid=required(
                bearer,
                IeType.FTEID,
                v.decode_fteid,
                "S5/S8-U PGW F-TEID",
                S5S8_U_FTEID,
                cause=Cause.CONDITIONAL_IE_MISSING,
            ),
            recovery=recovery,
            private_extension=extension,
        )
