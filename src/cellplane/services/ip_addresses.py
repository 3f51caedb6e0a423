"""The IP addresses a Super SIM holds right now: one per live data session (GET /Sims/{SimSid}/IpAddresses)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.paging import Page, PageSpec
from cellplane.store.models import Sim
from cellplane.store.repositories import data_sessions as data_session_repo


@dataclass(frozen=True)
class SimIpAddress:
    address: str
    version: str  # "IPv4" or "IPv6", the spec's ip_address_version


async def live_addresses(session: AsyncSession, sim_sid: str) -> list[str]:
    """The seam the network core feeds: the UE addresses held by the SIM's open data sessions.

    An address exists only while a session holds it: the gateway assigns it at Create Session
    (TS 29.274) and AAA hears it in Accounting Start (Framed-IP-Address, RFC 2866); it is gone at
    Delete Session / Accounting Stop: the `ue_ip` of each of the SIM's open `data_sessions` rows.
    """
    return await data_session_repo.open_session_addresses(session, sim_sid)


def is_address(value: str) -> bool:
    """Whether a PageToken position is an IP address (the list is keyed by the address text)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


async def list_addresses(session: AsyncSession, sim: Sim, spec: PageSpec) -> Page[SimIpAddress]:
    found = sorted({str(ipaddress.ip_address(raw)) for raw in await live_addresses(session, sim.sid)})
    return page_addresses([SimIpAddress(a, f"IPv{ipaddress.ip_address(a).version}") for a in found], spec)


def page_addresses(items: list[SimIpAddress], spec: PageSpec) -> Page[SimIpAddress]:
    """Keyset paging over a short in-memory list, keyed by the address text (a SIM has a handful)."""
    if spec.before is not None:
        earlier = [item for item in items if item.address < spec.before]
        chosen = earlier[-spec.size :]
        has_previous, has_next = len(earlier) > spec.size, True
    else:
        rest = [item for item in items if item.address > spec.after] if spec.after is not None else items
        if spec.after is None:
            rest = rest[spec.offset :]
        chosen = rest[: spec.size]
        has_next = len(rest) > spec.size
        has_previous = spec.after is not None or spec.offset > 0
    return Page(
        items=chosen,
        has_next=has_next,
        has_previous=has_previous,
        first_key=chosen[0].address if chosen else None,
        last_key=chosen[-1].address if chosen else None,
    )
