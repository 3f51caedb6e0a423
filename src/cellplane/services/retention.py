"""The 30-day retention rule: what is purged, and keeping exactly one purge job scheduled.

The seed (IPCommand Resource, "Retention Period"): commands are kept 30 days from their creation and are
no longer readable after that. SMS Commands and Wireless Commands follow the same rule (the Wireless Command
resource: "Commands are retained for 30 days"), and so do the webhook deliveries made
for them (once finished) and finished jobs, which would otherwise only grow. Audit events are kept 90 days
(services/audit.py), and expired access tokens go as soon as they expire.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.ids import Prefix
from cellplane.services import audit
from cellplane.services.outbox import enqueue
from cellplane.store.models import IpCommand, SmsCommand, WirelessCommand
from cellplane.store.repositories import identity as identity_repo
from cellplane.store.repositories import retention as repo

RETENTION_JOB = "retention"
RETENTION = timedelta(days=30)
BATCH = 1000


@dataclass(frozen=True)
class Purged:
    ip_commands: int = 0
    sms_commands: int = 0
    wireless_commands: int = 0
    webhook_deliveries: int = 0
    jobs: int = 0
    audit_events: int = 0
    access_tokens: int = 0

    @property
    def more(self) -> bool:
        """Whether some kind filled its batch, so another batch may find more."""
        kinds = (
            self.ip_commands,
            self.sms_commands,
            self.wireless_commands,
            self.webhook_deliveries,
            self.jobs,
            self.audit_events,
            self.access_tokens,
        )
        return max(kinds) >= BATCH


def sid_floor(prefix: Prefix, when: datetime) -> str:
    """The smallest sid made at `when`: a sid's first 12 hex digits are its creation time in ms (domain/ids.py)."""
    return f"{prefix}{int(when.timestamp() * 1000):012x}{'0' * 20}"


async def purge_batch(session: AsyncSession, now: datetime) -> Purged:
    """Delete up to one batch of each kind created before now - 30 days; run again while `more`."""
    cutoff = now - RETENTION
    return Purged(
        ip_commands=await repo.delete_commands(session, IpCommand, sid_floor(Prefix.IP_COMMAND, cutoff), cutoff, BATCH),
        sms_commands=await repo.delete_commands(
            session, SmsCommand, sid_floor(Prefix.SMS_COMMAND, cutoff), cutoff, BATCH
        ),
        wireless_commands=await repo.delete_commands(
            session, WirelessCommand, sid_floor(Prefix.WIRELESS_COMMAND, cutoff), cutoff, BATCH
        ),
        webhook_deliveries=await repo.delete_webhooks(
            session, sid_floor(Prefix.WEBHOOK_DELIVERY, cutoff), cutoff, BATCH
        ),
        jobs=await repo.delete_finished_jobs(session, cutoff, BATCH),
        audit_events=await identity_repo.delete_audit_events(
            session, sid_floor(Prefix.AUDIT_EVENT, now - audit.RETENTION), now - audit.RETENTION, BATCH
        ),
        access_tokens=await identity_repo.delete_expired_tokens(session, now, BATCH),
    )


async def ensure_scheduled(session: AsyncSession) -> bool:
    """At start-up: a purge job now, unless one is already waiting or running. True if one was added."""
    if await repo.job_scheduled(session, RETENTION_JOB, ("pending", "running")):
        return False
    enqueue(session, RETENTION_JOB, {}, max_attempts=100)
    return True


async def schedule_next(session: AsyncSession, interval: float) -> bool:
    """From the running purge: the next one in `interval` seconds, unless one is already waiting (a re-run
    after a crash, or a second node's start-up, must not start a second chain)."""
    if await repo.job_scheduled(session, RETENTION_JOB, ("pending",)):
        return False
    enqueue(session, RETENTION_JOB, {}, delay=interval, max_attempts=100)
    return True
