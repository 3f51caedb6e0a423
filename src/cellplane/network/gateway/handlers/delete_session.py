"""Delete Session Request -> the PDN connection ends, Accounting Stop (TS 29.274 §7.2.9.1, §7.2.10.1)."""

from __future__ import annotations

from cellplane.protocols.gtp import Cause, DeleteSessionRequest, DeleteSessionResponse, GtpcMessage
from cellplane.protocols.radius import AcctTerminateCause

from ..manager import SessionManager


class DeleteSessionHandler:
    def __init__(self, manager: SessionManager, recovery: int) -> None:
        self._manager = manager
        self._recovery = recovery

    async def __call__(self, message: GtpcMessage, peer: tuple[str, int]) -> GtpcMessage | None:
        assert isinstance(message, DeleteSessionRequest)
        session = self._manager.table.by_control_teid.get(message.teid)
        if session is None or (message.ebi is not None and message.ebi != session.ebi):
            # TS 29.274 §7.2.10.1: unknown TEID -> Context Not Found, in a header with TEID 0.
            return DeleteSessionResponse(seq=message.seq, teid=0, cause=Cause.CONTEXT_NOT_FOUND)
        # RFC 2866 §5.10: the device (through its network) asked to end the session.
        self._manager.end(session, AcctTerminateCause.USER_REQUEST, notify_sgw=False)
        return DeleteSessionResponse(
            seq=message.seq, teid=session.sgw_control_teid, cause=Cause.REQUEST_ACCEPTED, recovery=self._recovery
        )
