"""The OpenAPI description of /things/v1, derived from its route table and its conventions (THINGS.md).

Every route of this surface follows the same shape: JSON in and out, `id`/`createdAt`/`updatedAt` on each
resource, keyset pages `{items, nextPageToken}`, ETag/If-Match, and one error envelope. So an operation is
described from its method and path alone (a collection or one resource), and a route added later is documented
the day it lands; what a resource holds beyond its common fields is open (`additionalProperties`), and its
status codes and error bodies are exact.
"""

from __future__ import annotations

from typing import Any

from cellplane.api.openapi import common as c
from cellplane.api.openapi.document import Operation, SurfaceDocs
from cellplane.api.things_v1.wire import PREFIX

TAG = "things v1"
ERROR_NAME = "things.error"
RESOURCE_NAME = "things.resource"
ERROR_MEANINGS = {
    **c.ERROR_MEANINGS,
    "401": "No credentials, or wrong ones",
    "404": "No such resource for this account",
    "409": "Conflicts with the current state",
    "412": "If-Match no longer matches the resource's ETag: nothing was changed",
    "429": "Too many requests for this credential (Retry-After); not processed",
}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The surface's error envelope (THINGS.md): `info` names the field at fault",
    "required": ["transactionId", "status", "name", "message", "info"],
    "properties": {
        "transactionId": {"type": "string"},
        "status": {"type": "integer"},
        "name": {"type": "string"},
        "message": {"type": "string", "minLength": 1},
        "info": {"type": "string", "nullable": True},
    },
}
RESOURCE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A resource of this surface: its own fields (THINGS.md) beside these common ones",
    "required": ["id", "createdAt", "updatedAt"],
    "additionalProperties": True,
    "properties": {
        "id": {"type": "string"},
        "createdAt": {"type": "string", "format": "date-time"},
        "updatedAt": {"type": "string", "format": "date-time"},
    },
}
PAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["items", "nextPageToken"],
    "properties": {
        "items": {"type": "array", "items": {"type": "object"}},
        "nextPageToken": {"type": "string", "nullable": True},
    },
}
PAGE_PARAMETERS = [
    c.query("pageSize", {"type": "integer", "minimum": 1, "maximum": 1000}, "Items per page (default 50)"),
    c.query("pageToken", {"type": "string"}, "From the previous page's nextPageToken"),
]
IF_MATCH = {"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"}}
JSON_BODY = {"required": False, "content": {"application/json": {"schema": {"type": "object"}}}}


def _errors(*statuses: str) -> dict[str, Any]:
    return {
        status: {
            "description": ERROR_MEANINGS.get(status, "Platform error"),
            "content": {"application/json": {"schema": c.ref(ERROR_NAME)}},
        }
        for status in statuses
    }


def _one(description: str) -> dict[str, Any]:
    return c.json_response(description, c.ref(RESOURCE_NAME))


def _path_parameters(path: str) -> list[dict[str, Any]]:
    names = [segment[1:-1] for segment in path.split("/") if segment.startswith("{") and segment.endswith("}")]
    return [c.path(name, f"The {name} (an id; a Thing also by its ICCID)") for name in names]


def _responses(method: str, collection: bool) -> dict[str, Any]:
    if method == "GET":
        ok = c.json_response("A page of the collection", PAGE_SCHEMA) if collection else _one("The resource")
        return {"200": ok, **_errors("400", "401", "403", "404", "429")}
    if method == "DELETE":
        return {"204": {"description": "Deleted"}, **_errors("400", "401", "403", "404", "409", "412", "429")}
    changed = {
        "200": _one("Changed, in force"),
        "201": _one("Created"),
        "202": _one("Accepted: the network applies it in the background"),
    }
    return {**changed, **_errors("400", "401", "403", "404", "409", "412", "429")}


REPORT_PARAMETERS = [
    c.query("cycle", {"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$"}, "The billing cycle, a UTC month"),
    c.query("scope", {"type": "string", "enum": ["account", "thing", "thingsGroup"]}, "Default account"),
    c.query("id", {"type": "string"}, "The Thing (id or ICCID) or Things Group; the account's own sid or none"),
]


def _billing(method: str, path: str, operation: Operation) -> Operation:
    """The rating routes (issue 18) are not collections of resources: their own parameters and answers."""
    if path.endswith("/billingReports"):
        operation["parameters"] = REPORT_PARAMETERS
        report = {"application/json": {"schema": {"type": "object"}}, "text/csv": {"schema": {"type": "string"}}}
        operation["responses"] = {
            "200": {"description": "The report: lines per Thing and their total (JSON, or CSV)", "content": report},
            "302": {"description": "A large report: Location is its stored, expiring download"},
            **_errors("400", "401", "403", "429"),
        }
    elif path.endswith("/pricePlan"):
        operation["parameters"] = []
        operation["responses"] = {
            "200": c.json_response("The price plan (amounts as decimal strings)", {"type": "object"}),
            **_errors("400", "401", "403", "429"),
        }
    return operation


def describe(method: str, path: str) -> tuple[str, Operation] | None:
    if not path.startswith(PREFIX):
        return None
    collection = not path.rstrip("/").endswith("}")
    parameters = _path_parameters(path)
    if method == "GET" and collection:
        parameters += PAGE_PARAMETERS
    if method in ("PATCH", "PUT", "DELETE"):
        parameters.append(IF_MATCH)
    resource = path.removeprefix(PREFIX).strip("/").replace("/", " ")
    operation: Operation = {
        "summary": f"{method} {resource}",
        "operationId": f"things_{method.lower()}_"
        + "_".join(part.strip("{}") for part in path.removeprefix(PREFIX).split("/") if part),
        "tags": [TAG],
        "x-cellplane": True,
        "parameters": parameters,
        "responses": _responses(method, collection),
        "security": [{"bearer": []}, {c.ACCOUNT_AUTH: []}],
    }
    if method in ("POST", "PATCH", "PUT"):
        operation["requestBody"] = JSON_BODY
    if path.endswith(("/billingReports", "/pricePlan")):
        operation = _billing(method, path, operation)
    return path, operation


def surface_docs() -> SurfaceDocs:
    return SurfaceDocs(
        prefix=PREFIX,
        describe=describe,
        title="IoT Programmable SIM (things/v1)",
        tags=[{"name": TAG, "description": "Things on private networks (THINGS.md): JSON, ETag/If-Match"}],
        components={
            "schemas": {ERROR_NAME: ERROR_SCHEMA, RESOURCE_NAME: RESOURCE_SCHEMA},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "OAuth2 token"}},
        },
    )
