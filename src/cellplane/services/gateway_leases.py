"""Gateway nodes' leases, and closing the sessions of a gateway that let its lease lapse (issue 21).

Each gateway node holds a row of `singleton_leases` named `gateway:<its NAS-Identifier>`, renewed every third of
its lease on the database's clock. A gateway that dies (kill -9, a lost machine) sends no Accounting-Stop: its
sessions would stay open in the database for ever. The sweep (jobs/gateway_sweep.py, one node at a time) closes the
open sessions of every NAS whose lease lapsed, as an Accounting-Off from it would (RFC 2866 §5.1: the NAS holds no
session any more): Acct-Terminate-Cause Lost-Service, a `session_ended` connection event each, and gives the lease
back so that it is swept once. A gateway restarted under the same NAS-Identifier takes its lease back (and sends
an Accounting-On, which closes the same sessions in its own right).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.services import data_sessions
from cellplane.services.accounting_records import AccountingRecord, RecordKind
from cellplane.store.repositories import leases

PREFIX = "gateway:"
SWEEP = "gateway-sweep"
LOST = "Lost-Service"


def lease_name(nas_id: str) -> str:
    return f"{PREFIX}{nas_id}"


async def take(session: AsyncSession, nas_id: str, holder: str, seconds: float) -> int | None:
    """The gateway's lease for `seconds`, its own taken back at once after a restart (the same holder)."""
    return await leases.take(session, lease_name(nas_id), holder, seconds, reclaim=True)


async def renew(session: AsyncSession, nas_id: str, epoch: int, seconds: float) -> bool:
    return await leases.fence(session, lease_name(nas_id), epoch, seconds)


async def give_back(session: AsyncSession, nas_id: str, epoch: int) -> None:
    await leases.give_back(session, lease_name(nas_id), epoch)


async def close_lapsed(session: AsyncSession, now: datetime) -> dict[str, int]:
    """Close the open sessions of every gateway whose lease lapsed, in the caller's transaction: how many, by
    NAS-Identifier."""
    closed: dict[str, int] = {}
    for name, epoch in await leases.lapsed(session, PREFIX):
        nas_id = name[len(PREFIX) :]
        off = AccountingRecord(kind=RecordKind.NAS_OFF, nas_id=nas_id, terminate_cause=LOST)
        effects = await data_sessions.apply_batch(session, [off], [], {}, now)
        closed[nas_id] = len(effects.sessions)
        await leases.give_back(session, name, epoch)
    return closed
