"""The whole platform in one process: builds every component from Settings and runs them together."""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

from fastapi import FastAPI
from starlette.types import ASGIApp

from cellplane.api.app import create_app, serving_app
from cellplane.api.wire.auth import Authenticator
from cellplane.api.wire.guard import declare
from cellplane.api.wire.ratelimit import TokenBuckets
from cellplane.domain.ids import seed_sids
from cellplane.emulator import Emulator, EmulatorConfig, SimRecord
from cellplane.jobs.esim_profiles import advance_esim_profile, complete_settings_update
from cellplane.jobs.runner import JobRunner
from cellplane.jobs.sim_updates import complete_sim_update
from cellplane.jobs.webhook_transport import guarded_client, parse_pins, system_resolver
from cellplane.jobs.webhooks import WebhookSender
from cellplane.network.dataplane import DataPlane, DataPlaneConfig, DataPlaneMode, RoutingDomain, conntrack
from cellplane.network.gateway import Gateway, GatewayConfig
from cellplane.runtime.settings import Settings, admin_token, callback_policy
from cellplane.services.audit import AuditWriter
from cellplane.services.context import PlatformContext
from cellplane.services.esim_profiles import ESIM_PROFILE_JOB
from cellplane.services.outbox import WEBHOOK_JOB
from cellplane.services.settings_updates import SETTINGS_UPDATE_JOB
from cellplane.services.sims import SIM_UPDATE_JOB
from cellplane.services.things_bulk import BULK_JOB, default_bulk_chunk
from cellplane.services.things_bulk import run_batch as run_bulk_batch
from cellplane.store.db import make_engine, make_sessionmaker
from cellplane.store.direct import direct_reader
from cellplane.store.repositories import sims as sims_repository

if TYPE_CHECKING:
    from cellplane.network.things_vpn import ThingsVpn

log = logging.getLogger("cellplane")


class Component(Protocol):
    """A long-running piece of the platform (AAA, gateway, emulator ...)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Platform:
    """The platform's parts this process runs (Settings.roles: api, aaa, gateway, workers; default all of them)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        seed_sids(settings.seed)
        self.database_url = settings.resolved_database_url()
        self.engine = make_engine(self.database_url)
        loop_shared = settings.has_role("api")  # the API's requests share this process's event loop
        self.ctx = PlatformContext(
            sessions=make_sessionmaker(self.engine),
            engine=self.engine,
            direct=direct_reader(self.engine),
            sim_update_delay=settings.sim_update_delay,
            report_inline_lines=settings.billing_report_inline_lines,
            report_download_ttl=settings.billing_report_download_ttl,
            bulk_chunk=settings.bulk_chunk or default_bulk_chunk(self.engine.dialect.name, loop_shared),
            loop_shared=loop_shared,
        )
        self.callback_targets = callback_policy(settings)
        self.http = guarded_client(
            self.callback_targets,
            timeout=settings.webhook_timeout,
            resolver=system_resolver(parse_pins(settings.webhook_resolve)),
        )
        self.webhooks = WebhookSender(
            self.http,
            max_attempts=settings.webhook_max_attempts,
            timeout=settings.webhook_timeout,
            targets=self.callback_targets,
        )
        self.runner = JobRunner(
            self.ctx,
            {
                SIM_UPDATE_JOB: complete_sim_update,
                BULK_JOB: run_bulk_batch,
                WEBHOOK_JOB: self.webhooks,
                ESIM_PROFILE_JOB: advance_esim_profile,
                SETTINGS_UPDATE_JOB: complete_settings_update,
            },
            concurrency=settings.job_concurrency,
            backoff_base=settings.job_backoff_base,
            lease_seconds=settings.job_lease_seconds,
        )
        self.authenticator = Authenticator(
            self.ctx, rate_per_second=settings.rate_limit, burst=max(settings.rate_burst, 1.0)
        )
        self.token_limits = TokenBuckets(
            rate=settings.token_rate_limit, burst=max(settings.token_rate_burst, 1.0), policy="token"
        )
        self.audit = AuditWriter(self.ctx.sessions)
        self.components: list[Component] = self._build_components()
        self._wire_commands()
        self.app = self._build_app()
        self._wire_sms()
        # What the server runs: the edge (RateLimit headers, audit log), then hot endpoints ahead of FastAPI.
        self.asgi: ASGIApp = self.app
        if settings.has_role("api"):
            self.asgi = serving_app(self.app, self.audit, rate_headers=settings.rate_limit > 0)

    def _build_components(self) -> list[Component]:
        """The network elements, in start order (the AAA before the gateway that asks it)."""
        components: list[Component] = []
        # --- AAA (network/aaa) ---
        self.aaa: Component | None = None
        if self.settings.aaa_enabled:
            from cellplane.network.aaa import AaaConfig, AaaServer, parse_clients, parse_dae_targets

            self.aaa = AaaServer(
                self.ctx,
                AaaConfig(
                    host=self.settings.aaa_host,
                    auth_port=self.settings.aaa_auth_port,
                    acct_port=self.settings.aaa_acct_port,
                    clients=parse_clients(self.settings.radius_clients, self.settings.radius_secret),
                    ue_ip_pool=self.settings.ue_ip_pool,
                    ue_ip_pool_slice=self.settings.ue_ip_pool_slice,
                    ue_ip_pool_lease=self.settings.ue_ip_pool_lease,
                    lease_ttl=self.settings.ue_ip_lease_ttl,
                    node_id=self.settings.resolved_node_id(),
                    dae_port=self.settings.gateway_dae_port,
                    dae_targets=parse_dae_targets(self.settings.radius_dae_targets),
                    throttle_rate=max(0, self.settings.throttle_rate),
                    cache_sims=self.settings.aaa_cache_sims,
                ),
            )
            components.append(self.aaa)
        # --- data plane (network/dataplane): routing domains behind the gateway, when it runs here ---
        self.data_plane: DataPlane | None = None
        if self.settings.gateway_enabled:
            self.data_plane = self._data_plane()
            components.append(self.data_plane)
        # --- gateway (network/gateway) ---
        self.gateway: Gateway | None = None
        if self.settings.gateway_enabled:
            from cellplane.runtime.gateway_lease import GatewayLease

            # Held while the gateway runs: started before it, stopped (given back) after its Accounting-Stops.
            components.append(
                GatewayLease(
                    self.ctx,
                    self.settings.resolved_nas_identifier(),
                    self.settings.resolved_node_id(),
                    self.settings.gateway_lease,
                )
            )
            self.gateway = Gateway(
                GatewayConfig(
                    host=self.settings.gateway_host,
                    gtpc_port=self.settings.gtpc_port,
                    gtpu_port=self.settings.gtpu_port,
                    dae_port=self.settings.gateway_dae_port,
                    aaa_host=self.settings.aaa_host,
                    aaa_auth_port=self.settings.aaa_auth_port,
                    aaa_acct_port=self.settings.aaa_acct_port,
                    radius_secret=self.settings.radius_secret,
                    dae_clients=(self.settings.aaa_host,),
                    interim_interval=self.settings.gateway_interim_interval,
                    ue_ip_pool=self.settings.ue_ip_pool,
                    nas_identifier=self.settings.resolved_nas_identifier(),
                    seed=self.settings.seed,
                )
            )
            components.append(self.gateway)
            if self.data_plane is not None:
                gateway = self.gateway

                def hand_over(domain: RoutingDomain) -> None:
                    """The gateway's end of each new domain: its TUN."""
                    assert domain.tun_fd is not None
                    port = gateway.add_domain(domain.name, domain.tun_fd)
                    port.end_flows = functools.partial(conntrack.forget, domain.namespace)

                self.data_plane.on_domain.append(hand_over)
                self.data_plane.on_domain_removed.append(lambda domain: gateway.remove_domain(domain.name))
                components.append(self._things_domains(self.data_plane, gateway))
        # --- emulator (emulator/) ---
        self.emulator: Emulator | None = None
        if self.settings.emulator_enabled:
            self.emulator = Emulator(
                EmulatorConfig(
                    gateway_host=self.settings.gateway_host,
                    gateway_gtpc_port=self.settings.gtpc_port,
                    gateway_gtpu_port=self.settings.gtpu_port,
                    host=self.settings.gateway_host,
                    gtpc_port=self.settings.emulator_gtpc_port,
                    gtpu_port=self.settings.emulator_gtpu_port,
                    seed=self.settings.seed,
                ),
                sim_lookup=self._emulated_sim,
                # The emulated "internet": downlink traffic comes out of the gateway's tunnels.
                downlink_source=self.gateway.generate_downlink if self.gateway is not None else None,
            )
            components.append(self.emulator)
        return components

    def _things_domains(self, plane: DataPlane, gateway: Gateway) -> Component:
        """Every Things Network a routing domain of its own, its packet rules applied there (issue 17); a
        /things/v1 write wakes it (services.things_packets hook)."""
        from cellplane.network.dataplane.charon import missing as charon_missing
        from cellplane.network.things_domains import ThingsDomains
        from cellplane.services.things_packets import HOOK

        def live(name: str) -> dict[str, str]:
            """The gateway's sessions in domain `name`: address -> IMSI."""
            port = gateway.domains.get(name)
            if port is None:
                return {}
            return {session.ue_ip: session.imsi for session in list(port.sessions.values())}

        vpn = self._vpn()
        self.things_domains = ThingsDomains(self.ctx, plane, live, vpn)
        why_not = charon_missing() if vpn is None else None
        self.ctx.vpn_unavailable = lambda: f"the data plane is off: {plane.reason}" if not plane.enabled else why_not
        self.ctx.hooks.setdefault(HOOK, []).append(self.things_domains.wake)
        gateway.create_session.missing_domain = self.things_domains.ensure
        return self.things_domains

    def _vpn(self) -> ThingsVpn | None:
        """VPN tunnels where strongSwan's charon with kernel-libipsec is installed (issue 20); said when not."""
        from cellplane.network.dataplane import charon
        from cellplane.network.things_vpn import ThingsVpn

        why = charon.missing()
        if why is not None:
            log.warning("VPN tunnels off: %s", why)
            return None
        return ThingsVpn(self.ctx, charon.Timing.for_dpd(self.settings.vpn_dpd_seconds))

    def _data_plane(self) -> DataPlane:
        """Off, or on where this process may make namespaces (auto); DataPlaneUnavailable when `on` cannot be."""
        from cellplane.network.dataplane.config import new_instance, random_link_subnet

        settings = self.settings
        config = DataPlaneConfig(
            instance=settings.data_plane_instance or new_instance(),
            link_subnet=settings.data_plane_link_subnet or random_link_subnet(),
            link_subnet_random=settings.data_plane_link_subnet is None,
            default_pools=(settings.ue_ip_pool,),
            internet=settings.data_plane_internet,
        )
        return DataPlane(config, DataPlaneMode(settings.data_plane))

    def _wire_commands(self) -> None:
        # --- commands --- IP Commands both ways (issue 4), their callbacks, the 30-day retention purge.
        from cellplane.jobs.ip_commands import IpCommandDelivery
        from cellplane.jobs.retention import RetentionPurge
        from cellplane.runtime.adapters import (
            GatewayTransport,
            JobWakeups,
            RetentionSchedule,
            RunnerComponent,
            uplink_hook,
        )
        from cellplane.services import wireless_commands
        from cellplane.services.inbound_ip_commands import InboundIpCommands
        from cellplane.services.ip_command_outbox import IpCommandOutbox
        from cellplane.services.ip_commands import callback_failed
        from cellplane.services.retention import RETENTION_JOB

        self.ctx.command_delay = self.settings.ip_command_delay
        transport = GatewayTransport(self.gateway) if self.gateway is not None else None
        # Super SIM IP Commands: no job per command; the queued rows are the outbox, written and sent by one task
        # (app.state.ip_command_outbox for POST /IpCommands).
        # Several nodes on PostgreSQL: commands reach the gateway node holding the SIM's session through the database.
        routed = self.ctx.engine is not None and self.ctx.engine.dialect.name == "postgresql"
        self.ip_command_outbox = IpCommandOutbox(
            self.ctx, transport, route=routed, nas_id=self.settings.resolved_nas_identifier()
        )
        # Wireless Commands (issue 5) over IP: the same job and transport, the Wireless service's deliver.
        self.runner.handlers[wireless_commands.IP_JOB] = IpCommandDelivery(transport, wireless_commands.deliver_ip)
        self.runner.handlers[RETENTION_JOB] = RetentionPurge(self.settings.retention_interval)
        # Webhooks get workers of their own, so that slow or dead receivers never hold up command delivery.
        self.runner.handlers.pop(WEBHOOK_JOB, None)
        self.webhook_runner = JobRunner(
            self.ctx,
            {WEBHOOK_JOB: self.webhooks},
            concurrency=self.settings.webhook_concurrency,
            backoff_base=self.settings.job_backoff_base,
        )
        self.webhooks.on_final_failure += [callback_failed, wireless_commands.callback_failed]
        self.inbound_commands = InboundIpCommands(self.ctx)
        if self.gateway is not None:
            self.gateway.on_mo_datagram = uplink_hook(self.inbound_commands)
        # The inbound queue's writer runs before the gateway starts and stops after it (components stop reversed).
        self.components.insert(0, self.inbound_commands)
        if self.settings.has_role("workers"):
            from cellplane.jobs.gateway_sweep import GatewaySweep

            self.components += [RunnerComponent(self.webhook_runner), RetentionSchedule(self.ctx), JobWakeups(self.ctx)]
            self.components.append(GatewaySweep(self.ctx, self.settings.gateway_sweep_interval))
        # After the gateway and emulator (its start-up sweep sends through them), stopped before them.
        self.components.append(self.ip_command_outbox)

    def _wire_sms(self) -> None:
        # --- sms --- SMS Commands (issue 4): the SMS center and its delivery job; with the emulator, the devices'
        # SMS app as the center's radio leg, and its control API (/cellplane/v1/Emulator/Devices/{Iccid}/Sms).
        from cellplane.jobs.sms_commands import SmsCommandDelivery
        from cellplane.network.smsc import SmsCenter
        from cellplane.services import wireless_commands
        from cellplane.services.sms_commands import SMS_COMMAND_JOB

        self.smsc = SmsCenter(self.ctx)
        self.runner.handlers[SMS_COMMAND_JOB] = SmsCommandDelivery(self.smsc)
        # Wireless Commands (issue 5) as SMS: the same job and SMS center, the Wireless service's deliver.
        self.runner.handlers[wireless_commands.SMS_JOB] = SmsCommandDelivery(self.smsc, wireless_commands.deliver_sms)
        self.components.append(self.smsc)
        if self.emulator is not None:
            from cellplane.runtime.sms import connect_emulator, sms_router

            device_sms = connect_emulator(self.smsc, self.emulator)
            self.components.append(device_sms)  # stops before the center (components stop in reverse)
            self.app.include_router(sms_router(device_sms, self.ctx))

    async def _emulated_sim(self, iccid: str) -> SimRecord | None:
        """ICCID -> IMSI for the emulator, which never reads the store itself (it is the radio side)."""
        async with self.ctx.sessions() as session:
            sim = await sims_repository.by_iccid(session, iccid)
            return SimRecord(iccid=sim.iccid, imsi=sim.imsi, msisdn=sim.msisdn) if sim is not None else None

    def _build_app(self) -> FastAPI:
        if not self.settings.has_role("api"):
            return self._node_app()
        origins = tuple(o.strip() for o in self.settings.things_cors_origins.split(",") if o.strip())
        app = create_app(
            self.ctx,
            self.authenticator,
            admin_token(self.settings),
            telemetry=self.settings.otel,
            cors_origins=origins,
            callback_targets=self.callback_targets,
        )
        app.router.lifespan_context = self._lifespan
        app.state.ip_command_outbox = self.ip_command_outbox
        plane = self.data_plane
        app.state.data_plane_status = plane.status if plane is not None else None
        app.state.token_limits = self.token_limits
        # --- emulator API --- /cellplane/v1/Emulator (issue 3), only when the emulated network runs in-process.
        if self.emulator is not None:
            from cellplane.runtime.emulated import emulator_router, handover_router

            app.include_router(declare(emulator_router(self.emulator, self.ctx, self.gateway), "emulator"))
            app.include_router(handover_router(self.emulator))
            # Its eUICCs download and install eSIM profiles from the platform's SM-DP+ (Euiccs/{Eid}/Profiles).
            from cellplane.runtime.esim import esim_router

            app.include_router(declare(esim_router(self.ctx), "emulator"))
        # --- console --- /console (issue 19): pages for people; its live feed runs as a component.
        from cellplane.console import install as install_console

        lab = None
        if self.emulator is not None:
            from cellplane.runtime.console_lab import EmulatorLab

            lab = EmulatorLab(self.emulator, self.gateway)
        self.console = install_console(
            app, self.ctx, lab, session_seconds=self.settings.console_session_seconds, audit=self.audit
        )
        self.components.append(self.console)
        return app

    def _node_app(self) -> FastAPI:
        """Without the api role: /healthz and /metrics only, for probes and scrapers (docs/DEPLOY.md)."""
        from cellplane.api.health import router as health

        app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
        app.state.ctx = self.ctx
        app.include_router(health)
        app.router.lifespan_context = self._lifespan
        plane = self.data_plane
        app.state.data_plane_status = plane.status if plane is not None else None
        self.console = None
        return app

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    def stopping(self) -> None:
        """The server was asked to stop (a signal): end what would hold its connections open (console streams)."""
        if self.console is not None:
            self.console.feed.release()

    async def start(self) -> None:
        if self.settings.has_role("workers"):
            self.runner.start()
        for component in self.components:
            await component.start()
        # What start-up made (modules, the AAA's cache, the gateway's tables, routing domains) lives as long as the
        # process: out of the cyclic collector's reach, a full collection walks only what came later. Before, one
        # took 100-200 ms on this loop, every device packet of the gateway waiting behind it (bench/RESULTS.md,
        # Data plane).
        gc.collect()
        gc.freeze()

    async def stop(self) -> None:
        gc.unfreeze()
        for component in reversed(self.components):
            await component.stop()
        await self.audit.flush()
        await self.runner.stop()
        await self.http.aclose()
        if self.ctx.direct is not None:
            await self.ctx.direct.close()
        await self.engine.dispose()
