"""The webhook client resolves names itself, checks every address, and connects to the address it checked: a real
receiver on 127.0.0.1 is reached under its name (Host header kept) only when the policy allows loopback."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator

import httpx
import pytest

from cellplane.domain.callback_targets import Address, RefusedTarget, TargetPolicy
from cellplane.jobs.webhook_transport import guarded_client, parse_pins, system_resolver
from tests.support.webhooks import WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hooks = WebhookReceiver(auth_token="unused").start()
    try:
        yield hooks
    finally:
        hooks.stop()


def resolver_of(*answers: str):  # type: ignore[no-untyped-def]
    """An injected resolver: every name answers these addresses (as a rebinding DNS server would)."""

    async def resolve(host: str, port: int) -> list[Address]:
        return [ipaddress.ip_address(a) for a in answers]

    return resolve


def post(policy: TargetPolicy, url: str, *answers: str) -> httpx.Response:
    async def go() -> httpx.Response:
        async with guarded_client(policy, timeout=5, resolver=resolver_of(*answers)) as client:
            return await client.post(url, data={"Status": "sent"})

    return asyncio.run(go())


def test_a_name_resolving_to_loopback_is_refused_before_any_connection(receiver: WebhookReceiver) -> None:
    port = receiver.url.rsplit(":", 1)[1]
    with pytest.raises(RefusedTarget, match="loopback"):
        post(TargetPolicy(), f"http://hooks.example:{port}/x", "127.0.0.1")
    # One internal answer among public ones refuses the name: the connection could go to any of them.
    with pytest.raises(RefusedTarget, match="link-local"):
        post(TargetPolicy(), f"http://hooks.example:{port}/x", "93.184.215.14", "169.254.169.254")
    assert receiver.received == []


def test_an_allowed_name_reaches_the_checked_address_under_its_own_host(receiver: WebhookReceiver) -> None:
    port = int(receiver.url.rsplit(":", 1)[1])
    response = post(TargetPolicy(allow_private=True), f"http://hooks.example:{port}/x", "127.0.0.1")
    assert response.status_code == 200
    [hook] = receiver.received
    assert hook.url == f"http://hooks.example:{port}/x"  # built from the Host header the receiver got
    # The platform's own ports stay closed, even in a lab.
    with pytest.raises(RefusedTarget, match="own listeners"):
        post(TargetPolicy(allow_private=True, own_ports={port}), f"http://hooks.example:{port}/x", "127.0.0.1")


def test_pins_and_literals_resolve_without_dns() -> None:
    resolve = system_resolver(parse_pins("Receiver.Test=127.0.0.1, other.test=::1"))
    assert asyncio.run(resolve("receiver.test.", 80)) == [ipaddress.ip_address("127.0.0.1")]
    assert asyncio.run(resolve("0x7f000001", 80)) == [ipaddress.ip_address("127.0.0.1")]
    with pytest.raises(ValueError, match="name=address"):
        parse_pins("receiver.test")


def test_a_connection_to_this_machine_is_known_by_its_two_ends(receiver: WebhookReceiver) -> None:
    """How the sender knows a public address is its own (API on 0.0.0.0): both ends of the connection share it."""
    import httpcore

    from cellplane.jobs.webhook_transport import _is_this_machine

    port = int(receiver.url.rsplit(":", 1)[1])

    async def go() -> bool:
        stream = await httpcore.AnyIOBackend().connect_tcp("127.0.0.1", port, timeout=5)
        try:
            return _is_this_machine(stream)
        finally:
            await stream.aclose()

    assert asyncio.run(go()) is True
