"""Emulated eUICCs (the eSIM chips of devices, by EID) and their Local Profile Assistant: download a profile from an
SM-DP+ and install it (GSMA SGP.22), so that an eSIM Profile goes `available -> downloaded -> installed`.

    euiccs = Euiccs(smdp)                        # smdp: the SM-DP+ the LPA talks to (given by whoever runs us)
    await euiccs.download(who, eid, matching_id=None, install=True)
    euiccs.profiles(eid)

The emulator never reads the platform's store: the SM-DP+ is a seam (`SmdpPlus`) whose `download` hands the
profile package over (and marks it downloaded) and whose `installed` takes the installation result notification.
`who` is whoever drives the device, passed through to the SM-DP+ untouched (it decides what that caller may get).
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, replace
from typing import Any, Protocol

from .errors import InvalidState, InvalidValue, UnknownDevice

DOWNLOADED, INSTALLED = "downloaded", "installed"
_EID = re.compile(r"^\d{32}\Z")
_MATCHING_ID = re.compile(r"^[A-Za-z0-9-]{1,64}\Z")
# SGP.22 §4.1: "LPA:1$" SM-DP+ address "$" Matching ID (optional parts after it are not used here).
_ACTIVATION_CODE = re.compile(r"^LPA:1\$([^$]{1,255})\$([^$]*)(\$.*)?\Z")


@dataclass(frozen=True)
class ProfilePackage:
    """What the SM-DP+ hands the eUICC: the profile's ICCID and the platform's names for it."""

    iccid: str
    esim_profile_sid: str
    sim_sid: str | None = None


class SmdpPlus(Protocol):
    async def download(self, who: Any, eid: str, matching_id: str | None) -> ProfilePackage:
        """The profile for this eUICC (of `matching_id`, else the one ordered for `eid`), now `downloaded`."""
        ...

    async def installed(self, who: Any, eid: str, package: ProfilePackage) -> None:
        """The eUICC's notification that the profile is installed."""
        ...


@dataclass(frozen=True)
class EuiccProfile:
    """A profile on an eUICC, as the eUICC knows it."""

    eid: str
    iccid: str
    esim_profile_sid: str
    sim_sid: str | None
    state: str
    downloaded_at: float
    installed_at: float | None = None


def check_eid(eid: str) -> str:
    """An EID (GSMA SGP.29): 32 digits whose last two are ISO/IEC 7064 MOD 97-10 check digits."""
    if not (_EID.match(eid) and int(eid) % 97 == 1):
        raise InvalidValue("Eid must be a 32-digit EID with valid check digits (GSMA SGP.29)", "Eid")
    return eid


def matching_id_of(activation_code: str | None, matching_id: str | None) -> str | None:
    """The Matching ID the LPA presents: from an Activation Code (a scanned QR code) or given as such."""
    if activation_code is not None and matching_id is not None:
        raise InvalidValue("give either ActivationCode or MatchingId, not both", "ActivationCode")
    if activation_code is not None:
        match = _ACTIVATION_CODE.match(activation_code)
        if match is None or not match.group(2):
            raise InvalidValue("ActivationCode must be LPA:1$<SM-DP+ address>$<Matching ID>", "ActivationCode")
        matching_id = match.group(2)
    if matching_id is not None and not _MATCHING_ID.match(matching_id):
        raise InvalidValue("MatchingId must be 1 to 64 letters, digits and dashes", "MatchingId")
    return matching_id


class Euiccs:
    """Every emulated eUICC, by EID, with the profiles downloaded onto it."""

    def __init__(self, smdp: SmdpPlus) -> None:
        self.smdp = smdp
        self._profiles: dict[str, dict[str, EuiccProfile]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def download(
        self, who: Any, eid: str, matching_id: str | None = None, *, install: bool = True
    ) -> EuiccProfile:
        """The LPA downloads a profile (and installs it, unless `install` is false: it stays `downloaded`)."""
        check_eid(eid)
        async with self._lock(eid):
            package = await self.smdp.download(who, eid, matching_id)
            profile = EuiccProfile(
                eid, package.iccid, package.esim_profile_sid, package.sim_sid, DOWNLOADED, time.time()
            )
            self._profiles.setdefault(eid, {})[package.iccid] = profile
            if install:
                profile = await self._install(who, profile)
            return profile

    async def install(self, who: Any, eid: str, iccid: str) -> EuiccProfile:
        """Install a profile this eUICC has downloaded."""
        check_eid(eid)
        async with self._lock(eid):
            profile = self.profile(eid, iccid)
            if profile.state != DOWNLOADED:
                raise InvalidState(f"profile {iccid} on eUICC {eid} is already {profile.state}")
            return await self._install(who, profile)

    def profile(self, eid: str, iccid: str) -> EuiccProfile:
        found = self._profiles.get(eid, {}).get(iccid)
        if found is None:
            raise UnknownDevice(f"eUICC {eid} has no profile {iccid}", "Iccid")
        return found

    def profiles(self, eid: str) -> list[EuiccProfile]:
        """The profiles on this eUICC, in the order they were downloaded."""
        return sorted(self._profiles.get(eid, {}).values(), key=lambda p: p.downloaded_at)

    async def _install(self, who: Any, profile: EuiccProfile) -> EuiccProfile:
        package = ProfilePackage(profile.iccid, profile.esim_profile_sid, profile.sim_sid)
        await self.smdp.installed(who, profile.eid, package)
        installed = replace(profile, state=INSTALLED, installed_at=time.time())
        self._profiles[profile.eid][profile.iccid] = installed
        return installed

    def _lock(self, eid: str) -> asyncio.Lock:
        return self._locks.setdefault(eid, asyncio.Lock())
