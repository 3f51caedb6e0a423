"""The emulated radio network: a RAN/SGW and devices that attach, roam, sleep and make traffic, over GTP only.

config (EmulatorConfig), states (device states, RAT names), networks (visited networks), device (a device
and its snapshot), apps (echo, log, bridge), sgw_control / sgw_user (the SGW's GTP-C and GTP-U endpoints),
radio (attach, detach, paging, delivery), emulator (the API and the component). It imports only
cellplane.protocols: like a real modem and RAN, it knows the platform only through the wire.
"""

from .apps import Datagram
from .config import EmulatorConfig
from .device import DeviceView
from .emulator import DownlinkSource, Emulator, SimLookup, SimRecord
from .errors import EmulatorError, InvalidState, InvalidValue, UnknownDevice
from .states import DeviceState

__all__ = [
    "Datagram",
    "DeviceState",
    "DeviceView",
    "DownlinkSource",
    "Emulator",
    "EmulatorConfig",
    "EmulatorError",
    "InvalidState",
    "InvalidValue",
    "SimLookup",
    "SimRecord",
    "UnknownDevice",
]
