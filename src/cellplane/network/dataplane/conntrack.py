"""Ending a session's flows: its address's connection-tracking entries in its routing domain, deleted over netlink.

A Disconnect (a reset, a suspension, a data limit's block) removes the session from the gateway, but the domain's
conntrack still holds its flows: a device that attaches again with the same address (the AAA keeps a SIM's address
for a while) would find its old TCP connection alive, masqueraded through the same port. Deleting the entries ends
them; the domain's `nf_conntrack_tcp_loose=0` (domain.py) keeps a mid-stream segment from starting a new entry, so
the device's or the server's next segment of that flow is invalid and dropped in the domain.
"""

from __future__ import annotations

import contextlib
import logging

from pyroute2 import Conntrack  # type: ignore[import-untyped]
from pyroute2.conntrack import NFCTAttrTuple  # type: ignore[import-untyped]
from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]

from . import netlink  # noqa: F401  # pyroute2's process-wide settings (signals of its helper processes)

log = logging.getLogger("cellplane.dataplane")


def forget(namespace: str, address: str) -> int:
    """Delete every conntrack entry of `address` in `namespace`: flows it started (original source), flows to it
    (original destination), and flows a port forward translated to it (reply source); how many. The kernel filters
    each dump (Linux 5.8+), so a busy domain is not listed whole per session. Runs pyroute2's synchronous API: call it
    from a worker thread. A domain already gone (the platform stopping) has nothing left to end: 0."""
    deleted = 0
    try:
        with contextlib.closing(Conntrack(netns=namespace)) as table:
            seen: set[int] = set()
            filters = (
                {"tuple_orig": NFCTAttrTuple(saddr=address)},
                {"tuple_orig": NFCTAttrTuple(daddr=address)},
                {"tuple_reply": NFCTAttrTuple(saddr=address)},
            )
            for chosen in filters:
                for entry in list(table.dump_entries(**chosen)):
                    if entry.id in seen:
                        continue
                    seen.add(entry.id)
                    try:
                        table.delete(entry)
                    except NetlinkError:  # gone meanwhile (it timed out, or the kernel closed it)
                        continue
                    deleted += 1
    except (OSError, NetlinkError) as error:
        log.debug("flows of %s in %s not ended: %s", address, namespace, error)
        return deleted
    if deleted:
        log.info("%d flows of %s ended in %s", deleted, address, namespace)
    return deleted


def flows(namespace: str, address: str) -> list[tuple[int, str, int, str, int]]:
    """The tracked flows of `address` in `namespace` as (protocol, source, source port, destination, destination
    port) of their original direction (for status and tests)."""
    with contextlib.closing(Conntrack(netns=namespace)) as table:
        return [
            (o.proto, o.saddr, o.sport or 0, o.daddr, o.dport or 0)
            for entry in table.dump_entries()
            if address in ((o := entry.tuple_orig).saddr, o.daddr, entry.tuple_reply.saddr)
        ]
