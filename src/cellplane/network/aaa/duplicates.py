"""Duplicate detection (RFC 5080 §2.2.2): a retransmitted request is answered with the same response, not redone.

A request is known by its source address and port and its first 20 octets (Code, Identifier, Length,
Request Authenticator): a retransmission repeats them exactly (RFC 2865 §3, RFC 2866 §3), while a new request
from the same port changes the Identifier or the authenticator. An entry is "pending" (None) while its answer
is being produced — accounting waits for the database — and a retransmission arriving then is dropped: the
answer is on its way. Entries live `window` seconds; inserted in time order, they expire from the front.
"""

from __future__ import annotations

from collections.abc import Hashable

_PENDING: bytes = b""


class RecentRequests:
    def __init__(self, window: float = 15.0, max_entries: int = 1_000_000) -> None:
        self.window = window
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, bytes]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: Hashable) -> bytes | None:
        """The cached response of a request seen before: b"" while it is still pending, None if it is new."""
        found = self._entries.get(key)
        return found[1] if found is not None else None

    def pending(self, key: Hashable, now: float) -> None:
        self._entries[key] = (now, _PENDING)

    def answered(self, key: Hashable, response: bytes, now: float) -> None:
        # Keeps its place in insertion order when it was pending, so expiry stays in time order closely enough.
        found = self._entries.get(key)
        self._entries[key] = (found[0] if found is not None else now, response)

    def forget(self, key: Hashable) -> None:
        """The request failed (its batch did not commit): a retransmission must be processed again."""
        self._entries.pop(key, None)

    def expire(self, now: float) -> None:
        entries = self._entries
        while entries:
            key, (since, _) = next(iter(entries.items()))
            if now - since < self.window and len(entries) <= self.max_entries:
                break
            del entries[key]
