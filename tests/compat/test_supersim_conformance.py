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

import schemathesis
from hypothesis import strategies as st
from scripts.spec_coverage import SUPERSIM

from tests.compat.harness import RAW, conform, every_operation_reached, schemathesis_config
from tests.compat.scope import in_scope
from tests.compat.target import Target

MAX_EXAMPLES = 15
SEED = 20240601
CONFIG = schemathesis_config(SEED, MAX_EXAMPLES)
schema = schemathesis.openapi.from_dict(RAW, config=CONFIG).include(operation_id=[op.operation_id for op in in_scope()])


@schema.parametrize()
@schema.given(data=st.data())
def test_operation_conforms(
    case: schemathesis.Case,
    data: st.DataObject,
    supersim_target: Target,
    outcomes: dict[str, Counter[int]],
) -> None:
    conform(case, data, supersim_target, outcomes)


def test_every_operation_reached_a_real_resource(outcomes: dict[str, Counter[int]]) -> None:
    every_operation_reached(outcomes, SUPERSIM.mount)
