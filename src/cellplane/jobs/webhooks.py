"""Job handler: deliver one webhook (form-encoded, signed), recording every attempt.

At least once: the delivery row is marked delivered only after a 2xx; anything else (an error
status, a timeout, a refused connection) records the attempt and asks the runner to retry later.
Receivers dedupe with `kore-idempotency-token`, which is the same on every attempt.

In order per resource: a delivery whose resource (an eSIM profile, a command, a SIM) has an older delivery still
waiting for its first attempt waits for it, so that `reserving` never arrives after `failed` because two jobs ran
at once. Once the older one has failed an attempt, the newer no longer waits: a receiver that is down for a while
must not hold back every later event behind retries that can last minutes.

A target the callback policy refuses (domain/callback_targets.py: by its URL, or by what its name resolves to when
the client connects, jobs/webhook_transport.py) fails the delivery at once with the neutral error REFUSED and no
timing, so that the recorded outcome of a callback never tells what answers inside the platform's network.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cellplane.domain.callback_targets import RefusedTarget, TargetPolicy
from cellplane.domain.callbacks import carries_body
from cellplane.domain.signatures import kore_signature, twilio_signature
from cellplane.jobs.runner import NotYet, RetryLater
from cellplane.services.context import PlatformContext
from cellplane.services.metrics import WEBHOOK_ATTEMPTS, WEBHOOK_ATTEMPTS_PER_DELIVERY, WEBHOOK_DELIVERIES
from cellplane.store.models import WebhookAttempt, WebhookDelivery
from cellplane.store.models.base import utcnow
from cellplane.store.repositories.accounts import auth_token_of

log = logging.getLogger("cellplane.webhooks")
FailureHook = Callable[[AsyncSession, WebhookDelivery], Awaitable[None]]
# How long a delivery waits for an older one of its resource (a lost older job must not hold it forever).
ORDER_WAIT = timedelta(seconds=30)
REFUSED = "refused target: the callback URL's host is not an allowed callback target"


class WebhookSender:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        max_attempts: int = 8,
        timeout: float = 10.0,
        targets: TargetPolicy | None = None,
    ) -> None:
        self.client = client
        self.targets = targets or TargetPolicy()
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.on_final_failure: list[FailureHook] = []

    async def __call__(self, ctx: PlatformContext, payload: dict[str, Any]) -> None:
        async with ctx.sessions() as session:
            delivery = await session.get(WebhookDelivery, str(payload["delivery_sid"]))
            if delivery is None or delivery.status == "delivered":
                return
            waited = utcnow() - delivery.date_created
            if delivery.attempts == 0 and waited < ORDER_WAIT and await _older_first_attempt_waiting(session, delivery):
                raise NotYet(f"an older delivery for {delivery.resource_sid} goes first")
            token = await auth_token_of(session, delivery.account_sid) or ""
        started = time.monotonic()
        status_code: int | None = None
        error: str | None = None
        refused = False
        try:
            self.targets.check_url(delivery.url)  # a URL stored before the API checked it, or a policy now stricter
            response = await self.client.send(build_request(delivery, token))
            status_code = response.status_code
            await response.aclose()
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except RefusedTarget as exc:
            log.warning("webhook %s not sent: %s (%s)", delivery.sid, exc.reason, urlsplit(delivery.url).hostname)
            error, refused = REFUSED, True
        except httpx.InvalidURL:  # not an HTTPError: a URL the client cannot send to will never be sendable
            error, refused = "invalid callback URL", True
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        elapsed = 0 if refused else int((time.monotonic() - started) * 1000)
        async with ctx.sessions() as session, session.begin():
            current = await session.get(WebhookDelivery, delivery.sid)
            assert current is not None
            current.attempts += 1
            current.last_status_code = status_code
            current.last_error = error
            session.add(
                WebhookAttempt(
                    delivery_sid=current.sid,
                    attempt=current.attempts,
                    status_code=status_code,
                    error=error,
                    duration_ms=elapsed,
                )
            )
            if error is None:
                current.status = "delivered"
            elif refused or current.attempts >= self.max_attempts:
                current.status = "failed"  # a refused target is final: trying again would only probe it again
                for hook in self.on_final_failure:
                    await hook(session, current)
            attempts, final = current.attempts, current.status
        _count_attempt(status_code, final, attempts)
        if error is not None and not refused and delivery.attempts + 1 < self.max_attempts:
            raise RetryLater(error)


async def _older_first_attempt_waiting(session: AsyncSession, delivery: WebhookDelivery) -> bool:
    """Whether an older delivery to the same resource and URL has not had its first attempt yet."""
    if delivery.resource_sid is None:
        return False
    older = await session.scalar(
        select(WebhookDelivery.sid)
        .where(
            WebhookDelivery.resource_sid == delivery.resource_sid,
            WebhookDelivery.url == delivery.url,
            WebhookDelivery.status == "pending",
            WebhookDelivery.attempts == 0,
            WebhookDelivery.date_created < delivery.date_created,
        )
        .limit(1)
    )
    return older is not None


def _count_attempt(status_code: int | None, final: str, attempts: int) -> None:
    """Metrics of one attempt (and of the delivery, when this attempt ended it): services/metrics.py."""
    if status_code is None:
        WEBHOOK_ATTEMPTS.child("transport_error", "none").inc()
    else:
        ok = 200 <= status_code < 300
        WEBHOOK_ATTEMPTS.child("ok" if ok else "http_error", f"{status_code // 100}xx").inc()
    if final in ("delivered", "failed"):
        WEBHOOK_DELIVERIES.child(final).inc()
        WEBHOOK_ATTEMPTS_PER_DELIVERY.observe((final,), attempts)


def build_request(delivery: WebhookDelivery, auth_token: str) -> httpx.Request:
    """The signed HTTP request for one delivery, with the delivery's method (domain/callbacks.py): a form body for
    POST, PUT and PATCH; the parameters in the query string for GET, HEAD and DELETE, signed as the platform signs
    a GET (the full URL with its query, no parameters)."""
    params = {name: str(value) for name, value in delivery.params.items()}
    method = (delivery.method or "POST").upper()
    headers = {
        "User-Agent": "cellplane-webhook/1",
        "I-Twilio-Idempotency-Token": delivery.idempotency_token,
        "kore-idempotency-token": delivery.idempotency_token,
    }
    # Sign the URL as it is requested: an empty path goes out as "/", and the receiver validates with that.
    parts = urlsplit(delivery.url)
    target = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, parts.fragment))
    if not carries_body(method):
        query = "&".join(filter(None, [parts.query, urlencode(params)]))
        url = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, parts.fragment))
        headers["X-Twilio-Signature"] = twilio_signature(auth_token, url, {})
        headers["kore-signature"] = kore_signature(auth_token, method, url, b"")
        return httpx.Request(method, url, headers=headers)
    body = urlencode(params).encode()
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    headers["X-Twilio-Signature"] = twilio_signature(auth_token, target, params)
    headers["kore-signature"] = kore_signature(auth_token, method, target, body)
    return httpx.Request(method, target, headers=headers, content=body)
