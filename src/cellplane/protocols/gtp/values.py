"""GTPv2-C IE value codecs: pycrate's TS 29.274 IE structures, checked and turned into plain Python values.

pycrate knows the bit layouts (TBCD digits, PLMN nibbles, APN labels, F-TEID, ULI, Bearer QoS); we add
what it leaves to the caller: range checks on encode, and on decode a check that the value was whole
(pycrate quietly stops at a bad APN label or a misplaced TBCD filler). Each `decode_*` raises GtpError
(Mandatory IE incorrect) for a value it cannot read; the message layer decides whether the IE mattered.

pycrate builds a deep object tree per element, which is what costs (a ULI takes ~0.6 ms to construct
and ~0.06 ms to re-parse), so every thread keeps reusable elements per IE class: one set only ever
encoded (set_val, every field we rely on set each time) and one only ever decoded (from_bytes rewrites
what we read). They are kept apart because from_bytes pins fields such as an APN label's length that
set_val would otherwise recompute. APNs always get a fresh element: neither set_val nor from_bytes
shrinks a pycrate Sequence, so a reused one would keep the extra labels of a longer APN seen before.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from typing import Any

from pycrate_mobile import TS29274_GTPC as pc  # type: ignore[import-untyped]
from pycrate_mobile.TS24008_IE import APN as PycrateApn  # type: ignore[import-untyped]

from cellplane.protocols.gtp.errors import GtpError
from cellplane.protocols.gtp.ies import Fteid, InterfaceType, PdnType, Plmn, RatType, UserLocation, as_enum, incorrect


class _Elements(threading.local):
    """Reusable pycrate elements by IE class, per thread (pycrate elements are mutable)."""

    def __init__(self) -> None:
        self.encoders: dict[type, Any] = {}
        self.decoders: dict[type, Any] = {}


_elements = _Elements()


def _element(cls: type) -> Any:
    """An element of `cls` to encode with."""
    element = _elements.encoders.get(cls)
    if element is None:
        element = _elements.encoders[cls] = cls()
    return element


def _parse(cls: type, raw: bytes, what: str) -> Any:
    """`raw` parsed into the reusable `cls` element; any pycrate failure means the value is incorrect."""
    element = _elements.decoders.get(cls)
    if element is None:
        element = _elements.decoders[cls] = cls()
    try:
        element.from_bytes(raw)
    except Exception as exc:  # pycrate raises PycrateErr subclasses, but also bare Python errors on odd input
        raise incorrect(what) from exc
    return element


# --- TBCD digit strings: IMSI (§8.3), MEI (§8.10), MSISDN (§8.11) -------------------------------------------

_DIGITS = re.compile(r"[0-9]+")
# TS 23.003 §2.2: an IMSI has at most 15 digits (3 MCC + 2-3 MNC + MSIN); §6.2: an IMEI 15, an IMEISV 16;
# ITU-T E.164: an MSISDN at most 15 digits.
DIGIT_LIMITS = {"IMSI": (6, 15), "MEI": (15, 16), "MSISDN": (1, 15)}
_DIGIT_CLASSES = {"IMSI": pc.IMSI, "MEI": pc.MEI, "MSISDN": pc.MSISDN}


def encode_digits(kind: str, digits: str) -> bytes:
    low, high = DIGIT_LIMITS[kind]
    if not isinstance(digits, str) or not _DIGITS.fullmatch(digits) or not low <= len(digits) <= high:
        raise GtpError(f"{kind} must be {low} to {high} decimal digits, not {digits!r}")
    element = _element(_DIGIT_CLASSES[kind])
    element.encode(digits)
    return bytes(element.to_bytes())


def decode_digits(kind: str, raw: bytes) -> str:
    digits = str(_parse(_DIGIT_CLASSES[kind], raw, kind).decode())
    low, high = DIGIT_LIMITS[kind]
    # Re-encoding must give back the same octets: this rejects a filler nibble before the last octet,
    # a missing filler, and the non-digit TBCD codes (*, #, a-c) that no identity here may contain.
    if not _DIGITS.fullmatch(digits) or not low <= len(digits) <= high or encode_digits(kind, digits) != raw:
        raise incorrect(kind)
    return digits


# --- Cause (§8.4), Recovery (§8.5), EBI (§8.8), RAT Type (§8.17), PDN Type (§8.34) ----------------------------


def _in_range(what: str, value: int, low: int = 0, high: int = 255) -> int:
    if not isinstance(value, int) or not low <= value <= high:
        raise GtpError(f"{what} must be an integer from {low} to {high}, not {value!r}")
    return value


def encode_cause(cause: int) -> bytes:
    element = _element(pc.Cause)
    # Flags PCE/BCE/CS stay 0: we never blame an IE of the peer or pass on a remote error (§8.4).
    element.set_val({"Val": _in_range("Cause", cause, 1), "spare": 0, "PCE": 0, "BCE": 0, "CS": 0})
    return bytes(element.to_bytes())


def decode_cause(raw: bytes) -> int:
    value = int(_parse(pc.Cause, raw, "Cause")["Val"].get_val())
    if value == 0:  # "Reserved. Shall not be sent and if received the Cause shall be treated as an invalid IE"
        raise incorrect("Cause")
    return value


def encode_recovery(counter: int) -> bytes:
    element = _element(pc.Recovery)
    element.set_val(_in_range("Recovery restart counter", counter))
    return bytes(element.to_bytes())


def decode_recovery(raw: bytes) -> int:
    return int(_parse(pc.Recovery, raw, "Recovery").get_val())


def encode_ebi(ebi: int) -> bytes:
    element = _element(pc.EBI)
    # EBI values 0-4 are reserved (TS 24.007 §11.2.3.1.5); a default bearer is normally 5.
    element.set_val({"spare": 0, "Val": _in_range("EPS Bearer ID", ebi, 5, 15), "ext": b""})
    return bytes(element.to_bytes())


def decode_ebi(raw: bytes) -> int:
    value = int(_parse(pc.EBI, raw, "EPS Bearer ID")["Val"].get_val())
    if value < 5:
        raise incorrect("EPS Bearer ID")
    return value


def encode_rat_type(rat: int) -> bytes:
    element = _element(pc.RATType)
    element.set_val({"Val": _in_range("RAT Type", rat), "ext": b""})
    return bytes(element.to_bytes())


def decode_rat_type(raw: bytes) -> int:
    return as_enum(RatType, int(_parse(pc.RATType, raw, "RAT Type")["Val"].get_val()))


def encode_pdn_type(pdn_type: int) -> bytes:
    element = _element(pc.PDNType)
    element.set_val({"spare": 0, "Val": _in_range("PDN Type", pdn_type, 1, 7)})
    return bytes(element.to_bytes())


def decode_pdn_type(raw: bytes) -> int:
    return as_enum(PdnType, int(_parse(pc.PDNType, raw, "PDN Type")["Val"].get_val()))


# --- APN (§8.6, encoded as in TS 23.003 §9.1) ----------------------------------------------------------------

# TS 23.003 §9.1: labels of letters, digits and hyphens, at most 63 octets each, 100 octets in all.
_APN_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_APN_MAX = 100


def encode_apn(apn: str) -> bytes:
    labels = apn.split(".")
    if not all(_APN_LABEL.fullmatch(label) for label in labels) or len(apn) + 1 > _APN_MAX:
        raise GtpError(f"APN must be dot-separated labels of letters, digits and hyphens, not {apn!r}")
    element = PycrateApn()  # fresh, see decode_apn
    element.encode(apn)
    return bytes(element.to_bytes())


def decode_apn(raw: bytes) -> str:
    # A fresh element: a reused pycrate Sequence keeps the extra labels of a longer APN seen before.
    element = PycrateApn()
    try:
        element.from_bytes(raw)
    except Exception as exc:  # as in _parse
        raise incorrect("APN") from exc
    try:
        apn = str(element.decode())
    except UnicodeDecodeError as exc:
        raise incorrect("APN") from exc
    # pycrate stops quietly at a label that overruns the value; the re-encoding must match it octet for octet.
    if element.get_len() != len(raw) or _reencoded_apn(apn) != raw:
        raise incorrect("APN")
    return apn


def _reencoded_apn(apn: str) -> bytes | None:
    try:
        return encode_apn(apn)
    except GtpError:
        return None


# --- Serving Network (§8.18) and User Location Information (§8.21) --------------------------------------------

_MCC = re.compile(r"[0-9]{3}")
_MNC = re.compile(r"[0-9]{2,3}")


def _plmn_code(plmn: Plmn) -> str:
    if not _MCC.fullmatch(plmn.mcc) or not _MNC.fullmatch(plmn.mnc):
        raise GtpError(f"PLMN needs a 3-digit MCC and a 2- or 3-digit MNC, not {plmn.mcc!r}/{plmn.mnc!r}")
    return plmn.code


def _plmn_from(code: Any, what: str) -> Plmn:
    text = str(code)
    if not re.fullmatch(r"[0-9]{5,6}", text):
        raise incorrect(what)
    return Plmn(mcc=text[:3], mnc=text[3:])


def encode_serving_network(plmn: Plmn) -> bytes:
    element = _element(pc.ServingNetwork)
    element.set_val({"PLMN": _plmn_code(plmn), "ext": b""})
    return bytes(element.to_bytes())


def decode_serving_network(raw: bytes) -> Plmn:
    return _plmn_from(_parse(pc.ServingNetwork, raw, "Serving Network")["PLMN"].decode(), "Serving Network")


def encode_uli(location: UserLocation) -> bytes:
    code = _plmn_code(location.plmn)
    tac = _in_range("TAC", location.tac, 0, 0xFFFF)
    eci = _in_range("ECI", location.eci, 0, 0x0FFFFFFF)  # 28 bits (TS 23.003 §19.6)
    element = _element(pc.ULI)
    flags = {"ExtMacroENBID": 0, "MacroENBID": 0, "LAI": 0, "ECGI": 1, "TAI": 1, "RAI": 0, "SAI": 0, "CGI": 0}
    element.set_val(
        {
            "Flags": flags,
            "TAI": {"PLMN": code, "TAC": tac},
            "ECGI": {"PLMN": code, "spare": 0, "ECI": eci},
            "ext": b"",
        }
    )
    return bytes(element.to_bytes())


def decode_uli(raw: bytes) -> UserLocation | None:
    """The TAI + ECGI of a ULI, or None when it describes the location some other way (2G/3G, eNodeB only)."""
    element = _parse(pc.ULI, raw, "ULI")
    flags = element["Flags"]
    if not (flags["TAI"].get_val() and flags["ECGI"].get_val()):
        return None
    tai = element["TAI"]
    return UserLocation(
        plmn=_plmn_from(tai["PLMN"].decode(), "ULI"),
        tac=int(tai["TAC"].get_val()),
        eci=int(element["ECGI"]["ECI"].get_val()),
    )


# --- F-TEID (§8.22), PAA (§8.14), Bearer QoS (§8.15) ----------------------------------------------------------


def _ipv4(what: str, address: str) -> bytes:
    try:
        return ipaddress.IPv4Address(address).packed
    except (ipaddress.AddressValueError, ValueError) as exc:
        raise GtpError(f"{what} must be an IPv4 address, not {address!r}") from exc


def _ipv6(what: str, address: str) -> bytes:
    try:
        return ipaddress.IPv6Address(address).packed
    except (ipaddress.AddressValueError, ValueError) as exc:
        raise GtpError(f"{what} must be an IPv6 address, not {address!r}") from exc


def encode_fteid(fteid: Fteid) -> bytes:
    if fteid.ipv4 is None and fteid.ipv6 is None:
        raise GtpError("an F-TEID needs an IPv4 or an IPv6 address")
    element = _element(pc.FTEID)
    element.set_val(
        {
            "V4": int(fteid.ipv4 is not None),
            "V6": int(fteid.ipv6 is not None),
            "IF": _in_range("F-TEID interface type", fteid.interface, 0, 63),
            "TEID_GREKey": _in_range("TEID", fteid.teid, 0, 0xFFFFFFFF),
            "IPv4Addr": _ipv4("F-TEID IPv4", fteid.ipv4) if fteid.ipv4 is not None else bytes(4),
            "IPv6Addr": _ipv6("F-TEID IPv6", fteid.ipv6) if fteid.ipv6 is not None else bytes(16),
            "ext": b"",
        }
    )
    return bytes(element.to_bytes())


def decode_fteid(raw: bytes, what: str = "F-TEID") -> Fteid:
    element = _parse(pc.FTEID, raw, what)
    has_v4, has_v6 = element["V4"].get_val(), element["V6"].get_val()
    if not (has_v4 or has_v6):
        raise incorrect(what)
    return Fteid(
        interface=as_enum(InterfaceType, int(element["IF"].get_val())),
        teid=int(element["TEID_GREKey"].get_val()),
        ipv4=str(ipaddress.IPv4Address(bytes(element["IPv4Addr"].get_val()))) if has_v4 else None,
        ipv6=str(ipaddress.IPv6Address(bytes(element["IPv6Addr"].get_val()))) if has_v6 else None,
    )


def encode_paa_ipv4(address: str) -> bytes:
    element = _element(pc.PAA)
    element.set_val({"spare": 0, "PDNType": PdnType.IPV4, "PDNAddress": _ipv4("PAA address", address)})
    return bytes(element.to_bytes())


def decode_paa(raw: bytes) -> tuple[int, str | None]:
    """(PDN type, IPv4 address); the address is None for the non-IPv4 types we do not allocate."""
    element = _parse(pc.PAA, raw, "PAA")
    pdn_type = as_enum(PdnType, int(element["PDNType"].get_val()))
    if pdn_type != PdnType.IPV4:
        return pdn_type, None
    address = bytes(element["PDNAddress"].get_val())
    if len(address) < 4:
        raise incorrect("PAA")
    return pdn_type, str(ipaddress.IPv4Address(address[:4]))


def encode_bearer_qos(qci: int, arp_priority: int) -> bytes:
    element = _element(pc.BearerQoS)
    # By position: the layout has two fields named "spare". PCI=1: this bearer shall not pre-empt others;
    # PVI=0: it may be pre-empted (§8.15). A non-GBR bearer (QCI 5-9, TS 23.203 Table 6.1.7) carries zero
    # bit rates: the APN-AMBR governs it.
    priority = _in_range("ARP priority level", arp_priority, 1, 15)
    element.set_val([0, 1, priority, 0, 0, _in_range("QCI", qci), 0, 0, 0, 0, b""])
    return bytes(element.to_bytes())


def decode_bearer_qos(raw: bytes) -> tuple[int, int]:
    """(QCI, ARP priority level)."""
    element = _parse(pc.BearerQoS, raw, "Bearer QoS")
    return int(element["QCI"].get_val()), int(element["PL"].get_val())
