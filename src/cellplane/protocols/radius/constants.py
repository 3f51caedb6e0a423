"""RADIUS numbers: packet codes, ports, sizes and the enumerated attribute values we act on."""

from __future__ import annotations

from enum import IntEnum

AUTH_PORT = 1812  # RFC 2865 §3
ACCT_PORT = 1813  # RFC 2866 §3
DYNAUTH_PORT = 3799  # RFC 5176 §3: where a NAS listens for Disconnect-Request and CoA-Request

HEADER_SIZE = 20  # Code, Identifier, Length (2), Authenticator (16): RFC 2865 §3
MAX_PACKET_SIZE = 4096  # RFC 2865 §3: "The maximum length is 4096"
MAX_VALUE_SIZE = 253  # one octet of Length covers type and length too: RFC 2865 §5
VENDOR_3GPP = 10415  # SMI Network Management Private Enterprise Code of 3GPP (TS 29.061 §16.4.7.1)
# WISPr (Wi-Fi Alliance WISPr 1.0, Appendix D; FreeRADIUS dictionary.wispr): its bandwidth attributes carry the
# rate a NAS must hold a throttled session to (docs/NETWORK.md).
VENDOR_WISPR = 14122
# cellplane's own attributes (dictionary.cellplane) under IANA's documentation enterprise number (RFC 5612), as the
# GTP Private Extension does: cellplane has no PEN of its own.
VENDOR_CELLPLANE = 32473
MAX_VSA_VALUE_SIZE = MAX_VALUE_SIZE - 6  # Vendor-Id (4) + Vendor type (1) + Vendor length (1): RFC 2865 §5.26


class Code(IntEnum):
    """Packet codes (RFC 2865 §3, RFC 2866 §4, RFC 5176 §2.3, RFC 5997 §2)."""

    ACCESS_REQUEST = 1
    ACCESS_ACCEPT = 2
    ACCESS_REJECT = 3
    ACCOUNTING_REQUEST = 4
    ACCOUNTING_RESPONSE = 5
    ACCESS_CHALLENGE = 11
    STATUS_SERVER = 12
    DISCONNECT_REQUEST = 40
    DISCONNECT_ACK = 41
    DISCONNECT_NAK = 42
    COA_REQUEST = 43
    COA_ACK = 44
    COA_NAK = 45


# The request each response code answers; used to pick the authenticator rules of a response.
RESPONSE_TO: dict[int, int] = {
    Code.ACCESS_ACCEPT: Code.ACCESS_REQUEST,
    Code.ACCESS_REJECT: Code.ACCESS_REQUEST,
    Code.ACCESS_CHALLENGE: Code.ACCESS_REQUEST,
    Code.ACCOUNTING_RESPONSE: Code.ACCOUNTING_REQUEST,
    Code.DISCONNECT_ACK: Code.DISCONNECT_REQUEST,
    Code.DISCONNECT_NAK: Code.DISCONNECT_REQUEST,
    Code.COA_ACK: Code.COA_REQUEST,
    Code.COA_NAK: Code.COA_REQUEST,
}


class AcctStatusType(IntEnum):
    """Acct-Status-Type values (RFC 2866 §5.1)."""

    START = 1
    STOP = 2
    INTERIM_UPDATE = 3
    ACCOUNTING_ON = 7
    ACCOUNTING_OFF = 8
    FAILED = 15


class AcctTerminateCause(IntEnum):
    """Acct-Terminate-Cause values we send or act on (RFC 2866 §5.10)."""

    USER_REQUEST = 1
    LOST_CARRIER = 2
    LOST_SERVICE = 3
    IDLE_TIMEOUT = 4
    SESSION_TIMEOUT = 5
    ADMIN_RESET = 6
    ADMIN_REBOOT = 7
    NAS_ERROR = 9
    NAS_REQUEST = 10
    NAS_REBOOT = 11
    SERVICE_UNAVAILABLE = 15
    CALLBACK = 16  # ending the session for a new one: the AAA's connectivity reset (docs/NETWORK.md)


class ErrorCause(IntEnum):
    """Error-Cause values of Disconnect/CoA ACK and NAK (RFC 5176 §3.5)."""

    RESIDUAL_CONTEXT_REMOVED = 201
    INVALID_EAP_PACKET = 202
    UNSUPPORTED_ATTRIBUTE = 401
    MISSING_ATTRIBUTE = 402
    NAS_IDENTIFICATION_MISMATCH = 403
    INVALID_REQUEST = 404
    UNSUPPORTED_SERVICE = 405
    UNSUPPORTED_EXTENSION = 406
    INVALID_ATTRIBUTE_VALUE = 407
    ADMINISTRATIVELY_PROHIBITED = 501
    REQUEST_NOT_ROUTABLE = 502
    SESSION_CONTEXT_NOT_FOUND = 503
    SESSION_CONTEXT_NOT_REMOVABLE = 504
    OTHER_PROXY_PROCESSING_ERROR = 505
    RESOURCES_UNAVAILABLE = 506
    REQUEST_INITIATED = 507
    MULTIPLE_SESSION_SELECTION_UNSUPPORTED = 508


class RatType(IntEnum):
    """3GPP-RAT-Type values (TS 29.061 §16.4.7.2, the RAT Type of TS 29.274 §8.17)."""

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


class PdpType(IntEnum):
    """3GPP-PDP-Type values (TS 29.061 §16.4.7.2)."""

    IPV4 = 0
    PPP = 1
    IPV6 = 2
    IPV4V6 = 3
    NON_IP = 4
