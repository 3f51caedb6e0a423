"""Errors of the emulator's API, shaped for an HTTP layer to map (parameter named, kind by type).

EmulatorError       every error of the emulator
├── UnknownDevice   no device with that ICCID (or no SIM with that ICCID behind sim_lookup)
├── InvalidValue    a parameter that cannot be used (`parameter` names it)
└── InvalidState    the device cannot do that now (e.g. traffic while detached)
"""

from __future__ import annotations


class EmulatorError(Exception):
    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.parameter = parameter


class UnknownDevice(EmulatorError):
    pass


class InvalidValue(EmulatorError):
    pass


class InvalidState(EmulatorError):
    pass
