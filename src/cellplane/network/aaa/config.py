"""What the AAA needs to know, handed in by the runtime (the AAA never reads settings itself)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cellplane.domain.policy import ATTACH_WINDOW

Address = tuple[str, int]


@dataclass(frozen=True)
class AaaConfig:
    """Addresses, clients, pools and timers of one AAA (docs/NETWORK.md has the defaults).

    `clients` maps each NAS address allowed to talk to us to the secret it shares with us (RFC 2865 §3: a
    server must know its clients; packets from anyone else are dropped). `dae_targets` maps a NAS address to
    where it takes Disconnect-Requests (RFC 5176 §3); a NAS not listed gets them at (its address, `dae_port`).
    """

    host: str = "127.0.0.1"
    auth_port: int = 1812
    acct_port: int = 1813
    clients: Mapping[str, bytes] = field(default_factory=lambda: {"127.0.0.1": b"cellplane"})
    ue_ip_pool: str = "10.64.0.0/10"
    # Slices of the pool leased to this node (network/aaa/slices.py): prefix length (None: the default, 256 slices),
    # lease seconds, and the name this node holds them under.
    ue_ip_pool_slice: int | None = None
    ue_ip_pool_lease: float = 30.0
    node_id: str = "cellplane"
    dae_port: int = 3799
    dae_targets: Mapping[str, Address] = field(default_factory=dict)
    # FreeRADIUS's require_message_authenticator per client: Access-Requests without one are dropped
    # (BlastRADIUS, CVE-2024-3596). Off by default so that plain radclient and older PGWs are served.
    require_message_authenticator: bool = False
    # Group commit of accounting: wait this long for more requests once one arrives, take at most batch_max.
    batch_linger: float = 0.002
    batch_max: int = 2000
    # Attach events and disconnect outcomes with no accounting to ride along are flushed at this pace.
    event_flush_interval: float = 0.25
    # SIM policy snapshots the cache holds (state.PolicyCache; least recently used leave first, a SIM with an open
    # session or a Thing stays); the others are loaded when used. 0: no bound, every SIM loaded at start.
    cache_sims: int = 200_000
    # The policy cache re-reads rows changed since the newest change seen, minus an overlap that covers
    # transactions which committed late and clocks of other nodes a little behind.
    poll_interval: float = 1.0
    poll_overlap: float = 5.0
    # RFC 5080 §2.2.2: how long a request is remembered to answer its retransmissions without reprocessing.
    duplicate_window: float = 15.0
    # An address given in an Access-Accept that no accounting Start claims is freed after this.
    lease_ttl: float = 300.0
    attach_window: float = ATTACH_WINDOW
    # Socket buffers of the two ports (SO_RCVBUF/SO_SNDBUF), for bursts.
    socket_buffer: int = 4 << 20
    disconnect_timeout: float = 1.0
    disconnect_retries: int = 2
    # The rate (bit/s, each way) a Wireless session is held to once its rate plan's limit is reached with
    # DataLimitStrategy throttle: sent as WISPr-Bandwidth-Max-Up/-Down (CELLPLANE_THROTTLE_RATE).
    throttle_rate: int = 64_000

    def dae_target(self, nas_address: str) -> Address:
        return self.dae_targets.get(nas_address, (nas_address, self.dae_port))


def parse_clients(text: str, default_secret: str) -> dict[str, bytes]:
    """ "addr[=secret],addr..." (CELLPLANE_RADIUS_CLIENTS) into address -> secret."""
    clients: dict[str, bytes] = {}
    for item in text.split(","):
        address, _, secret = item.strip().partition("=")
        if address:
            clients[address.strip()] = (secret.strip() or default_secret).encode()
    return clients


def parse_dae_targets(text: str) -> dict[str, Address]:
    """ "nas_addr=host:port,..." into NAS address -> where its Dynamic Authorization server listens."""
    targets: dict[str, Address] = {}
    for item in text.split(","):
        nas, _, target = item.strip().partition("=")
        host, _, port = target.strip().rpartition(":")
        if nas and host and port.isdigit():
            targets[nas.strip()] = (host, int(port))
    return targets
