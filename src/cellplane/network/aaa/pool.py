"""UE addresses (Framed-IP-Address, RFC 2865 §5.8) from one IPv4 prefix: one per SIM while it attaches or holds
a session, unique across live sessions.

An address is leased to a SIM (by IMSI) at Access-Accept and held by every open session that reports it in
accounting; a SIM that attaches again while it holds one gets the same address back. When the last session
ends, or an Access-Accept is never followed by an accounting Start, the lease lingers `lease_ttl` seconds
(a quick re-attach keeps its address) and then returns to the free list, which is reused oldest-first.

Several AAA nodes on one database share the prefix by slices (`restrict`): the pool then hands out addresses only
from the slices this node holds a lease on (network/aaa/slices.py), each until the moment its lease is known to
hold. Addresses outside them are still tracked (`hold`) so that an address another node gave is never given again.
"""

from __future__ import annotations

import ipaddress
import socket
from collections import OrderedDict, deque
from collections.abc import Collection, Hashable


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
        # Sliced: slice index -> (first, last, monotonic time until which we may allocate from it); None: unsliced.
        self.slice_bits: int | None = None
        self._slices: dict[int, tuple[int, int, float]] = {}
        self._cursors: dict[int, int] = {}
        self._first, self._base = first, int(network.network_address)

    def __len__(self) -> int:
        """Addresses leased now."""
        return len(self._address_of)

    # --- slices (several AAA nodes on one pool) --------------------------------------------------------------------

    def restrict(self, slice_prefix: int) -> int:
        """Hand out addresses only from slices granted by `grant` (prefixes of length `slice_prefix` inside the
        pool); how many slices the pool has."""
        if not self.network.prefixlen <= slice_prefix <= 32:
            raise ValueError(f"UE pool slice /{slice_prefix} does not fit in {self.network}")
        self.slice_bits = 32 - slice_prefix
        self._slices.clear()
        self._cursors.clear()
        return 1 << (slice_prefix - self.network.prefixlen)

    def slice_range(self, index: int) -> tuple[int, int]:
        """First and last address (as integers) of slice `index` that the pool hands out."""
        assert self.slice_bits is not None
        first = self._base + (index << self.slice_bits)
        last = first + (1 << self.slice_bits) - 1
        return max(first, self._first), min(last, self._last)

    def grant(self, index: int, until: float) -> None:
        """Slice `index` is ours until `until` (monotonic): a new grant starts from its first address, a renewal
        only moves the time."""
        first, last = self.slice_range(index)
        if index not in self._slices:
            self._cursors[index] = first
        self._slices[index] = (first, last, until)

    def revoke(self, index: int) -> None:
        """Slice `index` is no longer ours: nothing more is handed out of it. Addresses of it held by open sessions
        stay held (the database has them: the slice's next owner loads them); idle leases of it are forgotten, or
        a SIM attaching again would get back an address its new owner may have given to another."""
        self._slices.pop(index, None)
        self._cursors.pop(index, None)
        first, last = self.slice_range(index)
        for owner in [owner for owner in self._idle if first <= self._address_of[owner][0] <= last]:
            self._idle.pop(owner, None)
            found = self._address_of.pop(owner)
            self._owner_of.pop(found[0], None)

    def slices(self) -> list[int]:
        return sorted(self._slices)

    def held_in(self, indices: Collection[int]) -> list[tuple[str, Hashable]]:
        """(owner, session key) of every open session known here to hold an address of the slices `indices`. A
        session closed by another node (the gateway sweep; a Stop that reached another AAA node) is still among
        them, the database has to say which (slices.py releases those)."""
        if self.slice_bits is None or not indices:
            return []
        wanted = set(indices)
        found = []
        for owner, keys in self._holders.items():
            address = self._address_of.get(owner)
            if address is not None and self._slice_of(address[0]) in wanted:
                found.extend((owner, key) for key in keys)
        return found

    def available(self, now: float) -> int:
        """About how many addresses this node may still hand out without a new slice (cheap: called on every
        allocation; the free list is counted whole, though some of it may belong to slices no longer ours)."""
        if self.slice_bits is None:
            return self._last - self._next + 1 + len(self._free)
        fresh = sum(last - self._cursors[index] + 1 for index, (_, last, until) in self._slices.items() if until > now)
        return fresh + len(self._free)

    def _slice_of(self, value: int) -> int:
        assert self.slice_bits is not None
        return (value - self._base) >> self.slice_bits

    def _usable(self, value: int, now: float) -> bool:
        if self.slice_bits is None:
            return True
        held = self._slices.get(self._slice_of(value))
        return held is not None and held[2] > now

    def address_of(self, owner: str) -> str | None:
        found = self._address_of.get(owner)
        return found[1] if found else None

    def allocate(self, owner: str, now: float) -> str | None:
        """The owner's address (the one it holds, else a free one), or None when the pool is exhausted."""
        found = self._address_of.get(owner)
        if found is None:
            value = self._take(now)
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

    def _take(self, now: float) -> int | None:
        if self.slice_bits is not None:
            return self._take_sliced(now)
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

    def _take_sliced(self, now: float) -> int | None:
        # The free list first, for the slices still ours (a freed address of a slice we lost is another node's now).
        while self._free:
            value = self._free.popleft()
            if value not in self._owner_of and self._usable(value, now):
                return value
        for index, (_, last, until) in self._slices.items():
            if until <= now:
                continue
            cursor = self._cursors[index]
            while cursor <= last:
                value = cursor
                cursor += 1
                if value not in self._owner_of:
                    self._cursors[index] = cursor
                    return value
            self._cursors[index] = cursor
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
