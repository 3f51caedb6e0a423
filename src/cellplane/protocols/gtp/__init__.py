"""GTP codecs for the gateway and the emulated RAN/SGW: GTPv2-C (TS 29.274) and GTP-U (TS 29.281).

    from cellplane.protocols.gtp import gtpv2c, gtpu
    gtpv2c.decode(datagram)          -> CreateSessionRequest | ... (raises GtpError)
    gtpu.encode_gpdu(teid, packet)   -> bytes
    gtpu.parse_gtpu(datagram)        -> (msg_type, teid, payload memoryview) (raises GtpError)

Every codec here raises GtpError, and only GtpError, for input it cannot accept.
"""

from cellplane.protocols.gtp.causes import Cause, is_acceptance
from cellplane.protocols.gtp.errors import GtpError
from cellplane.protocols.gtp.gtpv2c import (
    CreateSessionRequest,
    CreateSessionResponse,
    DeleteBearerRequest,
    DeleteBearerResponse,
    DeleteSessionRequest,
    DeleteSessionResponse,
    EchoRequest,
    EchoResponse,
    GtpcMessage,
    decode,
)
from cellplane.protocols.gtp.header import MessageType
from cellplane.protocols.gtp.ies import Fteid, InterfaceType, PdnType, Plmn, PrivateExtension, RatType, UserLocation

__all__ = [
    "Cause",
    "CreateSessionRequest",
    "CreateSessionResponse",
    "DeleteBearerRequest",
    "DeleteBearerResponse",
    "DeleteSessionRequest",
    "DeleteSessionResponse",
    "EchoRequest",
    "EchoResponse",
    "Fteid",
    "GtpError",
    "GtpcMessage",
    "InterfaceType",
    "MessageType",
    "PdnType",
    "Plmn",
    "PrivateExtension",
    "RatType",
    "UserLocation",
    "decode",
    "is_acceptance",
]
