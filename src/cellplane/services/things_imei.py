"""IMEI monitoring (THINGS.md "IMEI"): what the AAA's `imei_changed` events leave behind, written with the accounting
batch that carries them (network/aaa/writer.py): the SIM's last IMEI, and for a Thing an IMEI change record and a
signed webhook to the account's events URL (`imeiChanged`, or `imeiRefused` when its IMEI lock refused the attach).

The AAA sends these events only when the IMEI differs from the one in its policy cache, so this runs rarely."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.caller import Caller
from cellplane.domain.ids import Prefix, new_sid
from cellplane.domain.paging import Page, PageSpec
from cellplane.domain.things import PRODUCT
from cellplane.services import things_events
from cellplane.services.accounting_records import NetworkEvent
from cellplane.store.models import ImeiChange, Sim
from cellplane.store.repositories import things as repo
from cellplane.store.repositories.paging import keyset_page


def silent_imei_event(event: NetworkEvent) -> bool:
    """Not a connection event of its own: a SIM's first IMEI (stored only), or a refusal (its attach_rejected
    event, code 83711, says it)."""
    return event.previous_imei is None or event.rejected


async def record(session: AsyncSession, events: Sequence[NetworkEvent]) -> None:
    for event in events:
        if event.sim_sid is None or event.imei is None:
            continue
        if not event.rejected:
            # date_updated kept: the AAA (which sent this) knows the IMEI already; a new stamp would make it reload.
            stmt = update(Sim).where(Sim.sid == event.sim_sid)
            await session.execute(stmt.values(last_imei=event.imei, date_updated=Sim.date_updated))
        if event.previous_imei is None and not event.rejected:
            continue
        product = (await session.execute(select(Sim.product).where(Sim.sid == event.sim_sid))).scalar_one_or_none()
        if product != PRODUCT or event.account_sid is None:
            continue
        network = f"{event.mcc}-{event.mnc}" if event.mcc and event.mnc else None
        change = ImeiChange(
            sid=new_sid(Prefix.IMEI_CHANGE),
            account_sid=event.account_sid,
            thing_sid=event.sim_sid,
            previous_imei=event.previous_imei,
            imei=event.imei,
            network=network,
            rejected=event.rejected,
            at=event.timestamp,
        )
        session.add(change)
        await things_events.announce(
            session,
            event.account_sid,
            "imeiRefused" if event.rejected else "imeiChanged",
            {
                "imeiChangeId": change.sid,
                "thingId": event.sim_sid,
                "previousImei": event.previous_imei,
                "imei": event.imei,
                "network": network,
                "rejected": "true" if event.rejected else "false",
            },
            change.sid,
        )


async def list_changes(
    session: AsyncSession, caller: Caller, spec: PageSpec, thing_sid: str | None = None
) -> Page[ImeiChange]:
    stmt = repo.listing(ImeiChange, caller.account_sid)
    if thing_sid is not None:
        stmt = stmt.where(ImeiChange.thing_sid == thing_sid)
    return await keyset_page(session, stmt, ImeiChange.sid, spec)
