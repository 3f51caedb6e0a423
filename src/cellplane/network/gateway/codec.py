"""GTP <-> RADIUS: the attributes a PGW sends its AAA (TS 29.061 §16, docs/NETWORK.md) and what their answers mean.

Pure functions from a Create Session Request or a session to attribute lists, and from an Access-Reject to
a GTP cause. The gateway's handlers use them; nothing here touches a socket.
"""

from __future__ import annotations

import time

from cellplane.protocols.gtp import Cause, CreateSessionRequest, UserLocation
from cellplane.protocols.gtp import values as gtp_values
from cellplane.protocols.radius import AcctStatusType, MalformedPacket, Packet, Value
from cellplane.protocols.radius.codec import Attributes

from .sessions import Session

FRAMED_PROTOCOL_GPRS_PDP_CONTEXT = 7  # RFC 2865 §5.7 as extended by TS 29.061 §16.4.1
# 3GPP-User-Location-Info's Geographic Location Type for "TAI and ECGI" (TS 29.061 §16.4.7.2, TS 29.274 §8.21).
LOCATION_TAI_AND_ECGI = 130
# The GTP cause of any Access-Reject: TS 29.061 §16.3.1 (as §11.3 for a PDP context) has a PGW refused by its
# RADIUS server reject with "User authentication failed". Why exactly travels in a Private Extension.
REJECT_CAUSE = Cause.USER_AUTHENTICATION_FAILED
# RFC 2869 §5.1/§5.2: octet counts wrap at 2**32 and the overflow goes in Acct-*-Gigawords.
_WORD = 1 << 32


def location_info(uli: UserLocation | None) -> bytes | None:
    """3GPP-User-Location-Info for a TAI + ECGI: the type octet, then TAI (5 octets) and ECGI (7 octets) laid
    out exactly as in the GTPv2 ULI IE after its flags octet."""
    if uli is None:
        return None
    return bytes((LOCATION_TAI_AND_ECGI,)) + gtp_values.encode_uli(uli)[1:]


def _identity(imsi: str, nas_ip: str, nas_identifier: str) -> list[tuple[str, Value]]:
    return [
        ("User-Name", imsi),
        ("3GPP-IMSI", imsi),
        ("NAS-IP-Address", nas_ip),
        ("NAS-Identifier", nas_identifier),
    ]


def _where(
    mcc_mnc: str | None, rat_type: int | None, location: bytes | None, imei: str | None
) -> list[tuple[str, Value]]:
    found: list[tuple[str, Value]] = []
    if imei:
        found.append(("3GPP-IMEISV", imei))
    if mcc_mnc:
        found.append(("3GPP-SGSN-MCC-MNC", mcc_mnc))
    if rat_type is not None and 0 <= rat_type <= 255:
        found.append(("3GPP-RAT-Type", rat_type))
    if location:
        found.append(("3GPP-User-Location-Info", location))
    return found


def access_request(request: CreateSessionRequest, nas_ip: str, nas_identifier: str) -> Attributes:
    """The Access-Request for a Create Session Request (TS 29.061 §16.4.1; docs/NETWORK.md)."""
    mcc_mnc = request.serving_network.code if request.serving_network else None
    attributes = _identity(request.imsi, nas_ip, nas_identifier)
    # TS 29.061 §16.4.1: a PGW without a password to send uses the IMSI; it is not a secret here.
    attributes.append(("User-Password", request.imsi))
    attributes.append(("Called-Station-Id", request.apn))
    if request.msisdn:
        attributes.append(("Calling-Station-Id", request.msisdn))
    attributes.append(("Framed-Protocol", FRAMED_PROTOCOL_GPRS_PDP_CONTEXT))
    attributes.extend(_where(mcc_mnc, int(request.rat_type), location_info(request.uli), request.mei))
    return attributes


def accounting_request(
    session: Session,
    status: AcctStatusType,
    nas_ip: str,
    nas_identifier: str,
    *,
    usage: tuple[int, int, int, int] | None = None,
    terminate_cause: int | None = None,
) -> Attributes:
    """An Accounting-Request of `session`: Start, Interim-Update or Stop (RFC 2866 §5, TS 29.061 §16.4.3).

    `usage` is (octets up, packets up, octets down, packets down), cumulative: the session's counters at
    the moment the report was decided, so a Stop reports what was counted until the session ended.
    """
    attributes = _identity(session.imsi, nas_ip, nas_identifier)
    attributes += [
        ("Acct-Status-Type", int(status)),
        ("Acct-Session-Id", session.acct_session_id),
        ("Framed-IP-Address", session.ue_ip),
        ("Framed-Protocol", FRAMED_PROTOCOL_GPRS_PDP_CONTEXT),
        ("Called-Station-Id", session.apn),
        ("3GPP-Charging-Id", session.charging_id),
        ("Event-Timestamp", int(time.time())),
    ]
    if session.msisdn:
        attributes.append(("Calling-Station-Id", session.msisdn))
    attributes.extend(_where(session.mcc_mnc, session.rat_type, session.location, session.imei))
    attributes.extend(("Class", value) for value in session.classes)
    if status != AcctStatusType.START:
        up_octets, up_packets, down_octets, down_packets = usage if usage is not None else (0, 0, 0, 0)
        attributes += [
            ("Acct-Input-Octets", up_octets % _WORD),
            ("Acct-Output-Octets", down_octets % _WORD),
            ("Acct-Input-Gigawords", up_octets // _WORD % _WORD),
            ("Acct-Output-Gigawords", down_octets // _WORD % _WORD),
            ("Acct-Input-Packets", up_packets % _WORD),
            ("Acct-Output-Packets", down_packets % _WORD),
            ("Acct-Session-Time", session.duration),
        ]
    if status == AcctStatusType.STOP and terminate_cause is not None:
        attributes.append(("Acct-Terminate-Cause", terminate_cause))
    return attributes


def reject_reason(packet: Packet) -> str:
    """The AAA's explanation of an Access-Reject: its Reply-Messages joined (RFC 2865 §5.18 allows several)."""
    try:
        messages = [str(value) for value in packet.values("Reply-Message")]
    except MalformedPacket:  # a malformed later Reply-Message: keep what the decoder already read
        first = packet.attributes.get("Reply-Message")
        messages = [str(first)] if first is not None else []
    return " ".join(messages) or "rejected by the AAA"


def session_timeout(packet: Packet) -> float | None:
    value = packet.attributes.get("Session-Timeout")
    return float(value) if isinstance(value, int) and value > 0 else None


def classes(packet: Packet) -> tuple[bytes, ...]:
    try:
        return tuple(bytes(value) for value in packet.values("Class") if isinstance(value, bytes))
    except MalformedPacket:  # a malformed later Class: keep the first
        first = packet.attributes.get("Class")
        return (first,) if isinstance(first, bytes) else ()


def bandwidth(packet: Packet) -> tuple[int | None, int | None] | None:
    """(up, down) bit/s of WISPr-Bandwidth-Max-Up/-Down (None where absent, 0 for "no limit"), or None when the packet
    names neither. decode() leaves other vendors' attributes in the raw packet: they are read with values()."""
    up = packet.values("WISPr-Bandwidth-Max-Up")
    down = packet.values("WISPr-Bandwidth-Max-Down")
    if not up and not down:
        return None
    first_up = up[0] if up and isinstance(up[0], int) else None
    first_down = down[0] if down and isinstance(down[0], int) else None
    return first_up, first_down


def routing_domain(packet: Packet) -> str | None:
    """Cellplane-Routing-Domain (vendor 32473, dictionary.cellplane) of an Access-Accept: the routing domain the
    session's packets go through; None (the default domain) when absent or not text."""
    try:
        values = packet.values("Cellplane-Routing-Domain")
    except MalformedPacket:
        return None
    first = values[0] if values else None
    if isinstance(first, bytes):
        first = first.decode("utf-8", "replace")
    return first if isinstance(first, str) and first else None
