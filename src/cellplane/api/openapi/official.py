"""Super SIM and Wireless documented from the official specs shipped in specs/ (Apache 2.0, see its README).

An operation the official spec has is copied whole (parameters, request body, response schemas and status
codes, security), its path served under the surface's mount. What cellplane changes or adds is marked
`x-cellplane`: the platform's error responses (the specs document only successes), the seed's six callback
methods where the spec says GET or POST (seeds/001), the two fields IP and SMS Commands carry beyond the spec
(why a command failed), and enums the spec's own words make nullable. Component names are given the surface's
prefix where the spec left it off, since both specs have a `sim_enum_status` of their own.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

from cellplane.api.openapi.common import error_responses
from cellplane.api.openapi.document import Operation, SurfaceDocs, anonymous
from cellplane.domain.callbacks import CALLBACK_METHODS

# Statuses the platform answers with its error body, besides each operation's own (DESIGN.md).
PLATFORM_ERRORS = {
    "GET": ("400", "401", "404", "429"),
    "POST": ("400", "401", "403", "404", "409", "429"),
    "DELETE": ("400", "401", "404", "429"),
}
# Fields cellplane's resources carry beyond the official schema (issue 4: why a command or its callback failed).
EXTRA_FIELDS = {
    "ip_command": {
        "error_code": {"type": "integer", "nullable": True, "x-cellplane": True},
        "error_message": {"type": "string", "nullable": True, "x-cellplane": True},
    },
    "sms_command": {
        "error_code": {"type": "integer", "nullable": True, "x-cellplane": True},
        "error_message": {"type": "string", "nullable": True, "x-cellplane": True},
    },
}


@cache
def official_spec(file_name: str) -> dict[str, Any]:
    text = resources.files("cellplane.api.openapi").joinpath("specs", file_name).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def official_surface(file_name: str, mount: str, title: str, operation_prefix: str) -> SurfaceDocs:
    """The SurfaceDocs of a surface served at `mount` (/supersim) whose spec paths start at /v1; operation ids get
    `operation_prefix` (both specs have a `ListSim`, and one document needs them unique)."""
    spec = copy.deepcopy(official_spec(file_name))
    namespace = _namespace(spec)
    renames = {name: name if name.startswith(namespace) else namespace + name for name in spec["components"]["schemas"]}
    spec = _renamed(spec, renames)
    schemas = {renames[name]: schema for name, schema in spec["components"]["schemas"].items()}
    _amend_schemas(schemas, namespace)
    by_template: dict[tuple[str, str], tuple[str, Operation]] = {}
    for spec_path, item in spec["paths"].items():
        for method, operation in item.items():
            if method.upper() not in ("GET", "POST", "DELETE", "PUT", "PATCH"):
                continue
            documented = mount + spec_path
            amended = _amend(method.upper(), operation)
            if "operationId" in amended:
                amended["operationId"] = operation_prefix + amended["operationId"]
            by_template[(method.upper(), anonymous(documented))] = (documented, amended)

    def describe(method: str, path: str) -> tuple[str, Operation] | None:
        found = by_template.get((method, anonymous(path)))
        return (found[0], copy.deepcopy(found[1])) if found else None

    return SurfaceDocs(
        prefix=mount + "/v1/",
        describe=describe,
        title=title,
        tags=[{**tag, "description": f"{title}, served at {mount}/v1"} for tag in spec.get("tags", [])],
        components={"schemas": schemas, "securitySchemes": spec["components"].get("securitySchemes", {})},
    )


def _namespace(spec: dict[str, Any]) -> str:
    """The prefix the spec's own resource schemas carry ("supersim.v1.")."""
    named = [name for name in spec["components"]["schemas"] if name.count(".") >= 2]
    return ".".join(named[0].split(".")[:2]) + "." if named else ""


def _renamed(node: Any, renames: dict[str, str]) -> Any:
    """Every `#/components/schemas/X` reference pointed at X's new name."""
    if isinstance(node, dict):
        result = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/schemas/"):
                name = value.removeprefix("#/components/schemas/")
                result[key] = "#/components/schemas/" + renames.get(name, name)
            else:
                result[key] = _renamed(value, renames)
        return result
    if isinstance(node, list):
        return [_renamed(value, renames) for value in node]
    return node


def _amend_schemas(schemas: dict[str, Any], namespace: str) -> None:
    for resource, fields in EXTRA_FIELDS.items():
        schema = schemas.get(f"{namespace}{resource}")
        if schema is not None:
            schema.setdefault("properties", {}).update(copy.deepcopy(fields))
    for schema in schemas.values():
        # An enum whose own description says it "Can be: null or ..." is nullable (Wireless `reset_status`, null
        # in the spec's examples); OpenAPI 3.0 ignores `nullable` beside the $ref that points at it.
        if "enum" in schema and "Can be: null" in schema.get("description", ""):
            schema["nullable"] = True
            schema["x-cellplane"] = "nullable, as the description says"


def _amend(method: str, operation: Operation) -> Operation:
    operation = copy.deepcopy(operation)
    operation.pop("servers", None)
    for status, response in error_responses(PLATFORM_ERRORS.get(method, ("400", "401", "404"))).items():
        if status not in operation["responses"]:
            operation["responses"][status] = {**response, "x-cellplane": True}
    body = operation.get("requestBody", {}).get("content", {})
    for media in body.values():
        for name, schema in media.get("schema", {}).get("properties", {}).items():
            if schema.get("format") == "http-method" or name.endswith("Method"):
                schema["enum"] = list(CALLBACK_METHODS)
                schema["x-cellplane"] = "the seed's six methods (seeds/001), not only GET and POST"
    return operation
