"""Schemathesis against the official Super SIM spec: every response conforms, no input gets a 5xx.

Each operation in scope (`scope.py`) gets a small, seeded, derandomized batch of positive and negative
requests, sent with real credentials to the running platform. A share of them is aimed at the account's
real SIMs, fleets, NAPs and networks (`harness.aim_at_real_resources`) so that the 2xx bodies, not only the 404s,
are checked against the spec.

Where the official spec cannot be used as is, the exception is narrow (in harness.py) and explained:

- The spec documents only the success status of each operation. The platform documents its error body
  (https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions: `code`, `message`,
  `more_info`, `status`) and DESIGN.md lists which statuses mean what, so `PLATFORM_ERRORS` adds those
  statuses, with that body as a closed schema, to each operation. 405, 415, 422, 5xx and a 200 where
  201 is due are still failures.
- The spec names `https://supersim.twilio.com` as its server; it is removed so that nothing generated
  here can be sent anywhere but 127.0.0.1, and every `*Url` value is pointed at a local sink.
- The spec's response schemas declare no `required` fields; DESIGN.md requires every field present
  (null when unknown), so `every_spec_field` adds that on top.
"""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import strategies as st

from tests.compat.harness import CHECKS, RAW, aim_at_real_resources, keep_callbacks_local
from tests.compat.scope import in_scope
from tests.compat.target import Target

MAX_EXAMPLES = 15
SEED = 20240601
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "request-timeout": 15,
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
            "no-shrink": False,
            # Credentials are ours (sent with every call); random Authorization headers would only buy 401s.
            "with-security-parameters": False,
        },
        # Explicit spec examples cannot be combined with `given`; the coverage phase would multiply the budget.
        "phases": {"examples": {"enabled": False}, "coverage": {"enabled": False}, "stateful": {"enabled": False}},
    }
)
schema = schemathesis.openapi.from_dict(RAW, config=CONFIG).include(operation_id=[op.operation_id for op in in_scope()])


@pytest.fixture(scope="module")
def outcomes() -> dict[str, Counter[int]]:
    """Status codes seen per operation and backend, for the reachability test at the end of the module."""
    return {}


@schema.parametrize()
@schema.given(data=st.data())
def test_operation_conforms(
    case: schemathesis.Case,
    data: st.DataObject,
    supersim_target: Target,
    outcomes: dict[str, Counter[int]],
) -> None:
    aim_at_real_resources(case, data, supersim_target)
    keep_callbacks_local(case, supersim_target.callback_url)
    response = case.call(base_url=supersim_target.base_url, auth=supersim_target.auth)
    outcomes.setdefault(f"{case.operation.label} [{supersim_target.server.backend}]", Counter())[
        response.status_code
    ] += 1
    case.validate_response(response, checks=CHECKS)


def test_every_operation_reached_a_real_resource(outcomes: dict[str, Counter[int]]) -> None:
    """The checks above are only worth something if some answers were successes, not all 400s and 404s."""
    ran = {label: seen for label, seen in outcomes.items() if seen}
    if not ran:
        pytest.skip("no conformance test ran in this session")
    never = {label: dict(seen) for label, seen in ran.items() if not any(200 <= status < 300 for status in seen)}
    assert not never, f"operations that never answered 2xx: {never}"
