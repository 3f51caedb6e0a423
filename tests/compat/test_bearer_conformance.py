"""Schemathesis over both official specs again, every request with `Authorization: Bearer` (a token from the token
endpoint) instead of Basic: every response conforms and no input gets a 5xx. A smaller batch per operation than the
Basic runs (the generated inputs are the same kind; what changes is the credential path), to bound the run time."""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import strategies as st

from tests.compat.harness import RAW, WIRELESS_RAW, conform, schemathesis_config
from tests.compat.scope import WIRELESS, in_scope
from tests.compat.target import Target, build_target, build_wireless_target
from tests.support.identity import bearer, token_for
from tests.support.server import Server

MAX_EXAMPLES = 4
SEED = 20261206
CONFIG = schemathesis_config(SEED, MAX_EXAMPLES)
supersim = schemathesis.openapi.from_dict(RAW, config=CONFIG).include(
    operation_id=[op.operation_id for op in in_scope()]
)
wireless = schemathesis.openapi.from_dict(WIRELESS_RAW, config=CONFIG).include(
    operation_id=[op.operation_id for op in in_scope(WIRELESS)]
)
SEEN: dict[str, Counter[int]] = {}


def _with_bearer(target: Target) -> Target:
    _, token = token_for(target.server, target.auth, "admin", "24h")
    target.headers = bearer(token)
    return target


@pytest.fixture(scope="session")
def bearer_supersim(server: Server, callback_sink: str) -> Target:
    return _with_bearer(build_target(server, callback_sink))


@pytest.fixture(scope="session")
def bearer_wireless(server: Server, callback_sink: str) -> Target:
    return _with_bearer(build_wireless_target(server, callback_sink))


@supersim.parametrize()
@supersim.given(data=st.data())
def test_supersim_operation_conforms_with_bearer(
    case: schemathesis.Case, data: st.DataObject, bearer_supersim: Target
) -> None:
    conform(case, data, bearer_supersim, SEEN)


@wireless.parametrize()
@wireless.given(data=st.data())
def test_wireless_operation_conforms_with_bearer(
    case: schemathesis.Case, data: st.DataObject, bearer_wireless: Target
) -> None:
    conform(case, data, bearer_wireless, SEEN)


def test_bearer_requests_were_served() -> None:
    """The token was accepted: some answers were 2xx, none 401."""
    if not SEEN:
        pytest.skip("no Bearer conformance test ran in this session")
    statuses = Counter[int]()
    for seen in SEEN.values():
        statuses.update(seen)
    assert statuses[401] == 0 and sum(n for status, n in statuses.items() if 200 <= status < 300) > 0
