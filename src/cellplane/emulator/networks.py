"""Visited networks of the emulated radio side: their PLMN and what they offer a sleeping device."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cellplane.protocols.gtp import Plmn

from .errors import InvalidValue

_MCC = re.compile(r"[0-9]{3}")
_MNC = re.compile(r"[0-9]{2,3}")


@dataclass
class VisitedNetwork:
    """One PLMN. `hlcom`: whether it buffers downlink for devices asleep in eDRX (TS 23.682 §4.5.7, High
    Latency Communication); the seeds note that not every network offers it."""

    mcc: str
    mnc: str
    hlcom: bool = True
    tac: int = 1  # the Tracking Area our emulated cells are in

    @property
    def plmn(self) -> Plmn:
        return Plmn(self.mcc, self.mnc)

    @property
    def key(self) -> str:
        return f"{self.mcc}-{self.mnc}"

    def as_dict(self) -> dict[str, object]:
        return {"mcc": self.mcc, "mnc": self.mnc, "hlcom": self.hlcom}


def plmn_key(mcc: str, mnc: str) -> str:
    """'MCC-MNC' after checking both (TS 23.003 §2.2: 3-digit MCC, 2- or 3-digit MNC)."""
    if not isinstance(mcc, str) or not _MCC.fullmatch(mcc):
        raise InvalidValue(f"MCC must be 3 digits, not {mcc!r}", "Mcc")
    if not isinstance(mnc, str) or not _MNC.fullmatch(mnc):
        raise InvalidValue(f"MNC must be 2 or 3 digits, not {mnc!r}", "Mnc")
    return f"{mcc}-{mnc}"


class Networks:
    """The visited networks devices have used or been told about, by 'MCC-MNC'."""

    def __init__(self) -> None:
        self._by_key: dict[str, VisitedNetwork] = {}

    def get(self, mcc: str, mnc: str) -> VisitedNetwork:
        key = plmn_key(mcc, mnc)
        network = self._by_key.get(key)
        if network is None:
            network = self._by_key[key] = VisitedNetwork(mcc, mnc, tac=len(self._by_key) + 1)
        return network

    def configure(self, mcc: str, mnc: str, *, hlcom: bool | None = None) -> VisitedNetwork:
        network = self.get(mcc, mnc)
        if hlcom is not None:
            network.hlcom = bool(hlcom)
        return network

    def all(self) -> list[VisitedNetwork]:
        return sorted(self._by_key.values(), key=lambda network: network.key)

    def clear(self) -> None:
        self._by_key.clear()
