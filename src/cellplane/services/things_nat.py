"""NAT rules of a Network (THINGS.md): port forwards from `publicAddress:publicPort` on the host side to a Thing with
a locked address, or to a private address of the network's pools."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain import things_config as config
from cellplane.domain.caller import Caller
from cellplane.domain.errors import InvalidParameter
from cellplane.domain.ids import Prefix, new_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.domain.things import check_if_match
from cellplane.services.things_networks import network, network_child, network_children
from cellplane.services.things_profiles import address_in_pools
from cellplane.store.models import NatRule, Sim, ThingsGroup
from cellplane.store.repositories import things as repo

_UNSET: Any = object()


@dataclass
class NatChange:
    """Raw wire values; _UNSET when not given."""

    protocol: Any = _UNSET
    public_port: Any = _UNSET
    thing_id: Any = _UNSET
    private_ip: Any = _UNSET
    private_port: Any = _UNSET


async def rules(session: AsyncSession, caller: Caller, network_sid: str, spec: PageSpec) -> Page[NatRule]:
    return await network_children(session, caller, network_sid, NatRule, spec)


async def rule(session: AsyncSession, caller: Caller, network_sid: str, sid: str) -> NatRule:
    return await network_child(session, caller, network_sid, NatRule, sid, "NatRule")


async def create_rule(session: AsyncSession, caller: Caller, network_sid: str, change: NatChange) -> NatRule:
    await network(session, caller, network_sid)
    for name, field in (("protocol", "protocol"), ("public_port", "publicPort"), ("private_port", "privatePort")):
        if getattr(change, name) is _UNSET:
            raise InvalidParameter(field, f"{field} is required")
    created = NatRule(sid=new_sid(Prefix.NAT_RULE), account_sid=caller.account_sid, network_sid=network_sid)
    await _apply(session, caller, created, change, creating=True)
    session.add(created)
    await session.flush()
    return created


async def update_rule(
    session: AsyncSession, caller: Caller, network_sid: str, sid: str, change: NatChange, if_match: str | None
) -> NatRule:
    found = await rule(session, caller, network_sid, sid)
    check_if_match(if_match, found.sid, found.date_updated, "NatRule")
    await _apply(session, caller, found, change, creating=False)
    await session.flush()
    return found


async def delete_rule(session: AsyncSession, caller: Caller, network_sid: str, sid: str, if_match: str | None) -> None:
    found = await rule(session, caller, network_sid, sid)
    check_if_match(if_match, found.sid, found.date_updated, "NatRule")
    await session.delete(found)
    await session.flush()


async def _apply(session: AsyncSession, caller: Caller, target: NatRule, change: NatChange, *, creating: bool) -> None:
    """Check every given value against the rule as it would be, then set them all (or none)."""
    protocol = (
        target.protocol
        if change.protocol is _UNSET
        else config.choice(change.protocol, "protocol", config.NAT_PROTOCOLS)
    )
    public_port = (
        target.public_port if change.public_port is _UNSET else config.parse_port(change.public_port, "publicPort")
    )
    private_port = (
        target.private_port if change.private_port is _UNSET else config.parse_port(change.private_port, "privatePort")
    )
    thing_id = target.thing_sid if change.thing_id is _UNSET else change.thing_id
    private_ip = target.private_ip if change.private_ip is _UNSET else change.private_ip
    if change.thing_id is not _UNSET and change.thing_id is not None and change.private_ip is _UNSET:
        private_ip = None
    if change.private_ip is not _UNSET and change.private_ip is not None and change.thing_id is _UNSET:
        thing_id = None
    if (thing_id is None) == (private_ip is None):
        raise InvalidParameter("thingId", "give exactly one of thingId (a Thing with a locked IP) and privateIp")
    pools = (await repo.pools_of(session, [target.network_sid]))[target.network_sid]
    if thing_id is not None:
        thing = await repo.find_thing(session, caller.account_sid, str(thing_id)) if isinstance(thing_id, str) else None
        if thing is None:
            raise InvalidParameter("thingId", f"Thing {thing_id} was not found in the account")
        group = await repo.owned(session, ThingsGroup, caller.account_sid, thing.things_group_sid or "")
        if group is None or group.network_sid != target.network_sid:
            raise InvalidParameter("thingId", f"Thing {thing.sid} is not in a Things Group of this network")
        if thing.locked_ip is None:
            raise InvalidParameter("thingId", f"Thing {thing.sid} has no locked IP: lock one before forwarding to it")
        thing_id = thing.sid
    else:
        address = str(config.parse_address(private_ip, "privateIp"))
        if not address_in_pools(address, pools):
            raise InvalidParameter("privateIp", f"privateIp {address} is not an address of the network's pools")
        private_ip = address
    if creating or (protocol, public_port) != (target.protocol, target.public_port):
        taken = await repo.page(
            session,
            repo.listing(NatRule, caller.account_sid, network_sid=target.network_sid),
            NatRule.sid,
            PageSpec(size=1000),
        )
        if any(r.sid != target.sid and (r.protocol, r.public_port) == (protocol, public_port) for r in taken.items):
            raise InvalidParameter("publicPort", f"{protocol} port {public_port} is forwarded by another NAT rule")
    target.protocol, target.public_port, target.private_port = protocol, public_port, private_port
    target.thing_sid, target.private_ip = thing_id, private_ip


def private_address(rule_: NatRule, things: dict[str, Sim]) -> str | None:
    """Where a rule forwards to: its private address, or its Thing's locked one."""
    if rule_.private_ip is not None:
        return rule_.private_ip
    thing = things.get(rule_.thing_sid or "")
    return thing.locked_ip if thing is not None else None
