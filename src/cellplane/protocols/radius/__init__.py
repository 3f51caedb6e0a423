"""RADIUS (RFC 2865/2866/2869/3579/5176 with the 3GPP attributes of TS 29.061): dictionary files and a fast codec.

`DICTIONARY` is the main dictionary file (FreeRADIUS/pyrad format; it includes `dictionary.3gpp` and
`dictionary.wispr`): load it with
`pyrad.dictionary.Dictionary(str(DICTIONARY))`, or point FreeRADIUS's radclient at its directory with
`radclient -D DICTIONARY.parent ...` (-D names the dictionary directory; radclient reads the file `dictionary` in it).
"""

from __future__ import annotations

from pathlib import Path

from .codec import (
    Packet,
    build_request,
    build_response,
    decode,
    encode_attributes,
    reveal_password,
    verify_request,
    verify_response,
)
from .constants import (
    ACCT_PORT,
    AUTH_PORT,
    DYNAUTH_PORT,
    VENDOR_3GPP,
    VENDOR_CELLPLANE,
    VENDOR_WISPR,
    AcctStatusType,
    AcctTerminateCause,
    Code,
    ErrorCause,
    PdpType,
    RatType,
)
from .errors import InvalidAttribute, MalformedPacket, RadiusError
from .values import Value

DICTIONARY = Path(__file__).with_name("dictionary")

__all__ = [
    "ACCT_PORT",
    "AUTH_PORT",
    "DICTIONARY",
    "DYNAUTH_PORT",
    "VENDOR_3GPP",
    "VENDOR_CELLPLANE",
    "VENDOR_WISPR",
    "AcctStatusType",
    "AcctTerminateCause",
    "Code",
    "ErrorCause",
    "InvalidAttribute",
    "MalformedPacket",
    "Packet",
    "PdpType",
    "RadiusError",
    "RatType",
    "Value",
    "build_request",
    "build_response",
    "decode",
    "encode_attributes",
    "reveal_password",
    "verify_request",
    "verify_response",
]
