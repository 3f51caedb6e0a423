"""Pieces every surface's documentation shares: the error body, paging, security schemes, small builders.

The error body is the one api/wire/errors.py renders on every surface that follows the hosted platform's wire
conventions (DESIGN.md): `code`, `message`, `more_info`, `status`.
"""

from __future__ import annotations

from typing import Any

ERROR_RESPONSE_NAME = "cellplane.error"
ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_RESPONSE_NAME}"}
PAGE_META_NAME = "cellplane.page_meta"
ACCOUNT_AUTH = "accountSid_authToken"  # the official specs' name for HTTP Basic AccountSid:AuthToken
OPERATOR_AUTH = "operator_token"

ERROR_MEANINGS = {
    "400": "A parameter is missing or invalid; the message names it",
    "401": "No credentials, or wrong ones (code 20003)",
    "403": "The credential may not do this (its role, or a platform rule)",
    "404": "No such resource for this account (code 20404)",
    "405": "The path exists, the method does not",
    "409": "Conflicts with the current state (a name taken, a transition not allowed)",
    "429": "Too many requests for this credential (code 20429, with Retry-After); not processed",
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The platform's error body, on every 4xx and 5xx",
    "required": ["code", "message", "more_info", "status"],
    "additionalProperties": False,
    "properties": {
        "code": {"type": "integer", "description": "The platform's error code (20404, 83400...)"},
        "message": {"type": "string", "minLength": 1, "description": "What went wrong, naming the parameter"},
        "more_info": {"type": "string", "format": "uri"},
        "status": {"type": "integer", "description": "The HTTP status, repeated"},
    },
}

PAGE_META: dict[str, Any] = {
    "type": "object",
    "required": ["page", "page_size", "first_page_url", "previous_page_url", "next_page_url", "url", "key"],
    "properties": {
        "page": {"type": "integer"},
        "page_size": {"type": "integer"},
        "first_page_url": {"type": "string", "format": "uri"},
        "previous_page_url": {"type": "string", "format": "uri", "nullable": True},
        "next_page_url": {"type": "string", "format": "uri", "nullable": True},
        "url": {"type": "string", "format": "uri"},
        "key": {"type": "string"},
    },
}

PAGING_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "PageSize",
        "in": "query",
        "description": "How many resources to return in each list page. The default is 50, and the maximum is 1000.",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
    },
    {"name": "Page", "in": "query", "description": "The page index (client state).", "schema": {"type": "integer"}},
    {"name": "PageToken", "in": "query", "description": "From a page's URLs.", "schema": {"type": "string"}},
]


def components() -> dict[str, dict[str, Any]]:
    return {
        "schemas": {ERROR_RESPONSE_NAME: ERROR_SCHEMA, PAGE_META_NAME: PAGE_META},
        "securitySchemes": {
            ACCOUNT_AUTH: {
                "type": "http",
                "scheme": "basic",
                "description": "AccountSid:AuthToken, or an API key SKxxx:secret",
            },
            OPERATOR_AUTH: {
                "type": "http",
                "scheme": "basic",
                "description": "admin:<admin token> (CELLPLANE_ADMIN_TOKEN, or the one `cellplane up` prints)",
            },
        },
    }


def error_responses(statuses: tuple[str, ...]) -> dict[str, Any]:
    return {
        status: {
            "description": ERROR_MEANINGS.get(status, "Platform error"),
            "content": {"application/json": {"schema": ERROR_REF}},
        }
        for status in statuses
    }


def json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def list_schema(key: str, item: dict[str, Any]) -> dict[str, Any]:
    """A list page: the resource key holding the items, and `meta`."""
    return {
        "type": "object",
        "required": [key, "meta"],
        "properties": {key: {"type": "array", "items": item}, "meta": ref(PAGE_META_NAME)},
    }


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema}


def path(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"}}


def form_body(properties: dict[str, dict[str, Any]], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return {"required": bool(required), "content": {"application/x-www-form-urlencoded": {"schema": schema}}}


def operation(
    summary: str,
    *,
    operation_id: str,
    tag: str,
    responses: dict[str, Any],
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    security: str | None = ACCOUNT_AUTH,
    errors: tuple[str, ...] = ("400", "401", "404"),
    description: str | None = None,
) -> dict[str, Any]:
    """One operation of cellplane's own surfaces, marked as cellplane's."""
    built: dict[str, Any] = {
        "summary": summary,
        "operationId": operation_id,
        "tags": [tag],
        "x-cellplane": True,
        "responses": {**responses, **error_responses(errors)},
    }
    if description:
        built["description"] = description
    if parameters:
        built["parameters"] = parameters
    if body is not None:
        built["requestBody"] = body
    built["security"] = [{security: []}] if security else []
    return built
