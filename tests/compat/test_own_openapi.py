"""Schemathesis against cellplane's own /openapi.json (issue 14, finding 4).

Every operation the document lists gets a few seeded positive and negative requests: no answer may be a 5xx,
use a status the document does not list, or have a body outside the documented schema. Generated identifiers
are swapped for the accounts' real resources most of the time (the conformance targets), so success bodies are
checked too; `*Url` values go to the local sink; the operator's operations run with the operator's token (and a
small Count, since provisioning is bounded only by the documented maximum). SQLite only, and few examples per
operation: the whole run stays well under a minute.
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.compat.harness import aim_at_real_resources, keep_callbacks_local, schemathesis_config
from tests.compat.target import Target, build_target, build_wireless_target
from tests.support.server import Server

CONFIG = schemathesis_config(seed=20261206, max_examples=3)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def own_document() -> dict[str, Any]:
    """The document `cellplane up` serves, built in-process (the same generator, nothing listens); the first test
    checks it is byte for byte what the running server answers at /openapi.json."""
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from cellplane.api.app import create_app
    from cellplane.services.context import PlatformContext

    return create_app(PlatformContext(sessions=async_sessionmaker())).openapi()


DOCUMENT = own_document()
# schemathesis works on (and may change) the dict it is given: a copy, so DOCUMENT stays what the server serves.
schema = schemathesis.openapi.from_dict(copy.deepcopy(DOCUMENT), config=CONFIG)


def test_the_server_serves_this_document(server: Server) -> None:
    served = httpx.get(f"{server.base_url}/openapi.json", timeout=30)
    assert served.status_code == 200 and served.json() == DOCUMENT


@pytest.fixture(scope="module")
def own_targets(server: Server, callback_sink: str) -> tuple[Target, Target]:
    """Accounts of this module's own (the conformance modules' targets would lose the resources fuzzed here)."""
    if server.backend != "sqlite":
        pytest.skip("the document is the same on every backend; fuzzed once, on SQLite")
    return build_target(server, callback_sink), build_wireless_target(server, callback_sink)


@schema.parametrize()
@schema.given(data=st.data())
def test_own_document_holds(
    case: schemathesis.Case, data: st.DataObject, server: Server, own_targets: tuple[Target, Target]
) -> None:
    supersim_target, wireless_target = own_targets
    path = case.operation.path
    auth: tuple[str, str] | None = None
    if path.startswith("/wireless/"):
        target: Target | None = wireless_target
    elif path.startswith(("/supersim/", "/cellplane/")):
        target = supersim_target
    else:
        target = None
    if target is not None:
        auth = target.auth
        # The harness aims at the spec's paths (/v1/...): the same placeholders, read under the mount.
        aim_at_real_resources(case, data, target)
    elif path.startswith("/admin/"):
        auth = ("admin", server.env["CELLPLANE_ADMIN_TOKEN"])
        count = case.body.get("Count") if isinstance(case.body, dict) else None
        if isinstance(count, int) and count > 5:  # a valid but large Count: a few SIMs show the same answer
            case.body["Count"] = 2
    keep_callbacks_local(case, supersim_target.callback_url)
    response = case.call(base_url=server.base_url, auth=auth)
    case.validate_response(response, checks=CHECKS)
