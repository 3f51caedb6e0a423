"""The attributes the codec knows: name, number, vendor and data type, mirroring the `dictionary` files beside it.

The codec keeps its own table instead of parsing the dictionary at import, so decoding needs no file and no pyrad;
`tests/unit/protocols/test_radius_dictionary.py` proves the two agree attribute by attribute.

Data types are the dictionary's (FreeRADIUS names), plus `password` for User-Password, a `string` with
`encrypt=1` that travels hidden (RFC 2865 §5.2) and so is handled as octets until revealed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .constants import VENDOR_3GPP, VENDOR_CELLPLANE, VENDOR_WISPR

TYPES: Final = frozenset(
    {"string", "password", "octets", "integer", "date", "byte", "ipaddr", "ipv6addr", "ipv6prefix"}
)


@dataclass(frozen=True, slots=True)
class AttributeDef:
    """One attribute: `vendor` 0 for the standard space, else the Vendor-Id of its Vendor-Specific wrapper."""

    name: str
    code: int
    type: str
    vendor: int = 0


def _defs(vendor: int, rows: tuple[tuple[int, str, str], ...]) -> tuple[AttributeDef, ...]:
    return tuple(AttributeDef(name, code, type_, vendor) for code, name, type_ in rows)


STANDARD: Final = _defs(
    0,
    (
        # RFC 2865 §5
        (1, "User-Name", "string"),
        (2, "User-Password", "password"),
        (3, "CHAP-Password", "octets"),
        (4, "NAS-IP-Address", "ipaddr"),
        (5, "NAS-Port", "integer"),
        (6, "Service-Type", "integer"),
        (7, "Framed-Protocol", "integer"),
        (8, "Framed-IP-Address", "ipaddr"),
        (9, "Framed-IP-Netmask", "ipaddr"),
        (10, "Framed-Routing", "integer"),
        (11, "Filter-Id", "string"),
        (12, "Framed-MTU", "integer"),
        (13, "Framed-Compression", "integer"),
        (14, "Login-IP-Host", "ipaddr"),
        (15, "Login-Service", "integer"),
        (16, "Login-TCP-Port", "integer"),
        (18, "Reply-Message", "string"),
        (19, "Callback-Number", "string"),
        (20, "Callback-Id", "string"),
        (22, "Framed-Route", "string"),
        (23, "Framed-IPX-Network", "ipaddr"),
        (24, "State", "octets"),
        (25, "Class", "octets"),
        (27, "Session-Timeout", "integer"),
        (28, "Idle-Timeout", "integer"),
        (29, "Termination-Action", "integer"),
        (30, "Called-Station-Id", "string"),
        (31, "Calling-Station-Id", "string"),
        (32, "NAS-Identifier", "string"),
        (33, "Proxy-State", "octets"),
        (34, "Login-LAT-Service", "string"),
        (35, "Login-LAT-Node", "string"),
        (36, "Login-LAT-Group", "octets"),
        (37, "Framed-AppleTalk-Link", "integer"),
        (38, "Framed-AppleTalk-Network", "integer"),
        (39, "Framed-AppleTalk-Zone", "string"),
        (60, "CHAP-Challenge", "octets"),
        (61, "NAS-Port-Type", "integer"),
        (62, "Port-Limit", "integer"),
        (63, "Login-LAT-Port", "string"),
        # RFC 2866 §5
        (40, "Acct-Status-Type", "integer"),
        (41, "Acct-Delay-Time", "integer"),
        (42, "Acct-Input-Octets", "integer"),
        (43, "Acct-Output-Octets", "integer"),
        (44, "Acct-Session-Id", "string"),
        (45, "Acct-Authentic", "integer"),
        (46, "Acct-Session-Time", "integer"),
        (47, "Acct-Input-Packets", "integer"),
        (48, "Acct-Output-Packets", "integer"),
        (49, "Acct-Terminate-Cause", "integer"),
        (50, "Acct-Multi-Session-Id", "string"),
        (51, "Acct-Link-Count", "integer"),
        # RFC 2869 §5
        (52, "Acct-Input-Gigawords", "integer"),
        (53, "Acct-Output-Gigawords", "integer"),
        (55, "Event-Timestamp", "date"),
        (70, "ARAP-Password", "octets"),
        (71, "ARAP-Features", "octets"),
        (72, "ARAP-Zone-Access", "integer"),
        (73, "ARAP-Security", "integer"),
        (74, "ARAP-Security-Data", "string"),
        (75, "Password-Retry", "integer"),
        (76, "Prompt", "integer"),
        (77, "Connect-Info", "string"),
        (78, "Configuration-Token", "string"),
        (79, "EAP-Message", "octets"),
        (80, "Message-Authenticator", "octets"),
        (84, "ARAP-Challenge-Response", "octets"),
        (85, "Acct-Interim-Interval", "integer"),
        (87, "NAS-Port-Id", "string"),
        (88, "Framed-Pool", "string"),
        # RFC 3162 §2, RFC 6911 §3
        (95, "NAS-IPv6-Address", "ipv6addr"),
        (97, "Framed-IPv6-Prefix", "ipv6prefix"),
        (168, "Framed-IPv6-Address", "ipv6addr"),
        # RFC 5176 §3.5
        (101, "Error-Cause", "integer"),
    ),
)

THREE_GPP: Final = _defs(
    VENDOR_3GPP,
    (
        # TS 29.061 §16.4.7.2
        (1, "3GPP-IMSI", "string"),
        (2, "3GPP-Charging-Id", "integer"),
        (3, "3GPP-PDP-Type", "integer"),
        (4, "3GPP-CG-Address", "ipaddr"),
        (5, "3GPP-GPRS-Negotiated-QoS-Profile", "string"),
        (6, "3GPP-SGSN-Address", "ipaddr"),
        (7, "3GPP-GGSN-Address", "ipaddr"),
        (8, "3GPP-IMSI-MCC-MNC", "string"),
        (9, "3GPP-GGSN-MCC-MNC", "string"),
        (10, "3GPP-NSAPI", "string"),
        (11, "3GPP-Session-Stop-Indicator", "byte"),
        (12, "3GPP-Selection-Mode", "string"),
        (13, "3GPP-Charging-Characteristics", "string"),
        (14, "3GPP-CG-IPv6-Address", "ipv6addr"),
        (15, "3GPP-SGSN-IPv6-Address", "ipv6addr"),
        (16, "3GPP-GGSN-IPv6-Address", "ipv6addr"),
        (17, "3GPP-IPv6-DNS-Servers", "octets"),
        (18, "3GPP-SGSN-MCC-MNC", "string"),
        (19, "3GPP-Teardown-Indicator", "byte"),
        (20, "3GPP-IMEISV", "string"),
        (21, "3GPP-RAT-Type", "byte"),
        (22, "3GPP-User-Location-Info", "octets"),
        (23, "3GPP-MS-TimeZone", "octets"),
        (24, "3GPP-Camel-Charging-Info", "octets"),
        (25, "3GPP-Packet-Filter", "octets"),
        (26, "3GPP-Negotiated-DSCP", "byte"),
        (27, "3GPP-Allocate-IP-Type", "byte"),
    ),
)

# WISPr 1.0 Appendix D (FreeRADIUS dictionary.wispr): maximum bit rates, bit/s, of a session. The AAA sends them in an
# Access-Accept or CoA-Request to throttle a session (0: no limit). decode() leaves non-3GPP vendors in Packet.raw;
# read them with Packet.values().
WISPR: Final = _defs(
    VENDOR_WISPR,
    (
        (7, "WISPr-Bandwidth-Max-Up", "integer"),
        (8, "WISPr-Bandwidth-Max-Down", "integer"),
    ),
)

# cellplane's own (dictionary.cellplane): the routing domain of a session, in an Access-Accept (docs/NETWORK.md).
CELLPLANE: Final = _defs(VENDOR_CELLPLANE, ((1, "Cellplane-Routing-Domain", "string"),))

ALL: Final = STANDARD + THREE_GPP + WISPR + CELLPLANE
BY_NAME: Final = {a.name: a for a in ALL}
VENDORS: Final = {VENDOR_3GPP: THREE_GPP, VENDOR_WISPR: WISPR, VENDOR_CELLPLANE: CELLPLANE}

VENDOR_SPECIFIC = 26  # RFC 2865 §5.26
PROXY_STATE = 33  # RFC 2865 §5.33
EAP_MESSAGE = 79  # RFC 3579 §3.1
MESSAGE_AUTHENTICATOR = 80  # RFC 3579 §3.2
USER_PASSWORD = 2  # RFC 2865 §5.2
