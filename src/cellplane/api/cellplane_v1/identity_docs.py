"""The OpenAPI description of the identity resources of /cellplane/v1 (ApiClients, Users, AuditEvents) and of the
two OAuth2 token endpoints, as their routers render them (kept exact, like docs.py: the schemathesis test of
/openapi.json fails when a render() changes)."""

from __future__ import annotations

from typing import Any

from cellplane.api.openapi import common as c
from cellplane.api.openapi.document import Operation, SurfaceDocs
from cellplane.domain.permissions import ROLES

TAG = "cellplane v1"
TOKENS_TAG = "OAuth2 tokens"
STRING, INTEGER = {"type": "string"}, {"type": "integer"}
NULL_STRING = {"type": "string", "nullable": True}
TIME = {"type": "string", "format": "date-time"}
NULL_TIME = {**TIME, "nullable": True}
URI = {"type": "string", "format": "uri"}
ROLE = {"type": "string", "enum": list(ROLES)}
LIFETIME = {"type": "string", "enum": ["1h", "24h", "30d", "24mo"]}
SID = c.path("sid", "The resource's sid")


def closed(properties: dict[str, Any], description: str, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
        "properties": properties,
    }


API_CLIENT_FIELDS: dict[str, Any] = {
    "sid": STRING,
    "client_id": STRING,
    "account_sid": STRING,
    "friendly_name": NULL_STRING,
    "role": ROLE,
    "token_lifetime": LIFETIME,
    "token_lifetime_seconds": INTEGER,
    "created_by": NULL_STRING,
    "date_created": NULL_TIME,
    "date_last_used": NULL_TIME,
    "url": URI,
}
SCHEMAS = {
    "cellplane.v1.api_client": closed(API_CLIENT_FIELDS, "An API client: trades its credentials for Bearer tokens"),
    "cellplane.v1.api_client_created": closed(
        {**API_CLIENT_FIELDS, "client_secret": STRING},
        "A new API client, with its secret: shown this once, stored only as a hash",
    ),
    "cellplane.v1.user": closed(
        {
            "sid": STRING,
            "account_sid": STRING,
            "email": STRING,
            "friendly_name": NULL_STRING,
            "role": ROLE,
            "created_by": NULL_STRING,
            "date_created": NULL_TIME,
            "date_updated": NULL_TIME,
            "date_last_sign_in": NULL_TIME,
            "url": URI,
        },
        "A person who signs in to the console; the password is never shown",
    ),
    "cellplane.v1.audit_event": closed(
        {
            "sid": STRING,
            "account_sid": STRING,
            "actor_kind": STRING,
            "actor_sid": NULL_STRING,
            "role": NULL_STRING,
            "action": STRING,
            "resource": NULL_STRING,
            "resource_sid": NULL_STRING,
            "status": {"type": "integer", "nullable": True, "description": "The HTTP status the change was answered"},
            "source": NULL_STRING,
            "timestamp": NULL_TIME,
            "url": URI,
        },
        "One change made through a surface, the CLI or the console",
    ),
    "oauth.hosted_token": closed(
        {
            "access_token": STRING,
            "token_type": {"type": "string", "enum": ["Bearer"]},
            "expires_in": INTEGER,
            "scope": STRING,
        },
        "A Bearer token in the hosted Super SIM platform's shape",
    ),
    "oauth.things_token": closed(
        {
            "access_token": STRING,
            "token_type": {"type": "string", "enum": ["Bearer"]},
            "expires_in": STRING,
            "issued_at": STRING,
            "client_id": STRING,
            "scope": STRING,
            "status": {"type": "string", "enum": ["approved"]},
        },
        "A Bearer token in the private-network platform's shape",
    ),
    "oauth.error": closed(
        {"error": STRING, "error_description": STRING},
        "RFC 6749 §5.2: invalid_client (401), invalid_request, unsupported_grant_type, invalid_scope (400)",
        optional=("error_description",),
    ),
}


def _ref(name: str) -> dict[str, str]:
    return c.ref(name)


def _operations() -> dict[tuple[str, str], Operation]:
    mutating = ("400", "401", "403", "404")
    return {
        ("POST", "/cellplane/v1/ApiClients"): c.operation(
            "Create an API client (its secret is in this answer only)",
            operation_id="CellplaneCreateApiClient",
            tag=TAG,
            body=c.form_body(
                {"Role": ROLE, "TokenLifetime": LIFETIME, "FriendlyName": STRING}, required=("Role", "TokenLifetime")
            ),
            responses={"201": c.json_response("Created", _ref("cellplane.v1.api_client_created"))},
            errors=mutating,
        ),
        ("GET", "/cellplane/v1/ApiClients"): c.operation(
            "List the account's API clients",
            operation_id="CellplaneListApiClient",
            tag=TAG,
            parameters=list(c.PAGING_PARAMETERS),
            responses={"200": c.json_response("A page", c.list_schema("api_clients", _ref("cellplane.v1.api_client")))},
            errors=("400", "401", "403"),
        ),
        ("GET", "/cellplane/v1/ApiClients/{sid}"): c.operation(
            "Fetch an API client",
            operation_id="CellplaneFetchApiClient",
            tag=TAG,
            parameters=[SID],
            responses={"200": c.json_response("The client", _ref("cellplane.v1.api_client"))},
            errors=mutating,
        ),
        ("DELETE", "/cellplane/v1/ApiClients/{sid}"): c.operation(
            "Delete an API client: every token it issued is revoked at once",
            operation_id="CellplaneDeleteApiClient",
            tag=TAG,
            parameters=[SID],
            responses={"204": {"description": "Deleted"}},
            errors=mutating,
        ),
        ("POST", "/cellplane/v1/Users"): c.operation(
            "Create a user",
            operation_id="CellplaneCreateUser",
            tag=TAG,
            body=c.form_body(
                {"Email": STRING, "Role": ROLE, "Password": STRING, "FriendlyName": STRING},
                required=("Email", "Role", "Password"),
            ),
            responses={"201": c.json_response("Created", _ref("cellplane.v1.user"))},
            errors=("400", "401", "403", "404", "409"),
        ),
        ("GET", "/cellplane/v1/Users"): c.operation(
            "List the account's users",
            operation_id="CellplaneListUser",
            tag=TAG,
            parameters=list(c.PAGING_PARAMETERS),
            responses={"200": c.json_response("A page", c.list_schema("users", _ref("cellplane.v1.user")))},
            errors=("400", "401", "403"),
        ),
        ("GET", "/cellplane/v1/Users/{sid}"): c.operation(
            "Fetch a user",
            operation_id="CellplaneFetchUser",
            tag=TAG,
            parameters=[SID],
            responses={"200": c.json_response("The user", _ref("cellplane.v1.user"))},
            errors=mutating,
        ),
        ("POST", "/cellplane/v1/Users/{sid}"): c.operation(
            "Update a user (name, role, password)",
            operation_id="CellplaneUpdateUser",
            tag=TAG,
            parameters=[SID],
            body=c.form_body({"FriendlyName": STRING, "Role": ROLE, "Password": STRING}),
            responses={"200": c.json_response("Updated", _ref("cellplane.v1.user"))},
            errors=mutating,
        ),
        ("DELETE", "/cellplane/v1/Users/{sid}"): c.operation(
            "Delete a user: its console sessions end",
            operation_id="CellplaneDeleteUser",
            tag=TAG,
            parameters=[SID],
            responses={"204": {"description": "Deleted"}},
            errors=mutating,
        ),
        ("GET", "/cellplane/v1/AuditEvents"): c.operation(
            "List the account's audit events, newest first",
            operation_id="CellplaneListAuditEvent",
            tag=TAG,
            parameters=[
                c.query("Actor", STRING, "Only this actor's (a user, API client, key or account sid)"),
                c.query("Resource", STRING, "Only changes of this resource (Sims, Fleets...)"),
                c.query("StartTime", TIME, "At or after this time (ISO 8601)"),
                c.query("EndTime", TIME, "Before this time (ISO 8601)"),
                *c.PAGING_PARAMETERS,
            ],
            responses={
                "200": c.json_response("A page", c.list_schema("audit_events", _ref("cellplane.v1.audit_event")))
            },
            errors=("400", "401", "403"),
        ),
        ("GET", "/cellplane/v1/AuditEvents/{sid}"): c.operation(
            "Fetch an audit event",
            operation_id="CellplaneFetchAuditEvent",
            tag=TAG,
            parameters=[SID],
            responses={"200": c.json_response("The event", _ref("cellplane.v1.audit_event"))},
            errors=mutating,
        ),
        ("POST", "/api-services/v1/auth/token"): _token_operation("oauth.hosted_token", "OAuthHostedToken"),
        ("POST", "/oauth/client_credential/accesstoken"): _token_operation("oauth.things_token", "OAuthThingsToken"),
    }


def _token_operation(schema: str, operation_id: str) -> Operation:
    error = c.json_response("RFC 6749 §5.2 error", _ref("oauth.error"))
    operation = c.operation(
        "OAuth2 client credentials → a Bearer token",
        operation_id=operation_id,
        tag=TOKENS_TAG,
        parameters=[c.query("grant_type", {"type": "string", "enum": ["client_credentials"]}, "The grant")],
        body=c.form_body({"grant_type": STRING, "client_id": STRING, "client_secret": STRING, "scope": STRING}),
        responses={
            "200": c.json_response("The token", _ref(schema)),
            "400": error,
            "401": error,
            "429": c.json_response("Too many token requests (Retry-After)", _ref("oauth.error")),
        },
        security=None,
        errors=(),
    )
    return operation


def operations() -> dict[tuple[str, str], Operation]:
    """By (method, full path): /cellplane/v1's identity resources and the two token endpoints."""
    return _operations()


def token_surfaces() -> list[SurfaceDocs]:
    """The token endpoints, each under its platform flavour's own prefix."""
    found = {path: op for (method, path), op in _operations().items() if not path.startswith("/cellplane/")}

    def describe(method: str, path: str) -> tuple[str, Operation] | None:
        operation = found.get(path) if method == "POST" else None
        return (path, operation) if operation is not None else None

    tags = [
        {"name": TOKENS_TAG, "description": "OAuth2 client credentials (RFC 6749): a Bearer token for every surface"}
    ]
    return [
        SurfaceDocs(prefix=prefix, describe=describe, title=TOKENS_TAG, tags=tags if first else [], components={})
        for first, prefix in ((True, "/api-services/"), (False, "/oauth/"))
    ]
