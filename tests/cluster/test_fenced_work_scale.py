"""Fenced work at the issue's scale (issue 21): 10,000 jobs run by two runner processes on one PostgreSQL database,
each stopped (SIGSTOP) at random for longer than the lease, and no job's final status written by a stale claim;
two holders of a singleton lease for 30 s, whose epochs strictly increase and whose writes never overlap.

The scenario and its checks are tests/support/fencing.py (the quick 1,000-job check on SQLite and PostgreSQL is
tests/e2e/test_fenced_work.py). A few minutes on a quiet 2-core machine.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.db import migrated_database
from tests.support.fencing import jobs_scenario, singleton_scenario

JOBS = 10_000
LEASE = 0.5


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from migrated_database("postgres", tmp_path_factory.mktemp("fencing"))


@pytest.mark.timeout(1200)
def test_ten_thousand_jobs_no_final_status_from_a_stale_claim(database_url: str, tmp_path: Path) -> None:
    started = time.monotonic()
    summary = jobs_scenario(database_url, tmp_path, JOBS, LEASE, seconds=900)
    print(f"\n{summary} in {time.monotonic() - started:.0f} s")


@pytest.mark.timeout(300)
def test_singleton_epochs_increase_and_never_overlap(database_url: str, tmp_path: Path) -> None:
    print("\n" + singleton_scenario(database_url, tmp_path, LEASE, holding=30, seconds=120))
