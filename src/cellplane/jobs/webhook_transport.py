"""The webhook sender's HTTP transport: it resolves each callback host itself, checks every address it gets
(domain/callback_targets.py), and connects to an address it checked, so a DNS answer cannot change between the
check and the connection (DNS rebinding). TLS still verifies and sends SNI for the URL's host name, and the Host
header is the URL's: httpcore asks the network backend for a TCP stream, then starts TLS with the origin's name.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import httpcore
import httpx

from cellplane.domain.callback_targets import Address, RefusedTarget, TargetPolicy, parse_host_address

Resolver = Callable[[str, int], Awaitable[list[Address]]]


def parse_pins(text: str) -> dict[str, Address]:
    """`CELLPLANE_WEBHOOK_RESOLVE`: "name=address,..." (curl's --resolve, without the port)."""
    pins: dict[str, Address] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        address = parse_host_address(value.strip())
        if not sep or not name.strip() or address is None:
            raise ValueError(f"webhook_resolve entry {item!r} is not name=address")
        pins[name.strip().lower().rstrip(".")] = address
    return pins


def system_resolver(pins: Mapping[str, Address] | None = None) -> Resolver:
    """getaddrinfo, after the pinned names; an address literal in any spelling is its own answer."""
    pinned = dict(pins or {})

    async def resolve(host: str, port: int) -> list[Address]:
        literal = parse_host_address(host)
        if literal is not None:
            return [literal]
        name = host.lower().rstrip(".")
        if name in pinned:
            return [pinned[name]]
        infos = await asyncio.get_running_loop().getaddrinfo(name, port, type=socket.SOCK_STREAM)
        found: list[Address] = []
        for _family, _type, _proto, _name, sockaddr in infos:
            address = parse_host_address(str(sockaddr[0]))
            if address is not None and address not in found:
                found.append(address)
        return found

    return resolve


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the callback policy between name resolution and connect()."""

    def __init__(self, policy: TargetPolicy, resolver: Resolver) -> None:
        self.policy = policy
        self.resolver = resolver
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self.resolver(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror or exc}") from None
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}")
        for address in addresses:  # every answer: one internal address refuses the name
            self.policy.check_address(address, port)
        failure: Exception | None = None
        for address in addresses:
            try:
                stream = await self.inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            if port in self.policy.own_ports and _is_this_machine(stream):
                await stream.aclose()  # nothing was sent: a public address of this very machine, on our port
                raise RefusedTarget("it is one of the platform's own listeners")
            return stream
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise RefusedTarget("callbacks go over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def _is_this_machine(stream: httpcore.AsyncNetworkStream) -> bool:
    """A connection whose two ends have one address never left this machine (the kernel routes any of its own
    addresses through loopback): the way to know a public address is ours when the API listens on 0.0.0.0."""
    local, remote = stream.get_extra_info("client_addr"), stream.get_extra_info("server_addr")
    return bool(local and remote and local[0] == remote[0])


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on the guarded backend (httpx has no parameter for a network backend: its pool is
    rebuilt here with the same settings httpx gives it). No proxy: a proxy would resolve the name itself."""

    def __init__(self, policy: TargetPolicy, resolver: Resolver | None = None) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=httpx.Limits().max_connections,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(policy, resolver or system_resolver()),
        )


def guarded_client(policy: TargetPolicy, *, timeout: float, resolver: Resolver | None = None) -> httpx.AsyncClient:
    """The client webhooks are sent with: no redirects (a 3xx is an answer, never a second target), no proxies."""
    return httpx.AsyncClient(
        transport=GuardedTransport(policy, resolver), timeout=timeout, follow_redirects=False, trust_env=False
    )
