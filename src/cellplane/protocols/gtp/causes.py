"""GTPv2-C cause values (TS 29.274 §8.4, Table 8.4-1) the gateway and the emulated SGW use."""

from __future__ import annotations

from enum import IntEnum


class Cause(IntEnum):
    """Cause values; 16-63 accept a request, 64-239 reject it (TS 29.274 §8.4 NOTE 1 and 4)."""

    # In a request or initial message (why the network tears something down).
    LOCAL_DETACH = 2
    COMPLETE_DETACH = 3
    REACTIVATION_REQUESTED = 8
    PDN_RECONNECTION_TO_THIS_APN_DISALLOWED = 9
    PDN_CONNECTION_INACTIVITY_TIMER_EXPIRES = 11
    NETWORK_FAILURE = 13
    # Acceptance in a response.
    REQUEST_ACCEPTED = 16
    REQUEST_ACCEPTED_PARTIALLY = 17
    # Rejection in a response.
    CONTEXT_NOT_FOUND = 64
    INVALID_MESSAGE_FORMAT = 65
    VERSION_NOT_SUPPORTED_BY_NEXT_PEER = 66
    INVALID_LENGTH = 67
    SERVICE_NOT_SUPPORTED = 68
    MANDATORY_IE_INCORRECT = 69
    MANDATORY_IE_MISSING = 70
    SYSTEM_FAILURE = 72
    NO_RESOURCES_AVAILABLE = 73
    MISSING_OR_UNKNOWN_APN = 78
    DENIED_IN_RAT = 82
    PREFERRED_PDN_TYPE_NOT_SUPPORTED = 83
    ALL_DYNAMIC_ADDRESSES_ARE_OCCUPIED = 84
    SERVICE_DENIED = 89
    USER_AUTHENTICATION_FAILED = 92
    APN_ACCESS_DENIED_NO_SUBSCRIPTION = 93
    REQUEST_REJECTED = 94
    IMSI_IMEI_NOT_KNOWN = 96
    REMOTE_PEER_NOT_RESPONDING = 100
    CONDITIONAL_IE_MISSING = 103
    APN_CONGESTION = 113
    GTP_C_ENTITY_CONGESTION = 120
    UE_NOT_AUTHORISED_BY_OCS_OR_EXTERNAL_AAA_SERVER = 125


def is_acceptance(cause: int) -> bool:
    """True for the cause values that accept a request (16-63, TS 29.274 Table 8.4-1 NOTE 1)."""
    return 16 <= cause <= 63
