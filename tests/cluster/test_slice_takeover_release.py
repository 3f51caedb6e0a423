"""A taken-over slice of the UE pool lets go of the dead node's addresses once their sessions are closed (issue 21).

Two AAA nodes share a /26 in /28 slices (62 addresses) on one PostgreSQL, with a 6 s slice lease. Node B serves two
gateways, `pgw-b` (which holds a gateway lease, as a cellplane gateway node does) and `pgw-c` (which does not); node A
serves `pgw-a`. B is killed with its sessions open. A, short of addresses, takes B's slices once their lease lapses
and fills the whole pool, skipping the addresses B's open sessions hold: the next attach is refused for want of an
address. Then `pgw-b`'s gateway lease lapses and the workers node's sweep closes its sessions in the database. A was
never told (no Stop reached it), yet within a slice lease it lets go of those addresses (network/aaa/slices.py,
`release_closed`) and hands them to new SIMs: exactly `pgw-b`'s old addresses, never one of `pgw-c`'s, whose
sessions are still open; no address is held by two open sessions at any point.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pyrad import packet as pyrad_packet

from tests.support.cluster import fetch, make_active_sims, shared_database, start_node
from tests.support.server import Server
from tests.unit.network.peers import USA as USA_PLMN
from tests.unit.network.peers import Pgw, framed_ip

POOL, SLICE, LEASE, TTL = "10.98.0.0/26", "28", "6", "2"
AT_B, AT_A, FILL, AFTER = 24, 20, 18, 12  # 24 + 20 + 18 = the pool's 62 addresses; then 12 more (pgw-b's)


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    yield from shared_database("a taken-over UE pool slice")


def pool_node(database_url: str, roles: str, data_dir: Path, token: str) -> Server:
    return start_node(
        database_url,
        roles,
        data_dir,
        token,
        CELLPLANE_UE_IP_POOL=POOL,
        CELLPLANE_UE_IP_POOL_SLICE=SLICE,
        CELLPLANE_UE_IP_POOL_LEASE=LEASE,
        CELLPLANE_UE_IP_LEASE_TTL=TTL,
        CELLPLANE_GATEWAY_SWEEP_INTERVAL="1",
    )


def pgw(node: Server, nas: str) -> Pgw:
    return Pgw(int(node.env["CELLPLANE_AAA_AUTH_PORT"]), int(node.env["CELLPLANE_AAA_ACCT_PORT"]), nas_identifier=nas)


def attach_and_start(node: Server, nas: str, imsi: str, within: float = 20.0) -> str:
    """Access-Request until accepted (every 3 s: under the AAA's 20 attaches a SIM a minute), then an accounting
    Start with the address given, answered once the session is in the database."""
    gateway = pgw(node, nas)
    deadline = time.monotonic() + within
    while True:
        reply = gateway.access(imsi, USA_PLMN)
        if reply.code == pyrad_packet.AccessAccept:
            break
        assert time.monotonic() < deadline, f"{imsi} got no address at {nas}: {reply.get('Reply-Message')}"
        time.sleep(3)
    address = framed_ip(reply)
    started = gateway.send(gateway.accounting_request(1, imsi, f"{nas}-{imsi}", plmn=USA_PLMN, address=address))
    assert started.code == pyrad_packet.AccountingResponse
    return address


def open_sessions(database_url: str) -> list[tuple[str, str]]:
    """(ue_ip, nas_id) of every open data session, checked for an address held twice."""
    rows = [
        (r["ue_ip"], r["nas_id"])
        for r in fetch(database_url, "SELECT ue_ip, nas_id FROM data_sessions WHERE status = 'open'")
    ]
    assert len({ip for ip, _ in rows}) == len(rows), sorted(rows)
    return rows


def test_taken_over_slice_releases_addresses_of_sessions_closed_by_the_sweep(database_url: str, tmp_path: Path) -> None:
    started = time.monotonic()
    token = os.urandom(16).hex()
    api = pool_node(database_url, "api,workers", tmp_path / "api", token)
    nodes: list[Server] = []
    try:
        _, sims = make_active_sims(api, AT_B + AT_A + FILL + AFTER)
        imsis = [imsi for _, _, imsi in sims]
        at_b, at_a = imsis[:AT_B], imsis[AT_B : AT_B + AT_A]
        fill, after = imsis[AT_B + AT_A : AT_B + AT_A + FILL], imsis[AT_B + AT_A + FILL :]
        # pgw-b is a gateway with a lease (renewed while it lives); pgw-c has none: the sweep never closes its sessions.
        fetch(
            database_url,
            "INSERT INTO singleton_leases (name, epoch, holder, lease_until) "
            "VALUES ('gateway:pgw-b', 1, 'node-b', timezone('utc', now()) + interval '1 hour')",
        )
        nodes = [pool_node(database_url, "aaa", tmp_path / name, token) for name in ("aaa-a", "aaa-b")]
        a, b = nodes
        jobs = [(b, "pgw-b" if i % 2 else "pgw-c", imsi) for i, imsi in enumerate(at_b)]
        jobs += [(a, "pgw-a", imsi) for imsi in at_a]
        with ThreadPoolExecutor(8) as workers:
            given = list(workers.map(lambda job: attach_and_start(*job), jobs))
        by_nas: dict[str, set[str]] = {"pgw-a": set(), "pgw-b": set(), "pgw-c": set()}
        for (_, nas, _), address in zip(jobs, given, strict=True):
            by_nas[nas].add(address)
        assert len(open_sessions(database_url)) == AT_B + AT_A

        # B dies with its sessions open. A takes its slices once their lease lapses and fills the pool.
        b.stop(kill=True)
        with ThreadPoolExecutor(6) as workers:
            filled = list(workers.map(lambda imsi: attach_and_start(a, "pgw-a", imsi, within=40.0), fill))
        assert not set(filled) & (by_nas["pgw-b"] | by_nas["pgw-c"]), "an address of B's open sessions given again"
        assert len(open_sessions(database_url)) == AT_B + AT_A + FILL == 62
        refused = pgw(a, "pgw-a").access(after[0], USA_PLMN)
        assert refused.code == pyrad_packet.AccessReject, "the pool is full: no address to give"

        # pgw-b's lease lapses: the sweep closes its sessions in the database (A hears nothing of it).
        fetch(
            database_url,
            "UPDATE singleton_leases SET lease_until = timezone('utc', now()) WHERE name = 'gateway:pgw-b'",
        )
        swept_at = time.monotonic()
        with ThreadPoolExecutor(6) as workers:
            later = list(workers.map(lambda imsi: attach_and_start(a, "pgw-a", imsi, within=45.0), after))
        reused_in = time.monotonic() - swept_at
        # Exactly the swept sessions' addresses came back, none held by an open session (pgw-c's stay taken).
        assert set(later) <= by_nas["pgw-b"], sorted(set(later) - by_nas["pgw-b"])
        assert len(set(later)) == AFTER
        held = open_sessions(database_url)
        assert {nas for _, nas in held} == {"pgw-a", "pgw-c"}
        assert {ip for ip, nas in held if nas == "pgw-c"} == by_nas["pgw-c"]
        print(f"\nswept addresses handed out again {reused_in:.1f} s after the gateway lease lapsed; "
              f"test {time.monotonic() - started:.0f} s")  # fmt: skip
    finally:
        for node in nodes:
            node.stop()
        api.stop()
