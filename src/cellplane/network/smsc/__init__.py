"""The SMS center: carries SMS Commands to devices and from them (center.py), through a radio leg given by whoever
runs it (radio.py: the emulator's devices in-process); smpp.py is the seam where a real SMSC would take that leg.
"""

from .center import MoAnswer, SmsCenter
from .radio import Deliver, MtAttempt, MtResult
from .smpp import SmppLink, SmppPeer

__all__ = ["Deliver", "MoAnswer", "MtAttempt", "MtResult", "SmppLink", "SmppPeer", "SmsCenter"]
