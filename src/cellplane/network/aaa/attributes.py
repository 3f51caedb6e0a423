"""From decoded RADIUS attributes to what the rules and accounting need (TS 29.061 §16.4, RFC 2866 §5).

Pure functions over `Packet.attributes`; every value a NAS sends is checked here, so that nothing malformed
reaches the policy or the database (an IMSI that is not digits is no IMSI).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cellplane.domain.policy import split_plmn
from cellplane.protocols.radius import AcctStatusType, Value
from cellplane.services.accounting_records import AccountingRecord, RecordKind

# 3GPP-RAT-Type (TS 29.061 §16.4.7.2, values of TS 29.274 §8.17) -> the radio link a connection event shows.
# docs/NETWORK.md once named 7 for LTE-M; 7 is "Virtual" in TS 29.274 and no IoT device reports it, so both
# 7 and the standard 9 read as LTE-M.
RADIO_LINKS = {1: "3G", 2: "2G", 5: "3G", 6: "LTE", 7: "LTE-M", 8: "NB-IoT", 9: "LTE-M", 10: "5G"}

# Acct-Terminate-Cause (RFC 2866 §5.10) by name, as a connection event's reason.
TERMINATE_CAUSES = {
    1: "User-Request",
    2: "Lost-Carrier",
    3: "Lost-Service",
    4: "Idle-Timeout",
    5: "Session-Timeout",
    6: "Admin-Reset",
    7: "Admin-Reboot",
    8: "Port-Error",
    9: "NAS-Error",
    10: "NAS-Request",
    11: "NAS-Reboot",
    12: "Port-Unneeded",
    13: "Port-Preempted",
    14: "Port-Suspended",
    15: "Service-Unavailable",
    16: "Callback",
    17: "User-Error",
    18: "Host-Request",
}

KINDS = {
    AcctStatusType.START: RecordKind.START,
    AcctStatusType.INTERIM_UPDATE: RecordKind.INTERIM,
    AcctStatusType.STOP: RecordKind.STOP,
    AcctStatusType.ACCOUNTING_ON: RecordKind.NAS_ON,
    AcctStatusType.ACCOUNTING_OFF: RecordKind.NAS_OFF,
}

Attributes = Mapping[str, Value]


@dataclass(frozen=True, slots=True)
class Attach:
    """The parts of an Access-Request the policy and the attach event use."""

    imsi: str | None
    mcc: str | None
    mnc: str | None
    radio_link: str | None
    imei: str | None


def text(attributes: Attributes, name: str) -> str | None:
    """A string attribute fit to store: one with control characters, NUL or undecodable octets (which PostgreSQL
    refuses in text) is kept as the hex of its octets, still the same for every retransmission."""
    value = attributes.get(name)
    if not isinstance(value, str) or not value:
        return None
    if value.isprintable():
        return value
    return "0x" + value.encode("utf-8", "surrogateescape").hex()


def imsi_of(attributes: Attributes) -> str | None:
    """3GPP-IMSI, else User-Name (TS 29.061 §16.4.1: a PGW sends the IMSI in both); an IMSI has 6 to 15 digits."""
    value = attributes.get("3GPP-IMSI") or attributes.get("User-Name")
    if isinstance(value, str) and 6 <= len(value) <= 15 and value.isascii() and value.isdigit():
        return value
    return None


# Luhn: each digit in a doubled position replaced by the digit sum of its double (0→0, 5→1+0, 9→1+8).
_DOUBLED = str.maketrans("0123456789", "0246813579")


def imei_of(imeisv: str | None) -> str | None:
    """The 15-digit IMEI of a 3GPP-IMEISV: TAC and serial (14 digits), then the Luhn check digit (TS 23.003 §6.2)."""
    if imeisv is None or not (imeisv.isascii() and imeisv.isdigit()) or len(imeisv) not in (14, 15, 16):
        return None
    if len(imeisv) == 15:
        return imeisv
    body = imeisv[:14]
    # From the right, the first digit is doubled, then every second one; summed as octets (all in C), less "0"s.
    total = sum(body[-1::-2].translate(_DOUBLED).encode()) + sum(body[-2::-2].encode()) - 48 * 14
    return body + str(-total % 10)


def cell_of(location: Value | None) -> str | None:
    """The cell in a 3GPP-User-Location-Info (TS 29.061 §16.4.7.2, laid out as TS 29.274 §8.21): the E-UTRAN Cell
    Identifier (28 bits) of an ECGI, or the Cell Identity of a CGI, in decimal."""
    if not isinstance(location, bytes) or not location:
        return None
    kind, body = location[0], location[1:]
    if kind == 129 and len(body) >= 7:  # ECGI: PLMN (3) + ECI (4, 28 bits)
        return str(int.from_bytes(body[3:7]) & 0x0FFFFFFF)
    if kind == 130 and len(body) >= 12:  # TAI (5) then ECGI (7)
        return str(int.from_bytes(body[8:12]) & 0x0FFFFFFF)
    if kind in (0, 1) and len(body) >= 7:  # CGI or SAI: PLMN (3) + LAC (2) + CI or SAC (2)
        return str(int.from_bytes(body[5:7]))
    return None


def radio_link_of(attributes: Attributes) -> str | None:
    rat = attributes.get("3GPP-RAT-Type")
    return RADIO_LINKS.get(rat) if isinstance(rat, int) else None


def attach_of(attributes: Attributes) -> Attach:
    mcc, mnc = split_plmn(text(attributes, "3GPP-SGSN-MCC-MNC"))
    return Attach(
        imsi=imsi_of(attributes),
        mcc=mcc,
        mnc=mnc,
        radio_link=radio_link_of(attributes),
        imei=imei_of(text(attributes, "3GPP-IMEISV")),
    )


def _counter(attributes: Attributes, octets: str, gigawords: str) -> int:
    # RFC 2869 §5.1-5.2: Gigawords count the times the 32-bit octet counter wrapped.
    low = attributes.get(octets)
    high = attributes.get(gigawords)
    return (high << 32 if isinstance(high, int) else 0) + (low if isinstance(low, int) else 0)


def _integer(attributes: Attributes, name: str) -> int:
    value = attributes.get(name)
    return value if isinstance(value, int) else 0


def nas_of(attributes: Attributes, source: str) -> str:
    """Who sent it: NAS-Identifier, else NAS-IP-Address, else the source address (RFC 2865 §5.4, §5.32)."""
    return text(attributes, "NAS-Identifier") or text(attributes, "NAS-IP-Address") or source


def accounting_of(attributes: Attributes, source: str) -> AccountingRecord | None:
    """The record of an Accounting-Request, or None for a status type we only acknowledge (RFC 2866 §5.1).

    Raises ValueError when a session record has no Acct-Session-Id (RFC 2866 §5.5: it MUST be present).
    """
    status = attributes.get("Acct-Status-Type")
    kind = KINDS.get(status) if isinstance(status, int) else None  # type: ignore[call-overload]
    if kind is None:
        return None
    nas_id = nas_of(attributes, source)
    if kind in (RecordKind.NAS_ON, RecordKind.NAS_OFF):
        return AccountingRecord(kind=kind, nas_id=nas_id, nas_address=source)
    session_id = text(attributes, "Acct-Session-Id")
    if session_id is None:
        raise ValueError("Accounting-Request without Acct-Session-Id")
    mcc, mnc = split_plmn(text(attributes, "3GPP-SGSN-MCC-MNC"))
    cause = attributes.get("Acct-Terminate-Cause")
    session_time = attributes.get("Acct-Session-Time")
    return AccountingRecord(
        kind=kind,
        nas_id=nas_id,
        acct_session_id=session_id,
        nas_address=source,
        imsi=imsi_of(attributes),
        ue_ip=text(attributes, "Framed-IP-Address"),
        apn=text(attributes, "Called-Station-Id"),
        mcc=mcc,
        mnc=mnc,
        radio_link=radio_link_of(attributes),
        cell_id=cell_of(attributes.get("3GPP-User-Location-Info")),
        imei=imei_of(text(attributes, "3GPP-IMEISV")),
        bytes_up=_counter(attributes, "Acct-Input-Octets", "Acct-Input-Gigawords"),
        bytes_down=_counter(attributes, "Acct-Output-Octets", "Acct-Output-Gigawords"),
        packets_up=_integer(attributes, "Acct-Input-Packets"),
        packets_down=_integer(attributes, "Acct-Output-Packets"),
        session_time=session_time if isinstance(session_time, int) else None,
        terminate_cause=TERMINATE_CAUSES.get(cause) if isinstance(cause, int) else None,
    )
