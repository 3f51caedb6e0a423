"""GTPv2-C dispatch: the table from request type to handler, and the rejections of requests we cannot serve."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from cellplane.protocols.gtp import (
    Cause,
    CreateSessionRequest,
    CreateSessionResponse,
    DeleteBearerRequest,
    DeleteSessionRequest,
    DeleteSessionResponse,
    EchoRequest,
    GtpcMessage,
    GtpError,
    MessageType,
)

from .sessions import SessionTable

Address = tuple[str, int]
Handler = Callable[[GtpcMessage, Address], Awaitable[GtpcMessage | None]]

_REQUESTS = (EchoRequest, CreateSessionRequest, DeleteSessionRequest, DeleteBearerRequest)


def is_request(message: GtpcMessage) -> bool:
    """Requests are answered by the dispatcher; responses complete the transactions we started."""
    return isinstance(message, _REQUESTS)


class Dispatcher:
    """Routes each request to the handler registered for its message type."""

    def __init__(self, handlers: Mapping[int, Handler], sessions: SessionTable, recovery: int) -> None:
        self._handlers = dict(handlers)
        self._sessions = sessions
        self._recovery = recovery

    async def dispatch(self, message: GtpcMessage, peer: Address) -> GtpcMessage | None:
        handler = self._handlers.get(message.message_type)
        if handler is None:
            return None  # TS 29.274 §7.7.4: a message we do not serve is discarded
        return await handler(message, peer)

    def rejection(self, error: GtpError) -> GtpcMessage | None:
        """The answer to a request the codec refused (TS 29.274 §7.7.3-§7.7.7), or None to discard it."""
        if error.seq is None or error.cause == Cause.SERVICE_NOT_SUPPORTED:
            return None
        if error.msg_type == MessageType.CREATE_SESSION_REQUEST:
            # We cannot trust the Sender F-TEID of a broken request: TEID 0 (TS 29.274 §5.5.2).
            return CreateSessionResponse(seq=error.seq, teid=0, cause=error.cause, recovery=self._recovery)
        if error.msg_type == MessageType.DELETE_SESSION_REQUEST:
            session = self._sessions.by_control_teid.get(error.teid or 0)
            teid = session.sgw_control_teid if session is not None else 0
            return DeleteSessionResponse(seq=error.seq, teid=teid, cause=error.cause)
        return None

    def failure(self, message: GtpcMessage) -> GtpcMessage | None:
        """The answer to a request whose handler failed: System failure, so the peer does not wait."""
        if isinstance(message, CreateSessionRequest):
            return CreateSessionResponse(
                seq=message.seq, teid=message.sender_fteid.teid, cause=Cause.SYSTEM_FAILURE, recovery=self._recovery
            )
        if isinstance(message, DeleteSessionRequest):
            return DeleteSessionResponse(seq=message.seq, teid=0, cause=Cause.SYSTEM_FAILURE)
        return None
