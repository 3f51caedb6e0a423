"""Echo Request -> Echo Response with our restart counter (TS 29.274 §7.1, path management)."""

from __future__ import annotations

from cellplane.protocols.gtp import EchoRequest, EchoResponse, GtpcMessage


class EchoHandler:
    def __init__(self, recovery: int) -> None:
        self._recovery = recovery

    async def __call__(self, message: GtpcMessage, peer: tuple[str, int]) -> GtpcMessage | None:
        assert isinstance(message, EchoRequest)
        return EchoResponse(seq=message.seq, recovery=self._recovery)
