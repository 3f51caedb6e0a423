"""One handler per RADIUS message the AAA serves, and the dispatch table of each port.

- Access-Request (RFC 2865 §4.1, TS 29.061 §16.4.1) -> Access-Accept with the SIM's Framed-IP-Address, or
  Access-Reject with Reply-Message "<code> <reason>" (docs/NETWORK.md), decided from memory.
- Accounting-Request (RFC 2866 §4.1) -> queued for the group commit; answered once durable.

A request for a SIM the bounded policy cache does not hold waits for its snapshot (on_demand.py), marked pending
meanwhile so that a retransmission is not processed twice; if the load fails it is forgotten and not answered.
- Status-Server (RFC 5997 §3) -> Access-Accept on the authentication port, Accounting-Response on the
  accounting port: "I am alive" to a NAS's watchdog.
"""

from __future__ import annotations

import asyncio
import logging
import time

from cellplane.protocols.radius import Code, Value, build_response
from cellplane.services.accounting_records import AccountingRecord

from . import metrics
from .attributes import Attach, accounting_of, attach_of
from .core import AaaCore, failure_reason
from .dispatcher import Handler, Request
from .writer import AccountingWriter

log = logging.getLogger("cellplane.aaa")

# A NAS that outruns the database this far gets no new accounting accepted (it retransmits later).
MAX_BACKLOG = 100_000


class AccessRequestHandler:
    def __init__(self, core: AaaCore) -> None:
        self.core = core

    def __call__(self, request: Request) -> bytes | None:
        attach = attach_of(request.packet.attributes)
        if self.core.cached(attach.imsi):
            return self.decide(request, attach)
        assert attach.imsi is not None
        self.core.recent.pending(request.key, time.monotonic())
        self.core.fetch(attach.imsi).add_done_callback(lambda loaded: self._loaded(request, attach, loaded))
        return None

    def _loaded(self, request: Request, attach: Attach, loaded: asyncio.Future[bool]) -> None:
        if not loaded.result():
            request.endpoint.recent.forget(request.key)
            return
        try:
            response = self.decide(request, attach)
        except Exception:
            log.exception("Access-Request after a policy load failed; packet dropped")
            metrics.DROP_ERROR.inc()
            request.endpoint.recent.forget(request.key)
            return
        request.reply(response)

    def decide(self, request: Request, attach: Attach) -> bytes:
        packet = request.packet
        decision, policy, address = self.core.attach(attach)
        failed = decision.accepted and address is None
        if decision.accepted and address is not None and policy is not None:
            metrics.ATTACH_ACCEPTED.inc()
            # Class (RFC 2865 §5.25) is echoed in accounting: the SIM it was granted to.
            attributes: list[tuple[str, Value]] = [("Framed-IP-Address", address), ("Class", policy.sim_sid.encode())]
            if policy.things_network_sid is not None:
                # A Thing's session belongs to its Network's routing domain (docs/NETWORK.md).
                attributes.append(("Cellplane-Routing-Domain", policy.things_network_sid))
            if decision.throttled:
                # Attached already at its rate plan's limit with DataLimitStrategy throttle: slow from the start.
                rate = self.core.config.throttle_rate
                attributes += [("WISPr-Bandwidth-Max-Up", rate), ("WISPr-Bandwidth-Max-Down", rate)]
            response = build_response(packet, Code.ACCESS_ACCEPT, attributes, request.secret)
        else:
            metrics.attach_rejected(decision.code)
            message = decision.reply_message or failure_reason(policy)
            response = build_response(packet, Code.ACCESS_REJECT, [("Reply-Message", message)], request.secret)
        self.core.attach_event(attach, decision, policy, address, failed)
        return response


class AccountingRequestHandler:
    def __init__(self, core: AaaCore, writer: AccountingWriter) -> None:
        self.core = core
        self.writer = writer

    def __call__(self, request: Request) -> None:
        if self.writer.backlog >= MAX_BACKLOG:
            metrics.DROP_OVERLOAD.inc()
            return
        try:
            record = accounting_of(request.packet.attributes, request.source[0])
        except ValueError:
            metrics.DROP_INVALID.inc()
            return
        metrics.accounting(record.kind if record is not None else "other")
        self.core.recent.pending(request.key, time.monotonic())
        if record is None or not record.imsi or self.core.cached(record.imsi):
            self.writer.submit(record, request)
            return
        self.core.fetch(record.imsi).add_done_callback(lambda loaded: self._loaded(record, request, loaded))

    def _loaded(self, record: AccountingRecord, request: Request, loaded: asyncio.Future[bool]) -> None:
        """The SIM's snapshot is cached: queue the record (one of a SIM's records that waited together keep their
        order). The load failed: forget the request, the NAS retransmits it."""
        if loaded.result():
            self.writer.submit(record, request)
        else:
            request.endpoint.recent.forget(request.key)


def acknowledge(requests: list[Request]) -> None:
    """Answer accounting requests whose batch committed (RFC 2866 §4.2: only once the record is stored)."""
    now = time.monotonic()  # one clock read for the batch: its answers leave together
    for request in requests:
        response = build_response(request.packet, Code.ACCOUNTING_RESPONSE, (), request.secret)
        request.endpoint.send(request.key, response, request.source, now)


def abandon(requests: list[Request]) -> None:
    """Their batch failed: forget them, so that the NAS's retransmissions are processed afresh."""
    for request in requests:
        request.endpoint.recent.forget(request.key)


class StatusServerHandler:
    def __init__(self, answer: Code) -> None:
        self.answer = answer

    def __call__(self, request: Request) -> bytes:
        return build_response(request.packet, self.answer, [], request.secret)


def auth_table(core: AaaCore) -> dict[int, Handler]:
    return {
        Code.ACCESS_REQUEST: AccessRequestHandler(core),
        Code.STATUS_SERVER: StatusServerHandler(Code.ACCESS_ACCEPT),
    }


def acct_table(core: AaaCore, writer: AccountingWriter) -> dict[int, Handler]:
    return {
        Code.ACCOUNTING_REQUEST: AccountingRequestHandler(core, writer),
        Code.STATUS_SERVER: StatusServerHandler(Code.ACCOUNTING_RESPONSE),
    }
