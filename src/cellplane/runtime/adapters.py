"""Adapters between components that must not import each other: the gateway as the commands' transport,
its uplink hook feeding the inbound commands queue, a second job runner as a component, and the retention
schedule made sure of at start-up."""

from __future__ import annotations

from collections.abc import Callable

from cellplane.jobs.runner import JobRunner
from cellplane.network.gateway import Gateway, Session
from cellplane.services import retention
from cellplane.services.context import PlatformContext
from cellplane.services.inbound_ip_commands import InboundIpCommands
from cellplane.services.transport import DeliveryOutcome, IpDelivery
from cellplane.store.notify import ALL, JOB, ChangeListener, listen_dsn


class GatewayTransport:
    """CommandTransport over the in-process gateway: one IPv4/UDP datagram into the SIM's GTP-U tunnel.

    The source port is the device port: a device answers to where a command came from, and anything it
    sends to 100.64.0.1 is an IP Command from the SIM whatever the port (seed: "Any IP message sent to
    this address by your device will be treated as an IP Command").
    """

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def send_ip(self, imsi: str, device_port: int, payload: bytes) -> IpDelivery:
        session = self.gateway.session(imsi)
        if session is None or not self.gateway.send_to_device(imsi, device_port, device_port, payload):
            return IpDelivery(DeliveryOutcome.NOT_ATTACHED)
        return IpDelivery(DeliveryOutcome.SENT, session.ue_ip)


def uplink_hook(inbound: InboundIpCommands) -> Callable[[Session, int, int, bytes], None]:
    """The gateway's on_mo_datagram: hand the datagram to the inbound queue, never waiting."""

    def on_mo_datagram(session: Session, src_port: int, dst_port: int, payload: bytes) -> None:
        inbound.offer(session.imsi, session.ue_ip, src_port, payload)

    return on_mo_datagram


class RunnerComponent:
    """A JobRunner started and stopped with the other components."""

    def __init__(self, runner: JobRunner) -> None:
        self.runner = runner

    async def start(self) -> None:
        self.runner.start()

    async def stop(self) -> None:
        await self.runner.stop()


class JobWakeups:
    """On PostgreSQL, a job added on another node wakes this node's runners at once (store/notify.py); their poll
    (every half second while they find work, every 2 s when idle: jobs/runner.py) stays the guarantee."""

    def __init__(self, ctx: PlatformContext) -> None:
        self.ctx = ctx
        dsn = listen_dsn(ctx.engine)
        self.listener = ChangeListener(dsn, self._woken, self._reconnected, kinds=frozenset({JOB})) if dsn else None

    async def _woken(self, keys: set[tuple[str, str]]) -> None:
        kinds = {kind for _, kind in keys}
        self.ctx.wake_workers(None if ALL in kinds else kinds)

    async def _reconnected(self) -> None:
        self.ctx.wake_workers()

    async def start(self) -> None:
        if self.listener is not None:
            await self.listener.start()

    async def stop(self) -> None:
        if self.listener is not None:
            await self.listener.stop()


class RetentionSchedule:
    """At start-up, make sure one retention purge job is scheduled (it then reschedules itself)."""

    def __init__(self, ctx: PlatformContext) -> None:
        self.ctx = ctx

    async def start(self) -> None:
        async with self.ctx.sessions() as session, session.begin():
            added = await retention.ensure_scheduled(session)
        if added:
            self.ctx.wake_workers()

    async def stop(self) -> None:
        pass
