"""The OpenAPI description of /cellplane/v1: the resources as the routers render them (kept exact: every field is
required and no other is allowed, so the schemathesis test of /openapi.json fails when a render() changes)."""

from __future__ import annotations

from typing import Any

from cellplane.api.cellplane_v1 import identity_docs
from cellplane.api.openapi import common as c
from cellplane.api.openapi.document import Operation, SurfaceDocs
from cellplane.services.connection_events import EVENT_TYPES
from cellplane.services.webhook_deliveries import STATUSES

TAG = "cellplane v1"
PREFIX = "/cellplane/v1"
STRING, INTEGER = {"type": "string"}, {"type": "integer"}
NULL_STRING, NULL_INTEGER = {"type": "string", "nullable": True}, {"type": "integer", "nullable": True}
TIME = {"type": "string", "format": "date-time"}
NULL_TIME = {**TIME, "nullable": True}
URI = {"type": "string", "format": "uri"}


def closed(properties: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "required": list(properties),
        "additionalProperties": False,
        "properties": properties,
    }


CONNECTION_EVENT = closed(
    {
        "sid": STRING,
        "account_sid": STRING,
        "sim_sid": NULL_STRING,
        "iccid": NULL_STRING,
        "imsi": NULL_STRING,
        "fleet_sid": NULL_STRING,
        "event_type": {"type": "string", "enum": list(EVENT_TYPES)},
        "network_sid": NULL_STRING,
        "mcc": NULL_STRING,
        "mnc": NULL_STRING,
        "radio_link": NULL_STRING,
        "imei": NULL_STRING,
        "ip_address": NULL_STRING,
        "data_session_sid": NULL_STRING,
        "reason": NULL_STRING,
        "error_code": NULL_INTEGER,
        "bytes_up": NULL_INTEGER,
        "bytes_down": NULL_INTEGER,
        "timestamp": NULL_TIME,
        "url": URI,
    },
    "An attach, detach or data-session event of one of the account's SIMs",
)
DELIVERY_FIELDS: dict[str, Any] = {
    "sid": STRING,
    "account_sid": STRING,
    "event": STRING,
    "resource_sid": NULL_STRING,
    "callback_url": STRING,
    "callback_method": {"type": "string", "enum": ["HEAD", "GET", "POST", "PATCH", "PUT", "DELETE"]},
    "parameters": {"type": "object", "additionalProperties": {"type": "string"}},
    "status": {"type": "string", "enum": list(STATUSES)},
    "attempts": INTEGER,
    "last_status_code": NULL_INTEGER,
    "last_error": NULL_STRING,
    "date_created": NULL_TIME,
    "date_updated": NULL_TIME,
    "url": URI,
}
WEBHOOK_DELIVERY = closed(DELIVERY_FIELDS, "One callback the platform made (or is making) for the account")
ATTEMPT = closed(
    {
        "attempt": INTEGER,
        "status_code": NULL_INTEGER,
        "error": NULL_STRING,
        "duration_ms": INTEGER,
        "date_created": TIME,
    },
    "One attempt at a webhook delivery",
)
WEBHOOK_DELIVERY_WITH_ATTEMPTS = closed(
    {**DELIVERY_FIELDS, "attempt_history": {"type": "array", "items": c.ref("cellplane.v1.webhook_attempt")}},
    "A webhook delivery with every attempt, oldest first",
)

SCHEMAS = {
    "cellplane.v1.connection_event": CONNECTION_EVENT,
    "cellplane.v1.webhook_delivery": WEBHOOK_DELIVERY,
    "cellplane.v1.webhook_attempt": ATTEMPT,
    "cellplane.v1.webhook_delivery_with_attempts": WEBHOOK_DELIVERY_WITH_ATTEMPTS,
}

SID = c.path("sid", "The resource's sid")


def _operations() -> dict[tuple[str, str], Operation]:
    return {
        ("GET", "/ConnectionEvents"): c.operation(
            "List the account's connection events, newest first",
            operation_id="CellplaneListConnectionEvent",
            tag=TAG,
            parameters=[
                c.query("Sim", STRING, "Only this SIM's (sid or unique name)"),
                c.query("Fleet", STRING, "Only SIMs of this fleet (sid or unique name)"),
                c.query("EventType", {"type": "string", "enum": list(EVENT_TYPES)}, "Only events of this type"),
                c.query("StartTime", TIME, "Only events at or after this time (ISO 8601)"),
                c.query("EndTime", TIME, "Only events before this time (ISO 8601)"),
                *c.PAGING_PARAMETERS,
            ],
            responses={
                "200": c.json_response(
                    "A page of events", c.list_schema("connection_events", c.ref("cellplane.v1.connection_event"))
                )
            },
        ),
        ("GET", "/ConnectionEvents/{sid}"): c.operation(
            "Fetch one connection event",
            operation_id="CellplaneFetchConnectionEvent",
            tag=TAG,
            parameters=[SID],
            responses={"200": c.json_response("The event", c.ref("cellplane.v1.connection_event"))},
        ),
        ("GET", "/WebhookDeliveries"): c.operation(
            "List the callbacks the platform made for the account, newest first",
            operation_id="CellplaneListWebhookDelivery",
            tag=TAG,
            parameters=[
                c.query("Status", {"type": "string", "enum": list(STATUSES)}, "Only deliveries in this state"),
                c.query("Event", STRING, "Only this event (ip_command.status, sim.updated...)"),
                c.query("ResourceSid", STRING, "Only callbacks about this resource (a command's sid...)"),
                *c.PAGING_PARAMETERS,
            ],
            responses={
                "200": c.json_response(
                    "A page of deliveries", c.list_schema("webhook_deliveries", c.ref("cellplane.v1.webhook_delivery"))
                )
            },
        ),
        ("GET", "/WebhookDeliveries/{sid}"): c.operation(
            "Fetch one webhook delivery with its attempts",
            operation_id="CellplaneFetchWebhookDelivery",
            tag=TAG,
            parameters=[SID],
            responses={"200": c.json_response("The delivery", c.ref("cellplane.v1.webhook_delivery_with_attempts"))},
        ),
    }


def surface_docs() -> SurfaceDocs:
    operations = _operations()
    identity = identity_docs.operations()

    def describe(method: str, path: str) -> tuple[str, Operation] | None:
        found = operations.get((method, path.removeprefix(PREFIX))) or identity.get((method, path))
        return (path, found) if found is not None else None

    return SurfaceDocs(
        prefix=PREFIX + "/",
        describe=describe,
        title=TAG,
        tags=[{"name": TAG, "description": "cellplane's extensions: connection events, webhook deliveries"}],
        components={"schemas": {**SCHEMAS, **identity_docs.SCHEMAS}},
    )
