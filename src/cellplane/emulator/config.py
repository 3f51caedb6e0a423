"""What the emulated radio network needs to know: where the gateway is and how patient to be with it."""

from __future__ import annotations

from dataclasses import dataclass

from cellplane.protocols.datagram import SOCKET_BUFFER


@dataclass(frozen=True)
class EmulatorConfig:
    """Addresses and timers of one emulated RAN/SGW (docs/NETWORK.md)."""

    gateway_host: str = "127.0.0.1"
    gateway_gtpc_port: int = 2123
    gateway_gtpu_port: int = 2152
    # Our own S5/S8 endpoints; 0 picks a free port (a real SGW would sit on 2123/2152 of its own address).
    host: str = "127.0.0.1"
    gtpc_port: int = 0
    gtpu_port: int = 0
    apn: str = "super"
    # GTPv2-C retransmission (TS 29.274 §7.6). A Create Session waits on the gateway's RADIUS round trip,
    # retransmissions included, so T3 is longer than a RADIUS timeout.
    t3: float = 3.0
    n3: int = 2
    # How long a paged idle device takes to answer (TS 23.401 §5.3.4.3: paging, then Service Request).
    paging_delay: float = 0.01
    # How long `traffic` waits for the downlink it asked for to arrive.
    downlink_timeout: float = 10.0
    # SO_RCVBUF/SO_SNDBUF of the S5/S8 GTP-U socket. Small by default so that an overloaded device-shell path drops
    # instead of queueing seconds of packets (protocols/datagram.py); a test process that both runs this RAN and
    # generates load takes a larger one, or bursts of downlink (a gateway's batch of IP Commands) wait in a socket
    # it is too busy to drain and overflow it.
    user_plane_buffer: int = SOCKET_BUFFER
    # Seeds IMEIs, cell identities and TEIDs, for reproducible runs.
    seed: int | None = None
