"""The AAA component: RADIUS authentication and accounting servers over the policy cache, the group-commit
writer, the disconnector and the poller, started and stopped together by the platform.

Start order matters: the live sessions and their SIMs' snapshots (with a bounded cache; every SIM's without one)
are loaded before the ports open; a SIM not loaded at start is loaded when it is first used (on_demand.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from cellplane.services import data_sessions, network_policy
from cellplane.services.context import PlatformContext
from cellplane.store.notify import POLICY_KINDS, ChangeListener, listen_dsn

from . import metrics
from .config import AaaConfig
from .core import AaaCore
from .disconnect import Disconnector
from .dispatcher import Address, RadiusEndpoint
from .handlers import abandon, acct_table, acknowledge, auth_table
from .on_demand import OnDemandLoader
from .refresher import PolicyRefresher
from .slices import PoolSlices, default_slice
from .writer import AccountingWriter

log = logging.getLogger("cellplane.aaa")

HOOK = "sims_status_changed"  # services.sims.STATUS_CHANGED_MANY: a batch of SIMs at a time
# services/things.update: a Thing's services, locked address or group changed (re-read it once committed).
THING_HOOK = "thing_changed"
RESET_HOOK = "sim_reset"  # services/wireless_sims.complete_reset: end the SIM's sessions, it re-attaches


class AaaServer:
    """RADIUS AAA on `config.host`: authentication on `auth_port`, accounting on `acct_port` (0 picks free ports)."""

    def __init__(self, ctx: PlatformContext, config: AaaConfig) -> None:
        self.ctx = ctx
        self.config = config
        self.core = AaaCore(config, ctx.clock)
        self.writer = AccountingWriter(
            ctx.sessions,
            lambda: self.core.policies.by_imsi,
            self.core.apply_effects,
            acknowledge,
            abandon,
            ctx.clock,
            announce=self.core.announce_stamp,
            linger=config.batch_linger,
            batch_max=config.batch_max,
            event_interval=config.event_flush_interval,
        )
        self.disconnector = Disconnector(config, self.core.record_session_event, self.core.session_gone, ctx.clock)
        self.refresher = PolicyRefresher(self.core, ctx.sessions, ctx.clock)
        self.core.record_event = self.writer.add_event
        self.core.submit_record = lambda record: self.writer.submit(record, None)
        self.core.disconnect = self.disconnector.disconnect
        self.core.reset_session = self.disconnector.reset
        self.core.change_rate = self.disconnector.change_rate
        self.core.reload_imsis = self.refresher.reload
        if config.cache_sims > 0:
            self.core.on_demand = OnDemandLoader(self.refresher.load_imsis, self.core.loaded, config.batch_max)
        self.auth: RadiusEndpoint | None = None
        self.acct: RadiusEndpoint | None = None
        self._transports: list[asyncio.BaseTransport] = []
        self.listener: ChangeListener | None = None
        self.slices = PoolSlices(
            self.core.pool,
            ctx.sessions,
            node_id=config.node_id,
            slice_prefix=config.ue_ip_pool_slice or default_slice(config.ue_ip_pool),
            lease_seconds=config.ue_ip_pool_lease,
        )
        self.core.allocated = self.slices.low
        self.slices.closed = self.core.closed_elsewhere

    @property
    def auth_address(self) -> Address:
        assert self.auth is not None
        return self.auth.address

    @property
    def acct_address(self) -> Address:
        assert self.acct is not None
        return self.acct.address

    async def start(self) -> None:
        now = self.ctx.clock()
        since = now - timedelta(seconds=self.config.poll_interval)
        recent = since - timedelta(seconds=self.config.poll_overlap)
        async with self.ctx.sessions() as session:
            live = await data_sessions.load_open_sessions(session)
            if self.core.on_demand is None:
                policies = await network_policy.load_all(session, now, self.refresher.versions, recent)
            else:
                # Only what must be known before the first request: the SIMs with an open session, and the Things.
                policies = await network_policy.load_things(session, now)
                found = await network_policy.load_imsis(session, {s.imsi for s in live if s.imsi}, now)
                policies.update({imsi: policy for imsi, policy in found.items() if policy is not None})
        self.core.load(policies, live)
        # Our slice of the UE pool, after the open sessions are held (theirs stay taken in it).
        await self.slices.start()
        # The cache is long-lived and large (a snapshot per SIM): move everything alive now out of the cyclic
        # collector's reach, so full collections stop walking it over and over under load (they cost the Access
        # path ~20 us a request in bench/network.py before). Objects made later are collected as usual.
        gc.freeze()
        self.writer.start()
        self.refresher.start(since=since)
        # Other nodes' writes, at once (the poll just started covers anything sent before this listens).
        dsn = listen_dsn(self.ctx.engine)
        if dsn is not None:
            self.listener = ChangeListener(dsn, self.refresher.reload_named, self.refresher.poll, kinds=POLICY_KINDS)
            await self.listener.start()
        self.ctx.hooks.setdefault(HOOK, []).append(self.core.on_sims_status_changed)
        self.ctx.hooks.setdefault(RESET_HOOK, []).append(self.core.on_sim_reset)
        self.ctx.hooks.setdefault(THING_HOOK, []).append(self.core.on_thing_changed)
        loop = asyncio.get_running_loop()
        clients = self.config.clients
        require = self.config.require_message_authenticator
        self.auth = RadiusEndpoint(
            auth_table(self.core),
            clients,
            self.core.recent,
            metrics.RECEIVED_AUTH,
            require_message_authenticator=require,
        )
        self.acct = RadiusEndpoint(acct_table(self.core, self.writer), clients, self.core.recent, metrics.RECEIVED_ACCT)
        for endpoint, port in ((self.auth, self.config.auth_port), (self.acct, self.config.acct_port)):
            transport, _ = await loop.create_datagram_endpoint(_factory(endpoint), local_addr=(self.config.host, port))
            self._transports.append(transport)
            _grow_buffers(transport.get_extra_info("socket"), self.config.socket_buffer)
        log.info(
            "AAA on %s (auth) and %s (accounting): %d SIM policies, %d live sessions",
            self.auth_address,
            self.acct_address,
            len(policies),
            len(live),
        )

    async def stop(self) -> None:
        for name, hook in (
            (HOOK, self.core.on_sims_status_changed),
            (RESET_HOOK, self.core.on_sim_reset),
            (THING_HOOK, self.core.on_thing_changed),
        ):
            hooks = self.ctx.hooks.get(name, [])
            if hook in hooks:
                hooks.remove(hook)
        # Stop taking requests, answer the accounting already queued, then close the ports.
        for endpoint in (self.auth, self.acct):
            if endpoint is not None:
                endpoint.accepting = False
        if self.listener is not None:
            await self.listener.stop()
        await self.refresher.stop()
        if self.core.on_demand is not None:
            await self.core.on_demand.stop()
        await self.disconnector.close()
        await self.writer.stop()
        await self.slices.stop()  # after the last accounting: its sessions hold their addresses in the database
        for transport in self._transports:
            transport.close()
        self._transports.clear()


def _factory(endpoint: RadiusEndpoint) -> Callable[[], RadiusEndpoint]:
    return lambda: endpoint


def _grow_buffers(sock: Any, size: int) -> None:
    """Room for bursts: a NAS (or radclient -p) sends hundreds of requests at once, answered together after
    a group commit; the kernel's default ~200 KB holds only ~160 small datagrams (capped by net.core.rmem_max)."""
    if sock is None or size <= 0:
        return
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, option, size)
