"""The gateway (PGW/UPF role): GTPv2-C and GTP-U towards the radio side, RADIUS towards the AAA.

codec (GTP <-> RADIUS values), handlers (one per GTPv2-C request), dispatcher (message type -> handler),
control / user_plane / dae (the three UDP endpoints), manager (session lifecycle), gateway (the component).
"""

from .config import GatewayConfig
from .gateway import Gateway
from .sessions import Session

__all__ = ["Gateway", "GatewayConfig", "Session"]
