"""Create Session Request -> ask the AAA, allocate TEIDs and the address, answer (TS 29.274 §7.2.1, §7.2.2).

Acceptance: the PGW's control and user-plane F-TEIDs and the PAA carrying the AAA's Framed-IP-Address,
then Accounting Start. Refusal: "User authentication failed" (TS 29.061 §16.3.1) with the AAA's
Reply-Message, "<platform code> <reason>", in our Private Extension IE (protocols/gtp/private.py), so that
the device's side can show why; a third-party SGW ignores the extension and still sees a standard cause.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

from cellplane.protocols.gtp import (
    Cause,
    CreateSessionRequest,
    CreateSessionResponse,
    Fteid,
    GtpcMessage,
    InterfaceType,
    PdnType,
)
from cellplane.protocols.gtp import private as gtp_private

from .. import codec
from ..aaa import AaaLink
from ..manager import SessionManager
from ..sessions import DEFAULT_DOMAIN, AddressPool, Session
from ..sgi import SgiPort

GTPU_PORT = 2152  # TS 29.281 §4.4.2.0: where a GTP-U peer listens, unless it told us otherwise


class CreateSessionHandler:
    def __init__(
        self,
        manager: SessionManager,
        aaa: AaaLink,
        pool: AddressPool,
        host: str,
        recovery: int,
        domains: dict[str, SgiPort] | None = None,
    ) -> None:
        self._domains = domains if domains is not None else {}  # the gateway's, kept current by it
        self._manager = manager
        self._aaa = aaa
        self._pool = pool
        self._host = host
        self._recovery = recovery
        # Asked for a domain the AAA named that is not here yet (a Things Network's, made on first need); it returns
        # once the domain exists, or cannot.
        self.missing_domain: Callable[[str], Awaitable[None]] | None = None

    def _refuse(self, request: CreateSessionRequest, cause: int, reason: str | None) -> CreateSessionResponse:
        return CreateSessionResponse(
            seq=request.seq,
            teid=request.sender_fteid.teid,
            cause=cause,
            recovery=self._recovery,
            private_extension=gtp_private.reason_extension(reason) if reason else None,
        )

    async def __call__(self, message: GtpcMessage, peer: tuple[str, int]) -> GtpcMessage | None:
        assert isinstance(message, CreateSessionRequest)
        request = message
        if request.pdn_type not in (PdnType.IPV4, PdnType.IPV4V6):
            # TS 29.274 §8.4: the gateway allocates IPv4 addresses only.
            return self._refuse(request, Cause.PREFERRED_PDN_TYPE_NOT_SUPPORTED, "only IPv4 PDN connections")
        if request.bearer_fteid.ipv4 is None or request.sender_fteid.ipv4 is None:
            return self._refuse(request, Cause.MANDATORY_IE_INCORRECT, "the SGW F-TEIDs need IPv4 addresses")
        decision = await self._aaa.authorize(request)
        if not decision.accepted:
            return self._refuse(request, decision.cause, decision.reason)
        table = self._manager.table
        domain = decision.domain or DEFAULT_DOMAIN
        port = self._domains.get(domain)
        if port is None and self._domains and self.missing_domain is not None:
            await self.missing_domain(domain)
            port = self._domains.get(domain)
        if port is None and self._domains:
            # The data plane runs, and the AAA named a domain it has not made (yet): no session without its SGi.
            return self._refuse(request, Cause.NO_RESOURCES_AVAILABLE, f"routing domain {domain} is not available")
        address = decision.ue_ip or self._pool.take(table.by_ue_ip)
        if address is None:
            return self._refuse(request, Cause.ALL_DYNAMIC_ADDRESSES_ARE_OCCUPIED, "address pool exhausted")
        ue_key = int(ipaddress.IPv4Address(address))
        # Addresses are unique within a domain, not across them (two private networks may share a CIDR).
        holder = port.sessions.get(ue_key) if port is not None else table.by_ue_ip.get(address)
        if holder is not None and holder.imsi != request.imsi:
            return self._refuse(request, Cause.NO_RESOURCES_AVAILABLE, f"address {address} is in use by another SIM")
        acct_session_id, charging_id = table.new_accounting_ids()
        control_teid = table.new_teid()
        user_teid = control_teid
        while user_teid == control_teid:
            user_teid = table.new_teid()
        gtpu_port = gtp_private.gtpu_port_of(request.private_extension) or GTPU_PORT
        session = Session(
            imsi=request.imsi,
            ue_ip=address,
            apn=request.apn,
            ebi=request.ebi,
            control_teid=control_teid,
            user_teid=user_teid,
            sgw_control_teid=request.sender_fteid.teid,
            sgw_user_teid=request.bearer_fteid.teid,
            # TS 29.274 §4.2: we send our requests where the SGW's came from (its control endpoint).
            sgw_control=peer,
            sgw_user=(request.bearer_fteid.ipv4, gtpu_port),
            acct_session_id=acct_session_id,
            charging_id=charging_id,
            imei=request.mei,
            msisdn=request.msisdn,
            mcc_mnc=request.serving_network.code if request.serving_network else None,
            rat_type=int(request.rat_type),
            location=codec.location_info(request.uli),
            classes=decision.classes,
            domain=domain,
            sgi=port,
            ue_key=ue_key,
        )
        if decision.rate_up or decision.rate_down:
            session.limit(decision.rate_up, decision.rate_down)  # attached at its limit: throttled from the start
        self._manager.open(session, decision.session_timeout)
        return CreateSessionResponse(
            seq=request.seq,
            teid=request.sender_fteid.teid,
            cause=Cause.REQUEST_ACCEPTED,
            pgw_fteid=Fteid(InterfaceType.S5S8_PGW_GTPC, control_teid, self._host),
            bearer_fteid=Fteid(InterfaceType.S5S8_PGW_GTPU, user_teid, self._host),
            paa_ipv4=address,
            ebi=request.ebi,
            recovery=self._recovery,
        )
