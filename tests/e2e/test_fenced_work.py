"""Fenced work (issue 21) on SQLite and PostgreSQL, the quick check: two runner processes on one database, each
stopped with SIGSTOP now and then for longer than the lease (a live runner renews its leases, so only a paused or
dead one loses its jobs; a few handlers are also slower than the lease, and keep their job), and no job's final
status written by a stale claim; two holders of a singleton lease whose epochs strictly increase and whose writes
never overlap. The scenario is tests/support/fencing.py.

Counts: JOBS jobs per backend (1,000; the issue's 10,000 run on PostgreSQL in tests/cluster/test_fenced_work_scale.py);
two processes, a 0.5 s lease, 15% of runs failing and retried; the file takes about a minute on a quiet 2-core
machine, more under load.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.db import migrated_database
from tests.support.fencing import jobs_scenario, singleton_scenario

JOBS = 1_000
LEASE = 0.5


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from migrated_database(request.param, tmp_path_factory.mktemp("fencing"))


def test_no_final_status_from_a_stale_claim(database_url: str, tmp_path: Path) -> None:
    print("\n" + jobs_scenario(database_url, tmp_path, JOBS, LEASE, seconds=120))


def test_singleton_epochs_increase_and_never_overlap(database_url: str, tmp_path: Path) -> None:
    print("\n" + singleton_scenario(database_url, tmp_path, LEASE, holding=5, seconds=60))
