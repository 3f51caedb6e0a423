"""Two AAA nodes on one PostgreSQL, configured with the same UE address pool (issue 21): each hands out addresses
only from the slices of it it holds a lease on (network/aaa/slices.py), so no address is ever given twice.

SIMs attach concurrently at both nodes over RADIUS (pyrad, as a PGW would) and their sessions start; no address
is held by two SIMs, in the Access-Accepts or in the database's open sessions. Then one node is killed (SIGKILL,
its sessions left open in the database): once its leases lapse the other node, short of addresses, takes its
slices over and hands out only what the dead node's open sessions do not hold.

The pool is small (a /26 in /28 slices: four slices of 15 or 16 addresses) so that slices run out and are claimed
during the test, and the lease short (6 s).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from pyrad import packet as pyrad_packet

from tests.support.cluster import fetch, make_active_sims, shared_database, start_node
from tests.support.server import Server
from tests.unit.network.peers import USA as USA_PLMN
from tests.unit.network.peers import Pgw, framed_ip

POOL, SLICE, LEASE = "10.99.0.0/26", "28", "6"
FIRST, LATER = 40, 20  # SIMs attached over both nodes, then at the survivor alone


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    yield from shared_database("several AAA nodes share one PostgreSQL")


def pool_node(database_url: str, roles: str, data_dir: Path, token: str) -> Server:
    return start_node(
        database_url,
        roles,
        data_dir,
        token,
        CELLPLANE_UE_IP_POOL=POOL,
        CELLPLANE_UE_IP_POOL_SLICE=SLICE,
        CELLPLANE_UE_IP_POOL_LEASE=LEASE,
    )


def attach_and_start(node: Server, nas: str, imsi: str, within: float = 20.0) -> str:
    """Access-Request until accepted (a modem retries; a node short of addresses claims a slice meanwhile), then
    an accounting Start with the address given: the session is in the database once answered."""
    pgw = Pgw(int(node.env["CELLPLANE_AAA_AUTH_PORT"]), int(node.env["CELLPLANE_AAA_ACCT_PORT"]), nas_identifier=nas)
    # A retry every 2 s stays under the AAA's 20 attaches a SIM a minute (83703).
    for _ in range(int(within / 2)):
        reply = pgw.access(imsi, USA_PLMN)
        if reply.code == pyrad_packet.AccessAccept:
            break
        time.sleep(2)
    else:
        raise AssertionError(f"{imsi} got no address at {nas}: {reply.get('Reply-Message')}")
    address = framed_ip(reply)
    started = pgw.send(pgw.accounting_request(1, imsi, f"{nas}-{imsi}", plmn=USA_PLMN, address=address))
    assert started.code == pyrad_packet.AccountingResponse
    return address


def open_addresses(database_url: str) -> list[tuple[str, str]]:
    """(ue_ip, imsi) of every open data session in the database."""
    return [
        (r["ue_ip"], r["imsi"])
        for r in fetch(database_url, "SELECT ue_ip, imsi FROM data_sessions WHERE status = 'open'")
    ]


def test_two_aaa_nodes_never_hand_out_one_address_twice(database_url: str, tmp_path: Path) -> None:
    token = os.urandom(16).hex()
    api = pool_node(database_url, "api,workers", tmp_path / "api", token)
    nodes: list[Server] = []
    try:
        _, sims = make_active_sims(api, FIRST + LATER)
        imsis = [imsi for _, _, imsi in sims]
        nodes = [pool_node(database_url, "aaa", tmp_path / name, token) for name in ("aaa-a", "aaa-b")]
        a, b = nodes
        # Both nodes at once, many SIMs each, from concurrent PGW threads.
        jobs = [(a if i % 2 else b, "pgw-a" if i % 2 else "pgw-b", imsi) for i, imsi in enumerate(imsis[:FIRST])]
        with ThreadPoolExecutor(16) as pool:
            given = list(pool.map(lambda job: attach_and_start(*job), jobs))
        assert len(set(given)) == FIRST, sorted(given)
        by_node: dict[str, set[str]] = {"pgw-a": set(), "pgw-b": set()}
        for (_, nas, _), address in zip(jobs, given, strict=True):
            by_node[nas].add(address)
        assert by_node["pgw-a"] and by_node["pgw-b"]
        held = open_addresses(database_url)
        assert len(held) == FIRST and len({ip for ip, _ in held}) == FIRST, held

        # Node B dies; its sessions stay open in the database. A is short of addresses (the four slices are taken)
        # until B's leases lapse; it then takes B's slices and skips the addresses B's open sessions hold.
        assert b.process is not None
        b.stop(kill=True)
        with ThreadPoolExecutor(8) as pool:
            later = list(pool.map(lambda imsi: attach_and_start(a, "pgw-a", imsi, within=30.0), imsis[FIRST:]))
        assert not set(later) & by_node["pgw-b"], sorted(set(later) & by_node["pgw-b"])
        held = open_addresses(database_url)
        assert len(held) == FIRST + LATER and len({ip for ip, _ in held}) == FIRST + LATER, sorted(held)
        # Some of them came from a slice B held (the pool has no other room): the takeover was exercised.
        slices_of_b = {int(ip.rsplit(".", 1)[1]) // 16 for ip in by_node["pgw-b"]}
        assert any(int(ip.rsplit(".", 1)[1]) // 16 in slices_of_b for ip in later), (sorted(later), slices_of_b)
        assert httpx.get(f"{a.base_url}/healthz").status_code == 200
    finally:
        for node in nodes:
            node.stop()
        api.stop()
