"""UE addresses (Framed-IP-Address, RFC 2865 §5.8) from one IPv4 prefix: one per SIM while it attaches or holds
a session, unique across live sessions.

An address is leased to a SIM (by IMSI) at Access-Accept and held by every open session that reports it in
accounting; a SIM that attaches again while it holds one gets the same address back. When the last session
ends, or an Access-Accept is never followed by an accounting Start, the lease lingers `lease_ttl` seconds
(a quick re-attach keeps its address) and then returns to the free list, which is reused oldest-first.
"""

from __future__ import annotations

import ipaddress
import socket
from collections import OrderedDict, deque
from collections.abc import Hashable


class AddressPool:
    def __init__(self, prefix: str, lease_ttl: float = 300.0) -> None:
        network = ipaddress.IPv4Network(prefix, strict=False)
        first, last = int(network.network_address), int(network.broadcast_address)
        if network.num_addresses > 2:
            first, last = first + 1, last - 1  # not the network and broadcast addresses of the prefix
        self.network = network
        self.lease_ttl = lease_ttl
        self._next = first
        self._last = last
        self._free: deque[int] = deque()
        self._owner_of: dict[int, str] = {}
        self._address_of: dict[str, tuple[int, str]] = {}
        self._holders: dict[str, set[Hashable]] = {}
        # Owners holding an address with no open session, oldest first: since when (an OrderedDict: expiry pops
        # from its front, which a plain dict makes slower and slower as entries leave it).
        self._idle: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        """Addresses leased now."""
        return len(self._address_of)

    def address_of(self, owner: str) -> str | None:
        found = self._address_of.get(owner)
        return found[1] if found else None

    def allocate(self, owner: str, now: float) -> str | None:
        """The owner's address (the one it holds, else a free one), or None when the pool is exhausted."""
        found = self._address_of.get(owner)
        if found is None:
            value = self._take()
            if value is None:
                return None
            found = self._assign(owner, value)
        if not self._holders.get(owner):
            self._touch(owner, now)
        return found[1]

    def hold(self, owner: str, address: str | None, key: Hashable, now: float) -> None:
        """An open session `key` of `owner` uses `address` (from accounting): keep it leased while it lasts.

        An address outside the prefix (the NAS's own pool) is not ours to track. One already leased to another
        SIM is left with it: the first holder keeps it, the conflict is the NAS's.
        """
        value = self._value(address)
        if value is not None and value not in self._owner_of:
            # The NAS reports an address we have not leased to this SIM (we restarted, or it re-attached elsewhere):
            # it becomes the SIM's, unless the SIM's current one is still held by another of its sessions.
            if owner in self._address_of and not self._holders.get(owner):
                self._free_owner(owner)
            if owner not in self._address_of:
                self._assign(owner, value)
        if owner in self._address_of:
            self._holders.setdefault(owner, set()).add(key)
            self._idle.pop(owner, None)

    def drop(self, owner: str, key: Hashable, now: float) -> None:
        """Session `key` of `owner` ended; the last one to end starts the lease's grace period."""
        holders = self._holders.get(owner)
        if holders is None:
            return
        holders.discard(key)
        if not holders:
            del self._holders[owner]
            if owner in self._address_of:
                self._touch(owner, now)

    def expire(self, now: float) -> int:
        """Return to the free list the leases idle for longer than `lease_ttl`; how many were freed."""
        freed = 0
        idle = self._idle
        while idle:
            owner, since = next(iter(idle.items()))
            if now - since < self.lease_ttl:
                break
            self._free_owner(owner)
            freed += 1
        return freed

    def _touch(self, owner: str, now: float) -> None:
        self._idle[owner] = now
        self._idle.move_to_end(owner)

    def _take(self) -> int | None:
        while self._free:
            value = self._free.popleft()
            if value not in self._owner_of:
                return value
        while self._next <= self._last:
            value = self._next
            self._next += 1
            if value not in self._owner_of:
                return value
        return None

    def _assign(self, owner: str, value: int) -> tuple[int, str]:
        found = (value, socket.inet_ntoa(value.to_bytes(4)))
        self._address_of[owner] = found
        self._owner_of[value] = owner
        return found

    def _free_owner(self, owner: str) -> None:
        self._idle.pop(owner, None)
        found = self._address_of.pop(owner, None)
        if found is not None:
            self._owner_of.pop(found[0], None)
            self._free.append(found[0])

    def _value(self, address: str | None) -> int | None:
        if not address:
            return None
        try:
            value = int.from_bytes(socket.inet_aton(address))
        except OSError:
            return None
        first = int(self.network.network_address)
        return value if first <= value <= int(self.network.broadcast_address) else None
