"""The cluster of issue 21 for every test of this directory (`make test-cluster`): a PostgreSQL primary and its
synchronous standby managed by Patroni with etcd, two API nodes (one of them running the workers), two AAA nodes
and two gateway nodes, each a `cellplane up --role ...` process on its own ports. Started once for the session
(the issue asks for at most 30 s) and removed afterwards: processes killed, directories deleted.

Skipped, with the reason shown, where it cannot run: not root (Patroni runs PostgreSQL as the postgres user),
no patroni/etcd (installed on the spot when root), no PostgreSQL 15 binaries.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import patroni
from tests.support.cluster import Cluster


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    reason = patroni.available()
    if reason:
        pytest.skip(reason)
    # Not under pytest's temporary directory: that is root's alone, and Patroni runs as postgres.
    root = Path(tempfile.gettempdir()) / f"cellplane-cluster-{uuid.uuid4().hex[:8]}"
    instance = Cluster(root / "nodes", patroni.PatroniCluster(root / "pg"))
    try:
        instance.start()
        phases = ", ".join(f"{name} at {at:.1f} s" for name, at in instance.phases.items())
        print(f"\ncluster started in {instance.started_in:.1f} s ({phases}); {instance.start_cpu:.0f} CPU s")
        yield instance
    finally:
        instance.stop()
        shutil.rmtree(root, ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The fixture's own test first (its start time is the one measured), the primary's loss last (the cluster has
    no standby after it)."""

    def rank(item: pytest.Item) -> int:
        name = item.nodeid
        return 0 if "tests/cluster/test_start.py" in name else 2 if "tests/cluster/test_failover.py" in name else 1

    items.sort(key=rank)
