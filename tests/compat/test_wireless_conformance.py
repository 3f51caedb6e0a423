"""Schemathesis against the official Programmable Wireless spec: every response conforms, no input gets a 5xx.

The same harness as the Super SIM conformance test (its docstring explains the narrow exceptions to the spec:
the platform's documented error statuses and body, no remote server, every field required), aimed at a Wireless
account (`target.build_wireless_target`): SIMs provisioned to it, rate plans, an active SIM with Commands.
Bounded: a few seeded, derandomized examples per operation.
"""

from __future__ import annotations

from collections import Counter

import schemathesis
from hypothesis import strategies as st

from tests.compat.harness import WIRELESS_RAW, conform, every_operation_reached, schemathesis_config
from tests.compat.scope import WIRELESS, in_scope
from tests.compat.target import Target

MAX_EXAMPLES = 10
SEED = 20240603
schema = schemathesis.openapi.from_dict(WIRELESS_RAW, config=schemathesis_config(SEED, MAX_EXAMPLES)).include(
    operation_id=[op.operation_id for op in in_scope(WIRELESS)]
)


@schema.parametrize()
@schema.given(data=st.data())
def test_operation_conforms(
    case: schemathesis.Case,
    data: st.DataObject,
    wireless_target: Target,
    outcomes: dict[str, Counter[int]],
) -> None:
    conform(case, data, wireless_target, outcomes)


def test_every_operation_reached_a_real_resource(outcomes: dict[str, Counter[int]]) -> None:
    every_operation_reached(outcomes, WIRELESS.mount)
