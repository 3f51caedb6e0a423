"""What the console needs of the self-hosted lab's emulated network, as a seam the runtime fills in.

The console may not import the emulator (sibling layers): the runtime hands it an object with these methods,
already checked against nothing; the console checks that each ICCID belongs to the person's account first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class LabDevice:
    """A device of the emulated network as the console shows it."""

    iccid: str
    imei: str
    state: str
    network: str
    rat: str
    reason: str | None
    ip_address: str | None
    bytes_up: int
    bytes_down: int


class LabError(Exception):
    """A lab operation the emulator refused (unknown device, wrong state, bad network), said for a person."""


class Lab(Protocol):
    def devices(self) -> list[LabDevice]: ...

    def networks(self) -> list[tuple[str, str]]:
        """(MCC-MNC, name) of the visited networks a device may attach to."""
        ...

    async def power_on(self, iccid: str, network: str) -> LabDevice: ...

    async def power_off(self, iccid: str) -> None: ...

    async def set_state(self, iccid: str, state: str) -> LabDevice: ...

    async def traffic(self, iccid: str, up: int, down: int) -> None: ...
