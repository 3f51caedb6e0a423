"""The conformance harness: an official spec as the platform documents it, extra checks, realistic inputs.

One harness for both surfaces: `documented_spec(surface)` gives Super SIM's (`RAW`) or Wireless's
(`WIRELESS_RAW`); the checks read the spec of the operation they check; `aim_at_real_resources` uses the
`Target` the test gives it (its account's resources, hostile keys shaped like that surface's sids).
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from scripts.spec_coverage import SPECS, SUPERSIM, Surface

from tests.compat.scope import WIRELESS
from tests.compat.target import Target

ERROR_SCHEMA = {
    "type": "object",
    "required": ["code", "message", "more_info", "status"],
    "additionalProperties": False,
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string", "minLength": 1},
        "more_info": {"type": "string", "format": "uri"},
        "status": {"type": "integer"},
    },
}
# Bad input, no credentials, no such resource: any operation. Refused by the rules, name taken: writes only.
PLATFORM_ERRORS = {
    "get": ("400", "401", "404"),
    "post": ("400", "401", "403", "404", "409"),
    "delete": ("400", "401", "404"),
}
# Path placeholders are named after what they address; form and query parameters by these names.
PARAMETER_KINDS = {
    "Sim": "Sims",
    "SimSid": "Sims",
    "Fleet": "Fleets",
    "NetworkAccessProfile": "NetworkAccessProfiles",
    "Network": "Networks",
    "Networks": "Networks",
    "RatePlan": "RatePlans",
}
# Keys that no resource can have but that break stores that pass them on unchecked: PostgreSQL refuses NUL
# in text (SQLite does not), a well-formed sid of another account, a LIKE wildcard, a very long key.
HOSTILE_KEYS = ("\x00", "HS\x0000", "HS" + "0" * 32, "HF" + "f" * 32, "%", "_" * 34, "x" * 4000)
WIRELESS_HOSTILE_KEYS = (
    "\x00",
    "DE\x0000",
    "DE" + "0" * 32,
    "WP" + "f" * 32,
    "DC" + "0" * 32,
    "%",
    "_" * 34,
    "x" * 4000,
)


def documented_spec(surface: Surface = SUPERSIM) -> dict[str, Any]:
    """The official spec with the platform's error responses added and its remote servers removed."""
    spec: dict[str, Any] = copy.deepcopy(json.loads((SPECS / surface.spec_file).read_text()))
    spec.pop("servers", None)
    if surface == SUPERSIM:
        # Issue 4 adds why an IP Command failed (or its callback did) to the resource: two documented extensions.
        for command in ("supersim.v1.ip_command", "supersim.v1.sms_command"):  # SMS Commands carry the same two
            spec["components"]["schemas"][command]["properties"].update(
                {
                    "error_code": {"type": "integer", "nullable": True},
                    "error_message": {"type": "string", "nullable": True},
                }
            )
    for component in spec["components"]["schemas"].values():
        # An enum whose own description says it "Can be: null or ..." (Wireless `reset_status`, null in the spec's
        # examples) is nullable: OpenAPI 3.0 ignores `nullable` beside the $ref that points at it.
        if "enum" in component and "Can be: null" in component.get("description", ""):
            component["nullable"] = True
    for item in spec["paths"].values():
        item.pop("servers", None)
        for method, operation in item.items():
            for status in PLATFORM_ERRORS.get(method, ()):
                operation["responses"].setdefault(
                    status,
                    {
                        "description": "Platform error",
                        "content": {"application/json": {"schema": ERROR_SCHEMA}},
                    },
                )
    return spec


RAW = documented_spec()
WIRELESS_RAW = documented_spec(WIRELESS)


def resolve(node: Any, root: dict[str, Any] = RAW) -> Any:
    """Follow local `$ref`s (#/components/schemas/...) of the spec `root` to the schema they name."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = root
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def missing_and_unexpected(body: Any, node: Any, where: str = "body", root: dict[str, Any] = RAW) -> Iterator[str]:
    """Every property a spec object schema declares must be present, and no other; recursing into lists."""
    node = resolve(node, root)
    if isinstance(body, list) and isinstance(node, dict) and "items" in node:
        for index, item in enumerate(body):
            yield from missing_and_unexpected(item, node["items"], f"{where}[{index}]", root)
    if not isinstance(body, dict) or not isinstance(node, dict) or "properties" not in node:
        return
    declared = node["properties"]
    for name in sorted(set(declared) - set(body)):
        yield f"{where}.{name} is missing"
    for name in sorted(set(body) - set(declared)):
        yield f"{where}.{name} is not in the spec"
    for name in sorted(set(declared) & set(body)):
        yield from missing_and_unexpected(body[name], declared[name], f"{where}.{name}", root)


def every_spec_field(ctx: CheckContext, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """DESIGN.md: every spec field present (null when unknown), none invented."""
    root: dict[str, Any] = case.operation.schema.raw_schema  # the spec of the surface under test
    responses = root["paths"][case.operation.path][case.method.lower()]["responses"]
    declared = responses.get(str(response.status_code), {}).get("content", {}).get("application/json")
    if response.status_code >= 300 or declared is None:
        return
    problems = list(missing_and_unexpected(response.json(), declared["schema"], root=root))
    assert not problems, "Response fields differ from the spec: " + "; ".join(problems)


def platform_error_body(ctx: CheckContext, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """An error body repeats its HTTP status and carries the platform's code for it (DESIGN.md)."""
    if response.status_code < 400:
        return
    body = response.json()
    assert body.get("status") == response.status_code, f"error body status {body.get('status')!r}"
    expected_code = {401: 20003, 404: 20404}.get(response.status_code)
    if expected_code is not None:
        assert body.get("code") == expected_code, f"{response.status_code} with code {body.get('code')!r}"


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    every_spec_field,
    platform_error_body,
]


def kind_of(path: str, placeholder: str) -> str:
    """What a path placeholder addresses: the collection just before it (/v1/Sims/{SimSid}/... -> Sims)."""
    segments = path.split("/")
    return segments[segments.index("{" + placeholder + "}") - 1]


def aim_at_real_resources(case: schemathesis.Case, data: st.DataObject, target: Target) -> None:
    """Swap generated identifiers and values for the account's real ones, most of the time, as Hypothesis draws."""

    def real_or(name: str, original: Any, choices: list[Any], hostile: tuple[str, ...] = ()) -> Any:
        # Mostly a real resource; else what schemathesis generated (garbage, near-misses, other accounts' sids)
        # or, for keys, a value known to break careless stores. Hypothesis leans to the first option.
        options = ["real", "real", "generated", "hostile" if hostile else "generated"] if choices else ["generated"]
        pick = data.draw(st.sampled_from(options), label=f"{name}: where from")
        if pick == "generated":
            return original
        return data.draw(st.sampled_from(hostile if pick == "hostile" else choices), label=name)

    hostile = WIRELESS_HOSTILE_KEYS if target.mount == "/wireless" else HOSTILE_KEYS
    changes = case.method != "GET" and bool(case.path_parameters)
    for name, value in (case.path_parameters or {}).items():
        kind = kind_of(case.operation.path, name)
        pool = target.scratch.get(kind) if changes else None
        case.path_parameters[name] = real_or(name, value, pool or target.stable.get(kind, []), hostile)
    for container in (case.query, case.body):
        if not isinstance(container, dict):
            continue
        for name, value in list(container.items()):
            if name in PARAMETER_KINDS:
                choices = target.stable.get(PARAMETER_KINDS[name], [])
                if isinstance(value, list):  # Networks: a repeated parameter
                    container[name] = real_or(name, value, [choices[:1], choices[1:3], choices])
                else:
                    container[name] = real_or(name, value, choices, hostile)
            elif name in target.values:
                container[name] = real_or(name, value, target.values[name])
    operation_id = case.operation.definition.raw.get("operationId")
    if operation_id == "CreateSim" and isinstance(case.body, dict):
        pair = real_or("Registration", None, target.registrations())
        if pair is not None:
            case.body["Iccid"], case.body["RegistrationCode"] = pair
    if operation_id == "CreateCommand" and isinstance(case.body, dict) and "Sim" not in case.body:
        # The spec requires only Command, but a Command goes to a Sim: name one of the account's, mostly.
        sim = real_or("Sim", None, target.stable.get("Sims", []))
        if sim is not None:
            case.body["Sim"] = sim


def could_name_a_host(value: object) -> bool:
    """Whether a URL parser might read a host from the value.

    Judged as the server's forms judge (urlsplit, which drops tabs and newlines first) and more widely:
    any "//" at all, or a value urlsplit refuses.
    """
    text = str(value)
    if "//" in text:
        return True
    try:
        return bool(urlsplit(text).netloc)
    except ValueError:
        return True


def keep_callbacks_local(case: schemathesis.Case, sink: str) -> None:
    """Any value that could name a host in a `*Url` parameter goes to the local sink instead.

    The platform calls these back (SIM update and eSIM callbacks); the house rule is that tests never send
    traffic beyond 127.0.0.1. Other values cannot be absolute URLs: they stay as generated (and are refused).
    """
    for container in (case.query, case.body):
        if not isinstance(container, dict):
            continue
        for name, value in container.items():
            if name.lower().endswith("url") and could_name_a_host(value):
                container[name] = sink


def schemathesis_config(seed: int, max_examples: int) -> schemathesis.Config:
    """A small, seeded, derandomized batch of positive and negative requests per operation."""
    return schemathesis.Config.from_dict(
        {
            "seed": seed,
            "request-timeout": 15,
            "generation": {
                "mode": "all",
                "max-examples": max_examples,
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


def conform(case: schemathesis.Case, data: st.DataObject, target: Target, outcomes: dict[str, Counter[int]]) -> None:
    """Send one generated request at `target`'s account (aimed at its resources, callbacks kept local), count its
    status for `every_operation_reached`, and check the answer."""
    aim_at_real_resources(case, data, target)
    keep_callbacks_local(case, target.callback_url)
    if target.headers:  # a Bearer token instead of Basic (test_bearer_conformance.py)
        response = case.call(base_url=target.base_url, headers=target.headers)
    else:
        response = case.call(base_url=target.base_url, auth=target.auth)
    label = f"{target.mount} {case.operation.label} [{target.server.backend}]"
    outcomes.setdefault(label, Counter())[response.status_code] += 1
    case.validate_response(response, checks=CHECKS)


def every_operation_reached(outcomes: dict[str, Counter[int]], mount: str) -> None:
    """The checks are only worth something if some answers were successes, not all 400s and 404s (of the
    operations of the surface served at `mount` that ran)."""
    ran = {label: seen for label, seen in outcomes.items() if seen and label.startswith(mount + " ")}
    if not ran:
        pytest.skip("no conformance test ran in this session")
    never = {label: dict(seen) for label, seen in ran.items() if not any(200 <= status < 300 for status in seen)}
    assert not never, f"operations that never answered 2xx: {never}"
