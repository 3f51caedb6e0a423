"""The OpenAPI description of /admin/v1, as its routers render (operator credentials: Basic admin:<token>)."""

from __future__ import annotations

from typing import Any

from cellplane.api.admin_v1.inventory import MAX_PROVISION
from cellplane.api.openapi import common as c
from cellplane.api.openapi.document import Operation, SurfaceDocs
from cellplane.services.inventory import PRODUCTS

TAG = "admin v1"
PREFIX = "/admin/v1"
STRING, NULL_STRING = {"type": "string"}, {"type": "string", "nullable": True}
ERRORS = ("400", "401", "404")


def closed(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": list(properties), "additionalProperties": False, "properties": properties}


ACCOUNT = closed(
    {
        "account_sid": STRING,
        "auth_token": STRING,
        "friendly_name": NULL_STRING,
        "parent_sid": NULL_STRING,
        "status": STRING,
        "date_created": {"type": "string", "format": "date-time", "nullable": True},
    }
)
KEY = closed({"sid": STRING, "secret": STRING, "account_sid": STRING})
PROVISIONED = closed(
    {
        "sims": {
            "type": "array",
            "items": closed(
                {
                    "sid": STRING,
                    "iccid": STRING,
                    "imsi": STRING,
                    "registration_code": STRING,
                    "product": {"type": "string", "enum": list(PRODUCTS)},
                }
            ),
        }
    }
)
INVENTORY_SIM = closed({"sid": STRING, "iccid": STRING, "imsi": STRING, "product": STRING, "account_sid": NULL_STRING})
ALLOWED = closed(
    {
        "iccid": STRING,
        "sim_sid": STRING,
        "fleet_sid": NULL_STRING,
        "network_access_profile_sid": NULL_STRING,
        "networks": {
            "type": "array",
            "items": closed({"sid": STRING, "mcc": STRING, "mnc": STRING, "friendly_name": STRING}),
        },
    }
)
# DELETE /admin/v1/Emulator/Devices/{iccid}: served only with the in-process emulator (runtime/emulated.py).
HANDOVER = closed({"iccid": STRING, "powered_off": {"type": "boolean"}})
SCHEMAS = {
    "admin.v1.handover": HANDOVER,
    "admin.v1.account": ACCOUNT,
    "admin.v1.api_key": KEY,
    "admin.v1.provisioned_sims": PROVISIONED,
    "admin.v1.inventory_sim": INVENTORY_SIM,
    "admin.v1.allowed_networks": ALLOWED,
}


def _admin(summary: str, operation_id: str, responses: dict[str, Any], **rest: Any) -> Operation:
    return c.operation(
        summary,
        operation_id=operation_id,
        tag=TAG,
        responses=responses,
        security=c.OPERATOR_AUTH,
        errors=ERRORS,
        **rest,
    )


def _operations() -> dict[tuple[str, str], Operation]:
    iccid = c.path("iccid", "The SIM's ICCID")
    return {
        ("POST", "/Accounts"): _admin(
            "Create an account (a subaccount with ParentSid)",
            "AdminCreateAccount",
            {"201": c.json_response("The account with its auth token", c.ref("admin.v1.account"))},
            body=c.form_body(
                {
                    "FriendlyName": {"type": "string", "maxLength": 64},
                    "ParentSid": {"type": "string", "maxLength": 34, "description": "Make it a subaccount of this"},
                }
            ),
        ),
        ("POST", "/Accounts/{sid}/Keys"): _admin(
            "Create an API key for an account",
            "AdminCreateApiKey",
            {"201": c.json_response("The key; its secret is shown only here", c.ref("admin.v1.api_key"))},
            parameters=[c.path("sid", "The account's sid")],
            body=c.form_body({"FriendlyName": {"type": "string", "maxLength": 64}}),
        ),
        ("POST", "/Sims"): _admin(
            "Provision SIMs into the inventory",
            "AdminProvisionSims",
            {"201": c.json_response("The SIMs made", c.ref("admin.v1.provisioned_sims"))},
            body=c.form_body(
                {
                    "Count": {"type": "integer", "minimum": 1, "maximum": MAX_PROVISION},
                    "Product": {"type": "string", "enum": list(PRODUCTS), "default": "supersim"},
                    "AccountSid": {"type": "string", "maxLength": 34, "description": "Hand them to this account"},
                    "Seed": {"type": "integer", "description": "Reproducible ICCIDs, IMSIs and codes"},
                },
                required=("Count",),
            ),
        ),
        ("GET", "/Sims/{iccid}"): _admin(
            "Look an inventory SIM up by ICCID",
            "AdminFetchInventorySim",
            {"200": c.json_response("The SIM", c.ref("admin.v1.inventory_sim"))},
            parameters=[iccid],
        ),
        ("GET", "/Sims/{iccid}/Networks"): _admin(
            "The visited networks a SIM may use (its fleet's network access profile)",
            "AdminListAllowedNetworks",
            {"200": c.json_response("The networks, in the profile's order", c.ref("admin.v1.allowed_networks"))},
            parameters=[iccid],
        ),
        ("DELETE", "/Emulator/Devices/{iccid}"): _admin(
            "Hand a SIM over to a device bridge: power the in-process emulator's device off (with --emulator only)",
            "AdminHandOverEmulatedDevice",
            {"200": c.json_response("Whether a device of the in-process emulator was on", c.ref("admin.v1.handover"))},
            parameters=[iccid],
        ),
    }


def surface_docs() -> SurfaceDocs:
    operations = _operations()

    def describe(method: str, path: str) -> tuple[str, Operation] | None:
        found = operations.get((method, path.removeprefix(PREFIX)))
        return (path, found) if found is not None else None

    return SurfaceDocs(
        prefix=PREFIX + "/",
        describe=describe,
        title=TAG,
        tags=[{"name": TAG, "description": "The operator's surface: accounts, API keys, SIM inventory"}],
        components={"schemas": SCHEMAS},
    )
