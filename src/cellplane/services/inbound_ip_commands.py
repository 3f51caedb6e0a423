"""IP Commands from SIMs: datagrams to 100.64.0.1 become `received` commands, posted to the fleet's URL (a Wireless
SIM's become Wireless Commands, posted to its commands_callback_url).

The user plane calls `offer` for each such datagram and must never wait, so `offer` only appends to a
bounded queue; a writer task drains it and stores whole batches, one transaction each, with the
webhooks to each fleet's `ip_commands_url` (seed: "an IP Command resource will be created and your
ip_commands_url will be invoked"). When the database cannot keep up the queue fills and further
datagrams are dropped and counted, as a congested network drops UDP: the tunnel never backs up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain import ip_commands as rules
from cellplane.domain.ids import Prefix, new_sid
from cellplane.services import wireless_commands
from cellplane.services.context import PlatformContext
from cellplane.services.ip_commands import notify
from cellplane.services.metrics import command_outcome
from cellplane.store.models import IpCommand, WirelessCommand
from cellplane.store.repositories import ip_commands as repo

log = logging.getLogger("cellplane.commands")


@dataclass(frozen=True, slots=True)
class MoDatagram:
    """One UDP datagram a SIM sent to the commands address, as the gateway saw it."""

    imsi: str
    device_ip: str
    device_port: int  # the datagram's source port (the spec's `device_port` for a command from the SIM)
    payload: bytes
    at: datetime


async def record_received(session: AsyncSession, batch: list[MoDatagram]) -> list[IpCommand | WirelessCommand]:
    """Store a batch of commands from SIMs and queue their fleet webhooks; unknown IMSIs are skipped."""
    sims = await repo.sims_by_imsi(session, (datagram.imsi for datagram in batch))
    stored: list[IpCommand | WirelessCommand] = []
    for datagram in batch:
        found = sims.get(datagram.imsi)
        if found is None:
            continue  # an IMSI no account holds: a session the AAA would not have granted
        sim, fleet = found
        if sim.product == wireless_commands.PRODUCT:  # a Wireless Command over IP, to the Sim's commands URL
            stored.append(wireless_commands.record_received_ip(session, sim, datagram.payload, datagram.at))
            continue
        assert sim.account_sid is not None  # sims_by_imsi returns claimed SIMs only
        command = IpCommand(
            sid=new_sid(Prefix.IP_COMMAND),
            account_sid=sim.account_sid,
            sim_sid=sim.sid,
            sim_iccid=sim.iccid,
            status=rules.RECEIVED,
            direction=rules.FROM_SIM,
            device_ip=datagram.device_ip,
            device_port=datagram.device_port,
            payload_type="binary",
            payload=rules.encode_received(datagram.payload),
            date_created=datagram.at,
            date_updated=datagram.at,
        )
        repo.add(session, command)
        command_outcome("ip", rules.FROM_SIM, rules.RECEIVED)
        if fleet is not None and fleet.ip_commands_url:
            notify(session, command, fleet.ip_commands_url, fleet.ip_commands_method, sim.unique_name)
        stored.append(command)
    await session.flush()
    return stored


class InboundIpCommands:
    """The queue between the user plane and the database, and the task that empties it (a component)."""

    def __init__(self, ctx: PlatformContext, *, max_queue: int = 20_000, max_batch: int = 500) -> None:
        self.ctx = ctx
        self.max_queue = max_queue
        self.max_batch = max_batch
        self.recorded = 0
        self.dropped = 0  # queue full, or a batch the database refused three times
        self._queue: asyncio.Queue[MoDatagram] = asyncio.Queue(max_queue)
        self._task: asyncio.Task[None] | None = None

    def offer(self, imsi: str, device_ip: str, device_port: int, payload: bytes) -> bool:
        """Take one datagram without waiting; False if it was dropped because the queue is full."""
        try:
            self._queue.put_nowait(MoDatagram(imsi, device_ip, device_port, payload, self.ctx.clock()))
        except asyncio.QueueFull:
            self.dropped += 1
            return False
        return True

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="inbound-ip-commands")

    async def stop(self, timeout: float = 5.0) -> None:
        """Store what is queued (bounded wait), then end the writer."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[MoDatagram]) -> None:
        for attempt in range(3):
            try:
                async with self.ctx.sessions() as session, session.begin():
                    stored = await record_received(session, batch)
            except Exception:
                log.exception("storing %d IP Commands from SIMs failed (attempt %d)", len(batch), attempt + 1)
                await asyncio.sleep(0.2 * 2**attempt)
                continue
            self.recorded += len(stored)
            if stored:
                self.ctx.wake_workers()
            return
        self.dropped += len(batch)
