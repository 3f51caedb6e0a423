"""The private-network platform (THINGS.md): Things Groups, Networks with IP pools and routes, IP Profiles, NAT rules.

A Thing itself is a `sims` row of product "things" (its group, services and locked address are columns there).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cellplane.store.models.base import Base, Timestamps, UtcDateTime


class ThingsNetwork(Timestamps, Base):
    """A private network: one routing domain of the data plane."""

    __tablename__ = "things_networks"

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str] = mapped_column(ForeignKey("accounts.sid"), index=True, nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    apn: Mapped[str] = mapped_column(String(64), nullable=False)
    device_isolation: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    # Where its NAT rules listen on the host side; unique across accounts (two networks never share a port space).
    public_address: Mapped[str] = mapped_column(String(15), unique=True, nullable=False)


class IpPool(Timestamps, Base):
    __tablename__ = "things_ip_pools"

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str] = mapped_column(String(34), index=True, nullable=False)
    network_sid: Mapped[str] = mapped_column(
        ForeignKey("things_networks.sid", ondelete="CASCADE"), index=True, nullable=False
    )
    cidr: Mapped[str] = mapped_column(String(18), nullable=False)


class ThingsRoute(Timestamps, Base):
    __tablename__ = "things_routes"

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str] = mapped_column(String(34), index=True, nullable=False)
    network_sid: Mapped[str] = mapped_column(
        ForeignKey("things_networks.sid", ondelete="CASCADE"), index=True, nullable=False
    )
    destination: Mapped[str] = mapped_column(String(18), nullable=False)
    target: Mapped[str] = mapped_column(String(34), nullable=False)


class IpProfile(Timestamps, Base):
    """A firewall: ordered inbound and outbound rules (JSON lists of rule objects) and the default action."""

    __tablename__ = "things_ip_profiles"

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str] = mapped_column(ForeignKey("accounts.sid"), index=True, nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    inbound: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    outbound: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    default_action: Mapped[str] = mapped_column(String(8), nullable=False, default="allow")


class ThingsGroup(Timestamps, Base):
    __tablename__ = "things_groups"

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str] = mapped_column(ForeignKey("accounts.sid"), index=True, nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    network_sid: Mapped[str] = mapped_column(ForeignKey("things_networks.sid"), index=True, nullable=False)
    ip_profile_sid: Mapped[str] = mapped_column(ForeignKey("things_ip_profiles.sid"), index=True, nullable=False)
    # The account's sid on its default group, null on every other: one default group per account, by a unique key.
    default_for: Mapped[str | None] = mapped_column(String(34), unique=True)


class NatRule(Timestamps, Base):
    __tablename__ = "things_nat_rules"
    __table_args__ = (
        UniqueConstraint("network_sid", "protocol", "public_port", name="uq_things_nat_rules_public_port"),
    )

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str] = mapped_column(String(34), index=True, nullable=False)
    network_sid: Mapped[str] = mapped_column(
        ForeignKey("things_networks.sid", ondelete="CASCADE"), index=True, nullable=False
    )
    protocol: Mapped[str] = mapped_column(String(4), nullable=False)
    public_port: Mapped[int] = mapped_column(Integer, nullable=False)
    thing_sid: Mapped[str | None] = mapped_column(String(34), index=True)
    private_ip: Mapped[str | None] = mapped_column(String(15))
    private_port: Mapped[int] = mapped_column(Integer, nullable=False)


class VpnTunnel(Timestamps, Base):
    """An IPsec tunnel from a Network's routing domain to the customer's site (issue 20). The first columns are
    what the customer set; `state` and the rest are what charon reports (network/things_vpn.py writes them)."""

    __tablename__ = "things_vpn_tunnels"

    sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    account_sid: Mapped[str] = mapped_column(String(34), index=True, nullable=False)
    network_sid: Mapped[str] = mapped_column(
        ForeignKey("things_networks.sid", ondelete="CASCADE"), index=True, nullable=False
    )
    peer_address: Mapped[str] = mapped_column(String(15), nullable=False)
    # Write-only on the wire; charon gets it over VICI, never in a file.
    pre_shared_key: Mapped[str] = mapped_column(String(256), nullable=False)
    ike_proposal: Mapped[str] = mapped_column(String(512), nullable=False)
    esp_proposal: Mapped[str] = mapped_column(String(512), nullable=False)
    local_cidrs: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    remote_cidrs: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    state: Mapped[str] = mapped_column(String(12), nullable=False, default="connecting")
    bytes_in: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    bytes_out: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    established_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(256), nullable=True)
