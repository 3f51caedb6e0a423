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
from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]

from . import netlink  # noqa: F401  # pyroute2's process-wide settings (signals of its helper processes)

log = logging.getLogger("cellplane.dataplane")


def forget(namespace: str, address: str) -> int:
    """Delete every conntrack entry of `address` in `namespace` (the device's side of either tuple); how many. Runs
    pyroute2's synchronous API: call it from a worker thread."""
    deleted = 0
    with contextlib.closing(Conntrack(netns=namespace)) as table:
        for entry in list(table.dump_entries()):
            device_side = (entry.tuple_orig.saddr, entry.tuple_orig.daddr, entry.tuple_reply.saddr)
            if address not in device_side:
                continue
            try:
                table.delete(entry)
            except NetlinkError:  # gone meanwhile (it timed out, or the kernel closed it)
                continue
            deleted += 1
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
