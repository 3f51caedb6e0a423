"""A gateway node killed with SIGKILL sends no Accounting-Stop; its sessions are closed in the database within its
lease + 10 s by another node's sweep (issue 21: services/gateway_leases.py, jobs/gateway_sweep.py).

Devices attach over GTP (the emulator in the test process, as the RAN would) at a node running the AAA and the
gateway; an API and workers node runs the sweep. The gateway's lease is 4 s here (30 s by default), the sweep
every second. The sessions of another gateway, alive, are left open.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import fetch, make_active_sims, shared_database, start_node
from tests.support.radio import Radio
from tests.support.server import Server

LEASE = 4.0
DEVICES = 6


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    yield from shared_database("a gateway's death is seen through the shared PostgreSQL")


def open_sessions(database_url: str) -> dict[str, str]:
    """imsi -> NAS-Identifier of every open data session."""
    rows = fetch(database_url, "SELECT imsi, nas_id FROM data_sessions WHERE status = 'open'")
    return {row["imsi"]: row["nas_id"] for row in rows}


def test_a_killed_gateways_sessions_are_closed_within_its_lease_and_ten_seconds(
    database_url: str, tmp_path: Path
) -> None:
    token = os.urandom(16).hex()
    lease = {"CELLPLANE_GATEWAY_LEASE": str(LEASE), "CELLPLANE_GATEWAY_SWEEP_INTERVAL": "1"}
    workers = start_node(database_url, "api,workers", tmp_path / "workers", token, **lease)
    nodes: list[Server] = []
    radios: list[Radio] = []
    try:
        _, sims = make_active_sims(workers, 2 * DEVICES)
        # Two edge nodes (AAA + gateway, each its own slice of the UE pool and its own NAS-Identifier).
        nodes = [start_node(database_url, "aaa,gateway", tmp_path / f"edge{i}", token, **lease) for i in (1, 2)]
        radios = [Radio(node).start() for node in nodes]
        for i, (_, iccid, imsi) in enumerate(sims):
            radios[i % 2].attach(iccid, imsi)
        deadline = time.monotonic() + 15
        while len(live := open_sessions(database_url)) < 2 * DEVICES:
            assert time.monotonic() < deadline, live
            time.sleep(0.2)
        dying_nas = live[sims[0][2]]
        surviving_nas = live[sims[1][2]]
        assert dying_nas != surviving_nas  # each gateway node its own NAS-Identifier
        dying = {imsi for imsi, nas in live.items() if nas == dying_nas}
        assert len(dying) == DEVICES

        victim = nodes[0]
        assert victim.process is not None
        victim.stop(kill=True)  # SIGKILL: no Accounting-Stop, no lease given back
        killed = time.monotonic()
        while dying & set(open_sessions(database_url)):
            assert time.monotonic() - killed < LEASE + 10, "the dead gateway's sessions are still open"
            time.sleep(0.2)
        took = time.monotonic() - killed
        print(f"\nsessions of a killed gateway closed {took:.1f} s after the kill (lease {LEASE:.0f} s)")
        # Not before its lease could lapse (a renewal every third of it), and the survivor's are untouched.
        assert took > LEASE / 3
        assert set(open_sessions(database_url)) == {imsi for imsi, nas in live.items() if nas == surviving_nas}
        closed = fetch(
            database_url,
            "SELECT terminate_cause, \"end\" FROM data_sessions WHERE nas_id = $1 AND status = 'closed'",
            dying_nas,
        )
        assert len(closed) == DEVICES and {row["terminate_cause"] for row in closed} == {"Lost-Service"}
        assert all(row["end"] is not None for row in closed)
        ended = fetch(
            database_url,
            "SELECT imsi FROM connection_events WHERE event_type = 'session_ended' AND imsi = ANY($1::text[])",
            sorted(dying),
        )
        assert {row["imsi"] for row in ended} == dying
    finally:
        for radio in radios:
            radio.close()
        for node in nodes:
            node.stop()
        workers.stop()
