"""One handler per GTPv2-C request the gateway serves (TS 29.274 §7): Echo, Create Session, Delete Session."""

from .create_session import CreateSessionHandler
from .delete_session import DeleteSessionHandler
from .echo import EchoHandler

__all__ = ["CreateSessionHandler", "DeleteSessionHandler", "EchoHandler"]
