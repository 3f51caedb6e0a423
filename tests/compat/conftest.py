"""Fixtures of the conformance tests: the fuzzed accounts, a local callback sink; placeholders reported xfail."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from scripts.spec_coverage import SUPERSIM

from tests.compat.scope import WIRELESS, in_scope, unrouted
from tests.compat.target import CallbackSink, Target, build_target, build_wireless_target
from tests.support.server import Server

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def callback_sink() -> Iterator[str]:
    """URL of an HTTP server on 127.0.0.1 that takes every callback the fuzzed requests cause."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), CallbackSink)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/callbacks"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="session")
def supersim_target(server: Server, callback_sink: str) -> Target:
    return build_target(server, callback_sink)


@pytest.fixture(scope="session")
def wireless_target(server: Server, callback_sink: str) -> Target:
    return build_wireless_target(server, callback_sink)


@pytest.fixture(scope="session")
def outcomes() -> dict[str, Counter[int]]:
    """Status codes seen per surface, operation and backend, for the reachability test at the end of each module.

    Session-wide: pytest groups the backends' tests of both modules together, which would tear down and remake a
    module-scoped fixture between a module's fuzzing and its reachability test."""
    return {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A conformance test of an operation whose module is still a placeholder is reported xfail, not run.

    Items are named after the operation (`test_operation_conforms[GET /v1/Fleets][sqlite]`). Whether the
    operation is routed at all is asserted by test_spec_coverage.py; this only keeps the report readable.
    """
    modules = {"test_supersim_conformance.py": SUPERSIM, "test_wireless_conformance.py": WIRELESS}
    for item in items:
        surface = modules.get(item.path.name)
        if surface is None or HERE not in item.path.parents:
            continue
        pending = {op.label: op.operation_id for op in in_scope(surface) if op.operation_id in unrouted(surface)}
        label = item.name.partition("[")[2].partition("]")[0]
        if label in pending:
            item.add_marker(pytest.mark.xfail(reason=f"{pending[label]}: no route yet (placeholder)", run=False))
