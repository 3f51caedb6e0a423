"""GtpError: the one error every GTP codec raises for bytes it cannot accept or values it cannot encode."""

from __future__ import annotations


class GtpError(ValueError):
    """Malformed GTP input (or an unencodable value), with what a responder needs to answer it.

    `cause` is the GTPv2-C cause a responder should put in its rejection (TS 29.274 §7.7: 65 Invalid
    Message Format, 67 Invalid length, 69 Mandatory IE incorrect, 70 Mandatory IE missing, ...).
    `msg_type`, `seq` and `teid` are filled in when the header was readable, so that a gateway can
    reply to the right transaction; they are None when the header itself was unreadable.
    """

    def __init__(
        self,
        message: str,
        *,
        cause: int = 65,
        msg_type: int | None = None,
        seq: int | None = None,
        teid: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.cause = cause
        self.msg_type = msg_type
        self.seq = seq
        self.teid = teid
