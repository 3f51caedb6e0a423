"""Wireless RatePlan use cases: create, list, fetch, update (names only, as the spec allows), delete when unused."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain import wireless
from cellplane.domain.caller import Caller
from cellplane.domain.errors import Conflict, InvalidParameter, NotFound
from cellplane.domain.ids import Prefix, new_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.services import unique_names
from cellplane.store.models import RatePlan
from cellplane.store.models.base import utcnow
from cellplane.store.repositories import rate_plans as repo

# Hosted error 33101 covers "UniqueName is invalid" and "limits out of range" for rate plans.
INVALID = 33101
# A rate plan that SIMs still use cannot go ("the requested operation is not permitted").
IN_USE = 33201


@dataclass
class RatePlanChange:
    """The parameters of POST /RatePlans (every one) and /RatePlans/{Sid} (the names); None = not given."""

    unique_name: str | None = None
    friendly_name: str | None = None
    data_enabled: bool | None = None
    data_limit: int | None = None
    data_metering: str | None = None
    messaging_enabled: bool | None = None
    voice_enabled: bool | None = None
    national_roaming_enabled: bool | None = None
    international_roaming: list[str] | None = None
    national_roaming_data_limit: int | None = None
    international_roaming_data_limit: int | None = None
    data_limit_strategy: str | None = None


async def create(session: AsyncSession, caller: Caller, change: RatePlanChange) -> RatePlan:
    _validate(change)
    name = change.unique_name or None
    if name is not None:
        await unique_names.check(
            "RatePlan", name, lambda name: repo.name_taken(session, caller.account_sid, name, None), code=INVALID
        )
    now = utcnow()
    plan = RatePlan(
        sid=new_sid(Prefix.RATE_PLAN),
        account_sid=caller.account_sid,
        unique_name=name,
        friendly_name=change.friendly_name or None,
        data_enabled=_flag(change.data_enabled, True),
        data_limit=_limit(change.data_limit),
        data_metering=change.data_metering or "payg",
        data_limit_strategy=change.data_limit_strategy or "block",
        messaging_enabled=_flag(change.messaging_enabled, True),
        voice_enabled=_flag(change.voice_enabled, False),
        national_roaming_enabled=_flag(change.national_roaming_enabled, True),
        national_roaming_data_limit=_limit(change.national_roaming_data_limit),
        # A repeated parameter: each service once, in the order given.
        international_roaming=list(dict.fromkeys(change.international_roaming or [])),
        international_roaming_data_limit=_limit(change.international_roaming_data_limit),
        date_created=now,
        date_updated=now,
    )
    session.add(plan)
    await unique_names.flush(session, "RatePlan", name, code=INVALID)
    return plan


async def fetch(session: AsyncSession, caller: Caller, key: str) -> RatePlan:
    plan = await repo.find(session, caller.account_sid, key)
    if plan is None:
        raise NotFound("RatePlan", key)
    return plan


async def list_rate_plans(session: AsyncSession, caller: Caller, spec: PageSpec) -> Page[RatePlan]:
    return await repo.page(session, caller.account_sid, spec)


async def update(session: AsyncSession, caller: Caller, key: str, change: RatePlanChange) -> RatePlan:
    """POST /RatePlans/{Sid}: the spec lets only UniqueName and FriendlyName change; the rest is ignored."""
    plan = await fetch(session, caller, key)
    if change.unique_name:
        await unique_names.check(
            "RatePlan",
            change.unique_name,
            lambda name: repo.name_taken(session, caller.account_sid, name, plan.sid),
            code=INVALID,
        )
    if change.unique_name is not None:
        plan.unique_name = change.unique_name or None
    if change.friendly_name is not None:
        plan.friendly_name = change.friendly_name or None
    plan.date_updated = utcnow()
    await unique_names.flush(session, "RatePlan", plan.unique_name, code=INVALID)
    return plan


async def delete(session: AsyncSession, caller: Caller, key: str) -> None:
    plan = await repo.find(session, caller.account_sid, key, lock="update")
    if plan is None:
        raise NotFound("RatePlan", key)
    users = await repo.sims_using(session, plan.sid)
    if users:
        raise Conflict(
            f"RatePlan {plan.sid} is assigned to {users} Sim(s); assign them another rate plan first", code=IN_USE
        )
    await repo.remove(session, plan.sid)


def _flag(value: bool | None, default: bool) -> bool:
    return default if value is None else value


def _limit(value: int | None) -> int:
    """Megabytes; the RatePlan resource's default for every limit is 1000."""
    return wireless.DATA_LIMIT_DEFAULT if value is None else value


def _validate(change: RatePlanChange) -> None:
    """Values the RatePlan resource allows; every error names its parameter (code 33101)."""
    for name, limit in (
        ("DataLimit", change.data_limit),
        ("NationalRoamingDataLimit", change.national_roaming_data_limit),
        ("InternationalRoamingDataLimit", change.international_roaming_data_limit),
    ):
        if limit is not None and not 0 <= limit <= wireless.DATA_LIMIT_MAX:
            raise InvalidParameter(
                name, f"{name} must be between 0 and {wireless.DATA_LIMIT_MAX} (megabytes, up to 2TB)", code=INVALID
            )
    if change.data_metering is not None and change.data_metering not in wireless.DATA_METERINGS:
        raise InvalidParameter(
            "DataMetering", f"DataMetering must be one of: {', '.join(wireless.DATA_METERINGS)}", code=INVALID
        )
    if change.data_limit_strategy is not None and change.data_limit_strategy not in wireless.DATA_LIMIT_STRATEGIES:
        raise InvalidParameter(
            "DataLimitStrategy",
            f"DataLimitStrategy must be one of: {', '.join(wireless.DATA_LIMIT_STRATEGIES)}",
            code=INVALID,
        )
    for service in change.international_roaming or []:
        if service not in wireless.INTERNATIONAL_SERVICES:
            raise InvalidParameter(
                "InternationalRoaming",
                f"InternationalRoaming may contain: {', '.join(wireless.INTERNATIONAL_SERVICES)}",
                code=INVALID,
            )
