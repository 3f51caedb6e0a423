"""What the gateway needs to know, handed in by the runtime (the gateway never reads settings itself)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GatewayConfig:
    """Addresses, timers and RADIUS parameters of one gateway (docs/NETWORK.md has the defaults)."""

    host: str = "127.0.0.1"
    gtpc_port: int = 2123
    gtpu_port: int = 2152
    dae_port: int = 3799
    # The AAA, as any RADIUS server: where to ask, and the secret we share with it.
    aaa_host: str = "127.0.0.1"
    aaa_auth_port: int = 1812
    aaa_acct_port: int = 1813
    radius_secret: str = "cellplane"
    radius_timeout: float = 1.0
    radius_retries: int = 3
    # Who may send us Disconnect-Requests (RFC 5176 §2.3: only known Dynamic Authorization Clients).
    dae_clients: tuple[str, ...] = ("127.0.0.1",)
    nas_identifier: str = "cellplane-gateway"
    interim_interval: float = 60.0
    # Used only when an Access-Accept carries no Framed-IP-Address (a PGW's local pool, TS 29.061 §11.2).
    ue_ip_pool: str = "10.64.0.0/10"
    # GTPv2-C retransmission of our own requests (TS 29.274 §7.6: T3-RESPONSE and N3-REQUESTS).
    t3: float = 1.0
    n3: int = 3
    # GTP-C restart counter (TS 23.007 §18): None takes one from the clock, so that a restart changes it.
    recovery: int | None = None
    # Seeds TEID allocation, for reproducible runs.
    seed: int | None = None
