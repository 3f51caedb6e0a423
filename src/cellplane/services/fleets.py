"""Fleet use cases: create, list, fetch, update — the settings every SIM of a fleet shares."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.callbacks import CALLBACK_METHODS
from cellplane.domain.caller import Caller
from cellplane.domain.errors import InvalidParameter, MissingParameter, NotFound
from cellplane.domain.ids import Prefix, new_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.services import unique_names
from cellplane.store.models import Fleet, NetworkAccessProfile
from cellplane.store.models.base import utcnow
from cellplane.store.repositories import fleets as repo

# Super SIM v1 Fleet resource: "Value must be between 1MB (1) and 2TB (2,000,000). Defaults to 1GB (1,000)."
DATA_LIMIT_MIN = 1
DATA_LIMIT_MAX = 2_000_000
DATA_LIMIT_DEFAULT = 1_000
DATA_METERING = "payg"


@dataclass
class FleetChange:
    """The parameters of POST /Fleets and /Fleets/{Sid}; None means "not given", "" clears a URL or name."""

    unique_name: str | None = None
    network_access_profile: str | None = None
    data_enabled: bool | None = None
    data_limit: int | None = None
    ip_commands_url: str | None = None
    ip_commands_method: str | None = None
    sms_commands_enabled: bool | None = None
    sms_commands_url: str | None = None
    sms_commands_method: str | None = None


async def create(session: AsyncSession, caller: Caller, change: FleetChange) -> Fleet:
    """POST /Fleets: the network access profile is required; every other setting has the spec's default."""
    if not change.network_access_profile:
        raise MissingParameter("NetworkAccessProfile")
    profile = await _resolve_profile(session, caller.account_sid, change.network_access_profile)
    _validate(change)
    name = change.unique_name or None
    if name is not None:
        await unique_names.check(
            "Fleet", name, lambda name: repo.fleet_name_taken(session, caller.account_sid, name, None)
        )
    fleet = Fleet(
        sid=new_sid(Prefix.FLEET),
        account_sid=caller.account_sid,
        unique_name=name,
        network_access_profile_sid=profile.sid,
        data_enabled=True if change.data_enabled is None else change.data_enabled,
        data_limit=DATA_LIMIT_DEFAULT if change.data_limit is None else change.data_limit,
        data_metering=DATA_METERING,
        sms_commands_enabled=True if change.sms_commands_enabled is None else change.sms_commands_enabled,
        sms_commands_url=change.sms_commands_url or None,
        sms_commands_method=(change.sms_commands_method or "POST").upper(),
        ip_commands_url=change.ip_commands_url or None,
        ip_commands_method=(change.ip_commands_method or "POST").upper(),
    )
    session.add(fleet)
    await unique_names.flush(session, "Fleet", name)
    return fleet


async def fetch(session: AsyncSession, caller: Caller, key: str) -> Fleet:
    """A fleet of the caller's own account, by sid or unique name."""
    fleet = await repo.find_fleet(session, caller.account_sid, key)
    if fleet is None:
        raise NotFound("Fleet", key)
    return fleet


async def list_fleets(
    session: AsyncSession, caller: Caller, spec: PageSpec, *, network_access_profile: str | None = None
) -> Page[Fleet]:
    """GET /Fleets, optionally only those using one profile (by sid or unique name)."""
    profile_sid = None
    if network_access_profile is not None:
        profile = await repo.find_profile(session, caller.account_sid, network_access_profile)
        if profile is None:
            return Page(items=[], has_next=False, has_previous=False)
        profile_sid = profile.sid
    return await repo.page_fleets(session, repo.fleet_query(caller.account_sid, profile_sid), spec)


async def update(session: AsyncSession, caller: Caller, key: str, change: FleetChange) -> Fleet:
    """POST /Fleets/{Sid}: everything is checked before anything is written."""
    fleet = await fetch(session, caller, key)
    _validate(change)
    profile = None
    if change.network_access_profile is not None:
        if change.network_access_profile == "":
            raise InvalidParameter("NetworkAccessProfile", "A Fleet must have a NetworkAccessProfile")
        profile = await _resolve_profile(session, caller.account_sid, change.network_access_profile)
    if change.unique_name:
        await unique_names.check(
            "Fleet",
            change.unique_name,
            lambda name: repo.fleet_name_taken(session, caller.account_sid, name, fleet.sid),
        )

    if change.unique_name is not None:
        fleet.unique_name = change.unique_name or None
    if profile is not None:
        fleet.network_access_profile_sid = profile.sid
    if change.data_enabled is not None:
        fleet.data_enabled = change.data_enabled
    if change.data_limit is not None:
        fleet.data_limit = change.data_limit
    if change.sms_commands_enabled is not None:
        fleet.sms_commands_enabled = change.sms_commands_enabled
    if change.ip_commands_url is not None:
        fleet.ip_commands_url = change.ip_commands_url or None
    if change.ip_commands_method is not None:
        fleet.ip_commands_method = change.ip_commands_method.upper()
    if change.sms_commands_url is not None:
        fleet.sms_commands_url = change.sms_commands_url or None
    if change.sms_commands_method is not None:
        fleet.sms_commands_method = change.sms_commands_method.upper()
    fleet.date_updated = utcnow()
    await unique_names.flush(session, "Fleet", fleet.unique_name)
    return fleet


def _validate(change: FleetChange) -> None:
    limit = change.data_limit
    if limit is not None and not DATA_LIMIT_MIN <= limit <= DATA_LIMIT_MAX:
        raise InvalidParameter(
            "DataLimit", f"DataLimit must be between {DATA_LIMIT_MIN} and {DATA_LIMIT_MAX} (megabytes)"
        )
    for name, method in (
        ("IpCommandsMethod", change.ip_commands_method),
        ("SmsCommandsMethod", change.sms_commands_method),
    ):
        if method is not None and method.upper() not in CALLBACK_METHODS:
            raise InvalidParameter(name, f"{name} must be one of: {', '.join(CALLBACK_METHODS)}")


async def _resolve_profile(session: AsyncSession, account_sid: str, key: str) -> NetworkAccessProfile:
    profile = await repo.find_profile(session, account_sid, key)
    if profile is None:
        raise InvalidParameter(
            "NetworkAccessProfile", f"NetworkAccessProfile {key} was not found in account {account_sid}"
        )
    return profile
