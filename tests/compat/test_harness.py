"""The conformance harness itself: its extra checks fail on bad bodies, its spec sends nothing off-host."""

from __future__ import annotations

import schemathesis

from tests.compat.harness import (
    RAW,
    WIRELESS_RAW,
    could_name_a_host,
    keep_callbacks_local,
    missing_and_unexpected,
    resolve,
)
from tests.compat.scope import WIRELESS, in_scope

SIM_LIST = RAW["paths"]["/v1/Sims"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
SIM = {
    "sid": "HS" + "0" * 32,
    "unique_name": None,
    "account_sid": "AC" + "0" * 32,
    "iccid": "89883070000123456789",
    "status": "new",
    "fleet_sid": None,
    "date_created": "2015-07-30T20:00:00Z",
    "date_updated": "2015-07-30T20:00:00Z",
    "url": "http://127.0.0.1/supersim/v1/Sims/HS" + "0" * 32,
    "links": {"billing_periods": "http://127.0.0.1/x", "sim_ip_addresses": "http://127.0.0.1/y"},
}
META = {
    "page": 0,
    "page_size": 50,
    "first_page_url": "http://127.0.0.1/a",
    "previous_page_url": None,
    "url": "http://127.0.0.1/a",
    "next_page_url": None,
    "key": "sims",
}


def test_a_complete_list_body_has_no_field_problems() -> None:
    assert list(missing_and_unexpected({"sims": [SIM, SIM], "meta": META}, SIM_LIST)) == []


def test_missing_and_invented_fields_are_named_down_to_list_items() -> None:
    partial = {key: value for key, value in SIM.items() if key != "fleet_sid"}
    body = {"sims": [SIM, {**partial, "fleetSid": None}], "meta": {**META, "extra": 1}}
    assert list(missing_and_unexpected(body, SIM_LIST)) == [
        "body.meta.extra is not in the spec",
        "body.sims[1].fleet_sid is missing",
        "body.sims[1].fleetSid is not in the spec",
    ]


def test_the_specs_under_test_name_no_remote_server_and_document_platform_errors() -> None:
    for raw, operations in ((RAW, in_scope()), (WIRELESS_RAW, in_scope(WIRELESS))):
        assert "servers" not in raw
        assert all("servers" not in item for item in raw["paths"].values())
        assert operations
        for op in operations:
            responses = raw["paths"][op.path][op.method.lower()]["responses"]
            assert {"400", "401", "404"} <= set(responses), op.label
            assert any(status.startswith("2") for status in responses), op.label


def test_an_enum_documented_as_possibly_null_accepts_null_and_no_other_does() -> None:
    sim = WIRELESS_RAW["components"]["schemas"]["wireless.v1.sim"]["properties"]
    assert resolve(sim["reset_status"], WIRELESS_RAW)["nullable"] is True  # "Can be: null or `resetting`"
    assert "nullable" not in resolve(sim["status"], WIRELESS_RAW)
    assert not any(schema.get("nullable") for name, schema in RAW["components"]["schemas"].items() if "enum" in schema)


def test_callback_urls_that_could_name_a_host_are_redirected_to_the_sink() -> None:
    operation = schemathesis.openapi.from_dict(RAW)["/v1/Sims/{Sid}"]["POST"]
    case = operation.Case(
        path_parameters={"Sid": "HS" + "0" * 32},
        body={"CallbackUrl": "HTTPS://example.com/hook", "UniqueName": "http://not-a-callback", "Status": "active"},
    )
    keep_callbacks_local(case, "http://127.0.0.1:9/sink")
    assert case.body == {
        "CallbackUrl": "http://127.0.0.1:9/sink",
        "UniqueName": "http://not-a-callback",
        "Status": "active",
    }
    case = operation.Case(path_parameters={"Sid": "x"}, body={"CallbackUrl": "no-host-here"})
    keep_callbacks_local(case, "http://127.0.0.1:9/sink")
    assert case.body == {"CallbackUrl": "no-host-here"}


def test_anything_a_url_parser_could_read_a_host_from_counts_as_one() -> None:
    for value in ("http://a", "//a", "http:/\t/evil.example", "https://[::1", ["x", "http://b"], "mailto://x"):
        assert could_name_a_host(value), value
    for value in ("", "no-host-here", "http:/a", "/just/a/path", 42):
        assert not could_name_a_host(value), value
