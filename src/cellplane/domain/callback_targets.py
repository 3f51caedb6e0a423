"""Where a callback may be sent: one classification of addresses and one check of targets, used by the API (a 400
naming the parameter) and by the webhook sender at connect time, after its own DNS resolution (no rebinding).

Why: a callback URL is a request the platform makes on a tenant's behalf from inside its own network. Aimed at
loopback, the metadata service (169.254.169.254), a private network or the platform's own listeners, it reaches
what the tenant cannot, and its recorded outcome (error, timing) would scan ports. Addresses are parsed the way the
resolver parses them (`socket.inet_aton` takes `127.1`, `2130706433`, `0x7f000001`, `0177.0.0.1`), and an IPv6
address that carries an IPv4 one (mapped, compatible, NAT64, 6to4, Teredo) is judged by the IPv4 address it carries.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Collection
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598, shared address space (ipaddress calls it not private)
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # RFC 1122 "this host on this network"; 0.0.0.0 reaches loopback
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # RFC 4291 §2.5.5.1, deprecated but still routed by some stacks
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))  # RFC 6052, RFC 8215
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


class TargetClass(StrEnum):
    """Why an address is not a public one (the first that applies)."""

    LOOPBACK = "loopback"
    UNSPECIFIED = "unspecified"
    LINK_LOCAL = "link-local"
    PRIVATE = "private"
    MULTICAST = "multicast"
    RESERVED = "reserved"


# What CELLPLANE_WEBHOOK_ALLOW_PRIVATE opens: a lab's own machine and networks; never link-local (cloud metadata).
LAB_CLASSES = frozenset({TargetClass.LOOPBACK, TargetClass.PRIVATE})


def parse_host_address(host: str) -> Address | None:
    """The address a URL host names literally, in any spelling a resolver accepts; None for a DNS name."""
    text = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])  # canonical v4, and v6 with or without a zone
    except ValueError:
        pass
    if not text or ":" in text or not all(part.isalnum() for part in text.split(".")):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))  # 127.1, 2130706433, 0x7f000001, 0177.0.0.1
    except OSError:
        return None


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries and would reach (mapped, compatible, NAT64, 6to4, Teredo)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # :: and ::1 are themselves
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if any(address in prefix for prefix in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def classify(address: Address) -> TargetClass | None:
    """None for a public unicast address; otherwise the kind of non-public address it is."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            return classify(inner)
    if address.is_loopback:
        return TargetClass.LOOPBACK
    if address.is_unspecified or address in _THIS_NETWORK:
        return TargetClass.UNSPECIFIED
    if address.is_link_local:
        return TargetClass.LINK_LOCAL
    if address.is_multicast:
        return TargetClass.MULTICAST
    if address in _CGNAT or (address.is_private and _is_private_network(address)):
        return TargetClass.PRIVATE
    if not address.is_global or address.is_reserved:
        return TargetClass.RESERVED  # documentation, benchmarking, 240/4, broadcast, IETF protocol assignments
    return None


def _is_private_network(address: Address) -> bool:
    """RFC 1918 and ULA (fc00::/7) — the ranges a lab's own networks use; other `is_private` ranges are reserved."""
    if isinstance(address, ipaddress.IPv4Address):
        return any(address in ipaddress.ip_network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
    return address in ipaddress.ip_network("fc00::/7")


class RefusedTarget(Exception):
    """A callback target the platform will not connect to; `reason` is for the API and the operator's log only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TargetPolicy:
    """Where callbacks may go. `own_ports` and `own_addresses` are the platform's listeners: never a target, even
    with `allow_private` (a lab setting that opens loopback and private networks, never link-local)."""

    allow_private: bool = False
    own_ports: Collection[int] = field(default_factory=frozenset)
    own_addresses: Collection[Address] = field(default_factory=frozenset)

    def check_address(self, address: Address, port: int) -> None:
        """Raises RefusedTarget unless `address:port` may receive a callback."""
        kind = classify(address)
        if kind is not None and not (self.allow_private and kind in LAB_CLASSES):
            raise RefusedTarget(f"its host is not a public address ({kind})")
        if port in self.own_ports and self._is_own(address):
            raise RefusedTarget("it is one of the platform's own listeners")

    def _is_own(self, address: Address) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and embedded_ipv4(address) is not None:
            address = embedded_ipv4(address)  # type: ignore[assignment]
        if classify(address) in (TargetClass.LOOPBACK, TargetClass.UNSPECIFIED):
            return True
        return address in self.own_addresses

    def check_url(self, url: str) -> None:
        """What can be told from the URL alone: scheme, userinfo, and a host that is an address (any spelling) or
        a name of this machine. A DNS name is checked again, address by address, when the callback is sent."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RefusedTarget("it must be an absolute http or https URL")
        if "@" in parts.netloc:
            raise RefusedTarget("it must not carry a user name or password")
        host = parts.hostname or ""
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise RefusedTarget("its port is not a number from 0 to 65535") from None
        if not host:
            raise RefusedTarget("it has no host")
        if not host.isascii() and ":" not in host:
            try:  # as HTTP clients map it (IDNA: fullwidth digits, ideographic full stops, circled letters...)
                host = host.encode("idna").decode("ascii").lower()
            except UnicodeError:
                raise RefusedTarget("its host is not a valid host name") from None
        address = parse_host_address(host)
        if address is None:
            name = host.rstrip(".").lower()
            if name in _LOCAL_NAMES or name.endswith(".localhost"):
                address = ipaddress.IPv4Address("127.0.0.1")  # RFC 6761: localhost is loopback, never resolved
        if address is not None:
            self.check_address(address, port)
