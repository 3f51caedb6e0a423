"""Duplicate detection (RFC 5080 §2.2.2): a retransmitted request is answered with the same response, not redone.

A request is known by its source address and port and its first 20 octets (Code, Identifier, Length,
Request Authenticator): a retransmission repeats them exactly (RFC 2865 §3, RFC 2866 §3), while a new request
from the same port changes the Identifier or the authenticator. An entry is "pending" (None) while its answer
is being produced — accounting waits for the database — and a retransmission arriving then is dropped: the
answer is on its way. Entries live `window` seconds; inserted in time order, they expire from the front.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable

_PENDING: bytes = b""


class RecentRequests:
    def __init__(self, window: float = 15.0, max_entries: int = 1_000_000) -> None:
        self.window = window
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, bytes]] = {}
        # Arrival order, for expiry from the front in O(1) (a dict's front slows down as entries leave it).
        self._order: deque[tuple[float, Hashable]] = deque()

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: Hashable) -> bytes | None:
        """The cached response of a request seen before: b"" while it is still pending, None if it is new."""
        found = self._entries.get(key)
        return found[1] if found is not None else None

    def pending(self, key: Hashable, now: float) -> None:
        self._entries[key] = (now, _PENDING)
        self._order.append((now, key))

    def answered(self, key: Hashable, response: bytes, now: float) -> None:
        found = self._entries.get(key)
        if found is None:
            self._entries[key] = (now, response)
            self._order.append((now, key))
        else:
            self._entries[key] = (found[0], response)  # expires as from when it arrived

    def forget(self, key: Hashable) -> None:
        """The request failed (its batch did not commit): a retransmission must be processed again."""
        self._entries.pop(key, None)

    def expire(self, now: float) -> None:
        entries, order = self._entries, self._order
        while order:
            since, key = order[0]
            if now - since < self.window and len(order) <= self.max_entries:
                break
            order.popleft()
            found = entries.get(key)
            if found is not None and found[0] == since:
                del entries[key]
