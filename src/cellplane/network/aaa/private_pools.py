"""Things' addresses (THINGS.md): each private Network hands out addresses from its own pools, so two accounts'
networks may hold the same CIDR — an address is unique within its network (its routing domain), not platform-wide.

A locked address is its Thing's on every attach and never anyone else's, even when every other address of the
pools is taken. Leases otherwise work as the UE pool's (pool.py): an address is the Thing's while it attaches or
holds a session, lingers `lease_ttl` seconds after the last session ends (a quick re-attach keeps it), then is
free again. What each network's pools and locks are comes from the Things' policy snapshots (SimPolicy): the AAA
calls `configure` with every snapshot it stores.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Hashable

from cellplane.domain.policy import SimPolicy


class NetworkPool:
    """One private network's addresses: its pools (host ranges), its locks, its leases."""

    def __init__(self) -> None:
        self.cidrs: tuple[str, ...] = ()
        self.ranges: tuple[tuple[int, int], ...] = ()
        self._cursor = 0
        self.locks: dict[int, str] = {}  # address -> the owner (IMSI) it is locked to
        self.lease_of: dict[str, int] = {}
        self.owner_of: dict[int, str] = {}
        self.holders: dict[str, set[Hashable]] = {}
        self.idle: OrderedDict[str, float] = OrderedDict()

    def set_pools(self, cidrs: tuple[str, ...]) -> None:
        if cidrs == self.cidrs:
            return
        self.cidrs = cidrs
        ranges = []
        for cidr in cidrs:
            network = ipaddress.IPv4Network(cidr)
            first, last = int(network.network_address), int(network.broadcast_address)
            if network.num_addresses > 2:
                first, last = first + 1, last - 1
            ranges.append((first, last))
        self.ranges = tuple(ranges)

    def inside(self, value: int) -> bool:
        return any(first <= value <= last for first, last in self.ranges)

    def allocate(self, owner: str, locked: int | None, now: float) -> int | None:
        """The owner's address: its locked one, else the one it holds, else a free one; None when none is left."""
        current = self.lease_of.get(owner)
        if locked is not None:
            holder = self.owner_of.get(locked)
            if holder is not None and holder != owner:
                if self.holders.get(holder):
                    return None  # locked while another Thing's live session holds it: free once that session ends
                self.release(holder)  # only a lingering lease: the lock wins
            if current is not None and current != locked:
                self.release(owner)
            value = locked
        elif current is not None and self.inside(current) and self.locks.get(current, owner) == owner:
            value = current
        else:
            if current is not None:
                self.release(owner)
            found = self._take()
            if found is None:
                return None
            value = found
        self.lease_of[owner] = value
        self.owner_of[value] = owner
        if not self.holders.get(owner):
            self._touch(owner, now)
        return value

    def _take(self) -> int | None:
        """A free address, scanning from where the last scan stopped (addresses are reused round-robin)."""
        total = sum(last - first + 1 for first, last in self.ranges)
        for _ in range(total):
            value = self._at(self._cursor % total)
            self._cursor = (self._cursor + 1) % total
            if value not in self.owner_of and value not in self.locks:
                return value
        return None

    def _at(self, index: int) -> int:
        for first, last in self.ranges:
            size = last - first + 1
            if index < size:
                return first + index
            index -= size
        raise IndexError(index)

    def hold(self, owner: str, value: int, key: Hashable) -> None:
        """An open session of `owner` uses `value` (from accounting): keep it leased while the session lasts."""
        if owner not in self.lease_of and value not in self.owner_of:
            self.lease_of[owner] = value
            self.owner_of[value] = owner
        if self.lease_of.get(owner) == value:
            self.holders.setdefault(owner, set()).add(key)
            self.idle.pop(owner, None)

    def drop(self, owner: str, key: Hashable, now: float) -> None:
        holders = self.holders.get(owner)
        if holders is None:
            return
        holders.discard(key)
        if not holders:
            del self.holders[owner]
            if owner in self.lease_of:
                self._touch(owner, now)

    def expire(self, now: float, ttl: float) -> None:
        while self.idle:
            owner, since = next(iter(self.idle.items()))
            if now - since < ttl:
                break
            self.release(owner)

    def release(self, owner: str) -> None:
        self.idle.pop(owner, None)
        value = self.lease_of.pop(owner, None)
        if value is not None and self.owner_of.get(value) == owner:
            del self.owner_of[value]

    def _touch(self, owner: str, now: float) -> None:
        self.idle[owner] = now
        self.idle.move_to_end(owner)


class PrivateAddresses:
    """Every private network's NetworkPool, kept in step with the Things' snapshots."""

    def __init__(self, lease_ttl: float = 300.0) -> None:
        self.lease_ttl = lease_ttl
        self.networks: dict[str, NetworkPool] = {}
        self._lock_of: dict[str, tuple[str, int]] = {}  # owner -> (network, locked address)

    def configure(self, policy: SimPolicy | None, imsi: str) -> None:
        """A Thing's snapshot arrived (or, None, left): its network's pools and its own lock."""
        old = self._lock_of.pop(imsi, None)
        if old is not None:
            pool = self.networks.get(old[0])
            if pool is not None and pool.locks.get(old[1]) == imsi:
                del pool.locks[old[1]]
        if policy is None or policy.things_network_sid is None:
            return
        pool = self.networks.setdefault(policy.things_network_sid, NetworkPool())
        pool.set_pools(tuple(policy.things_pools))
        if policy.locked_ip:
            value = int(ipaddress.IPv4Address(policy.locked_ip))
            pool.locks[value] = imsi
            self._lock_of[imsi] = (policy.things_network_sid, value)

    def allocate(self, policy: SimPolicy, imsi: str, now: float) -> str | None:
        if policy.things_network_sid is None:
            return None
        pool = self.networks.get(policy.things_network_sid)
        if pool is None:
            self.configure(policy, imsi)
            pool = self.networks[policy.things_network_sid]
        locked = int(ipaddress.IPv4Address(policy.locked_ip)) if policy.locked_ip else None
        value = pool.allocate(imsi, locked, now)
        return str(ipaddress.IPv4Address(value)) if value is not None else None

    def hold(self, policy: SimPolicy, address: str | None, key: Hashable) -> None:
        pool = self.networks.get(policy.things_network_sid or "")
        if pool is None or not address:
            return
        try:
            value = int(ipaddress.IPv4Address(address))
        except ValueError:
            return
        pool.hold(policy.imsi, value, key)

    def drop(self, imsi: str, key: Hashable, now: float) -> None:
        for pool in self.networks.values():
            if imsi in pool.holders:
                pool.drop(imsi, key, now)

    def expire(self, now: float) -> None:
        for pool in self.networks.values():
            pool.expire(now, self.lease_ttl)

    def address_of(self, network_sid: str, imsi: str) -> str | None:
        pool = self.networks.get(network_sid)
        value = pool.lease_of.get(imsi) if pool is not None else None
        return str(ipaddress.IPv4Address(value)) if value is not None else None
