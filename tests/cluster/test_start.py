"""The cluster fixture itself (issue 21): up in at most 30 s, every node answering, the standby synchronous, and each
node running only its roles (an API node opens no RADIUS or GTP port; the others serve no API)."""

from __future__ import annotations

import httpx
import pytest

from tests.support.cluster import NODES, Cluster

START_BUDGET = 30.0  # seconds, from the issue
# The fixture starts in this test's setup: on a loaded machine that alone can pass pyproject's 300 s.
pytestmark = pytest.mark.timeout(900)


def test_the_cluster_starts_within_thirty_seconds(cluster: Cluster) -> None:
    phases = ", ".join(f"{name} at {at:.1f} s" for name, at in cluster.phases.items())
    print(f"\ncluster start: {cluster.started_in:.1f} s ({phases}); {cluster.start_cpu:.0f} CPU s")
    assert cluster.started_in <= START_BUDGET, f"the cluster took {cluster.started_in:.1f} s to start"
    assert cluster.database.sync_standby() is not None
    assert set(cluster.nodes) == set(NODES)
    for name, node in cluster.nodes.items():
        assert httpx.get(f"{node.base_url}/healthz", timeout=5).status_code == 200, name
