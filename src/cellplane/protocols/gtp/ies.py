"""GTPv2-C information elements: their types, the values we expose, and the TLV framing (TS 29.274 §8)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import TypeVar

from cellplane.protocols.gtp.causes import Cause
from cellplane.protocols.gtp.errors import GtpError


class IeType(IntEnum):
    """The IE types our messages carry (TS 29.274 Table 8.1-1)."""

    IMSI = 1
    CAUSE = 2
    RECOVERY = 3
    APN = 71
    EBI = 73
    MEI = 75
    MSISDN = 76
    PAA = 79
    BEARER_QOS = 80
    RAT_TYPE = 82
    SERVING_NETWORK = 83
    ULI = 86
    FTEID = 87
    BEARER_CONTEXT = 93
    PDN_TYPE = 99
    PRIVATE_EXTENSION = 255


class InterfaceType(IntEnum):
    """F-TEID interface types (TS 29.274 §8.22, Table 8.22-1) on the S5/S8 path we emulate."""

    S1U_ENODEB_GTPU = 0
    S1U_SGW_GTPU = 1
    S5S8_SGW_GTPU = 4
    S5S8_PGW_GTPU = 5
    S5S8_SGW_GTPC = 6
    S5S8_PGW_GTPC = 7
    S11_MME_GTPC = 10
    S11S4_SGW_GTPC = 11


class RatType(IntEnum):
    """RAT Type values (TS 29.274 §8.17, Table 8.17-1); IoT devices attach over LTE-M or NB-IoT."""

    UTRAN = 1
    GERAN = 2
    WLAN = 3
    GAN = 4
    HSPA_EVOLUTION = 5
    EUTRAN = 6
    VIRTUAL = 7
    EUTRAN_NB_IOT = 8
    LTE_M = 9
    NR = 10


class PdnType(IntEnum):
    """PDN Type values (TS 29.274 §8.34); the gateway serves IPv4 only."""

    IPV4 = 1
    IPV6 = 2
    IPV4V6 = 3
    NON_IP = 4
    ETHERNET = 5


@dataclass(frozen=True, slots=True)
class Fteid:
    """A Fully Qualified TEID (TS 29.274 §8.22): where and under which TEID a peer wants its traffic."""

    interface: int
    teid: int
    ipv4: str | None = None
    ipv6: str | None = None


@dataclass(frozen=True, slots=True)
class PrivateExtension:
    """A Private Extension IE (TS 29.274 §8.67): an IANA enterprise number (16 bits here) and its own value."""

    enterprise_id: int
    value: bytes


@dataclass(frozen=True, slots=True)
class Plmn:
    """A network's MCC and MNC as digit strings (the MNC keeps its 2 or 3 digits: "01" is not "001")."""

    mcc: str
    mnc: str

    @property
    def code(self) -> str:
        return self.mcc + self.mnc


@dataclass(frozen=True, slots=True)
class UserLocation:
    """Where an E-UTRAN device is: its Tracking Area and its cell (ULI with TAI + ECGI, TS 29.274 §8.21)."""

    plmn: Plmn
    tac: int
    eci: int


# Every IE starts with type (1 octet), length (2 octets, value only), spare (4 bits) + instance (4 bits)
# (TS 29.274 §8.2, Figure 8.2-1).
_IE_HEADER = struct.Struct("!BHB")
IE_HEADER_LEN = _IE_HEADER.size
_MAX_IE_LEN = 0xFFFF

IeKey = tuple[int, int]


def pack_ie(ie_type: int, value: bytes, instance: int = 0) -> bytes:
    """One IE: header + value."""
    if len(value) > _MAX_IE_LEN:
        raise GtpError(f"IE {ie_type} value is {len(value)} octets, more than fits its length field")
    return _IE_HEADER.pack(ie_type, len(value), instance & 0x0F) + value


class Ies:
    """The IEs of a message body or grouped IE, by (type, instance), in the order they came."""

    __slots__ = ("_by_key",)

    def __init__(self, data: bytes, where: str) -> None:
        """Split `data` into IEs; an IE that overruns its container makes it unreadable (Invalid length)."""
        self._by_key: dict[IeKey, list[bytes]] = {}
        offset, end = 0, len(data)
        while offset < end:
            if end - offset < IE_HEADER_LEN:
                raise GtpError(f"{where}: {end - offset} trailing octets are too short for an IE header", cause=67)
            ie_type, length, spare_instance = _IE_HEADER.unpack_from(data, offset)
            start = offset + IE_HEADER_LEN
            offset = start + length
            if offset > end:
                raise GtpError(f"{where}: IE {ie_type} claims {length} octets, only {end - start} remain", cause=67)
            self._by_key.setdefault((ie_type, spare_instance & 0x0F), []).append(data[start:offset])

    def first(self, ie_type: int, instance: int = 0) -> bytes | None:
        """The first IE of that type and instance: TS 29.274 §7.7 has a receiver handle the first of
        repeated IEs and ignore the others, unless the message allows repeats."""
        values = self._by_key.get((ie_type, instance))
        return values[0] if values else None

    def all(self, ie_type: int, instance: int = 0) -> list[bytes]:
        """Every IE of that type and instance, for the IEs a message may repeat (EPS Bearer IDs)."""
        return self._by_key.get((ie_type, instance), [])


E = TypeVar("E", bound=IntEnum)


def as_enum(enum: type[E], value: int) -> int:
    """`value` as a member of `enum` when it names one (nicer reprs), else the plain int (unknown codes)."""
    try:
        return enum(value)
    except ValueError:
        return value


def incorrect(what: str) -> GtpError:
    """The error for an IE whose value does not decode (TS 29.274 §7.7.7: Mandatory IE incorrect)."""
    return GtpError(f"{what} is incorrect", cause=Cause.MANDATORY_IE_INCORRECT)


def missing(what: str) -> GtpError:
    """The error for an absent mandatory IE (TS 29.274 §7.7.6: Mandatory IE missing)."""
    return GtpError(f"{what} is missing", cause=Cause.MANDATORY_IE_MISSING)
